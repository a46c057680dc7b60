"""Tools, structured output and images through the official openai SDK's Responses API, gateway
in front of the emulator: function calls round trip (resending everything as Codex does, or by
``previous_response_id``) in the same Qwen chat, a free-form ``apply_patch`` tool, ``local_shell``,
``text.format`` and ``input_image``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from gateway_support import MODEL
from qwen_proxy.emulator.testing import EmulatorHandle
from uploads_support import PNG, data_url, sdk, short_digest, uploading_gateway

pytestmark = pytest.mark.integration

READ: Any = {
    "type": "function",
    "name": "read_file",
    "description": "Read a file of the workspace.",
    "parameters": {
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
        "additionalProperties": False,
    },
    "strict": True,
}
PATCH_GRAMMAR = 'start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF\n'
APPLY_PATCH: Any = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Use the `apply_patch` tool to edit files.",
    "format": {"type": "grammar", "syntax": "lark", "definition": PATCH_GRAMMAR},
}
LOCAL_SHELL: Any = {"type": "local_shell"}
ASK_READ = 'Look at the notes. call read_file {"path": "notes.txt"}'
PATCH = '*** Begin Patch\n*** Add File: hello.py\n+print("héllo")\n*** End Patch'


def completions(emulator: EmulatorHandle) -> list[dict[str, Any]]:
    return [r.json for r in emulator.requests("/chat/completions") if r.method == "POST"]


def sent_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


def respond(client: openai.OpenAI, *, stream: bool, **kwargs: Any) -> Any:
    """One response, whole or read from the stream helper (its final response)."""
    kwargs.setdefault("model", MODEL)
    if not stream:
        return client.responses.create(**kwargs)
    with client.responses.stream(**kwargs) as running:
        kinds = [event.type for event in running]
        final = running.get_final_response()
    assert kinds[0] == "response.created"
    assert kinds[-1] == "response.completed"
    return final


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def echo(items: list[Any]) -> list[dict[str, Any]]:
    """Output items as an agent sends them back in its next input."""
    return [item.model_dump(exclude_none=True) for item in items]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_function_call_round_trip_resending_everything_continues_the_chat(
    emulator: EmulatorHandle, client: openai.OpenAI, stream: bool
) -> None:
    first = respond(client, stream=stream, input=[user(ASK_READ)], tools=[READ], store=False)
    (call,) = first.output
    assert call.type == "function_call"
    assert call.call_id.startswith("call_")
    assert (call.name, json.loads(call.arguments)) == ("read_file", {"path": "notes.txt"})

    history = [
        user(ASK_READ),
        *echo(first.output),
        {"type": "function_call_output", "call_id": call.call_id, "output": "buy milk"},
    ]
    second = respond(client, stream=stream, input=history, tools=[READ], store=False)
    assert second.output_text == f"Result of read_file ({call.call_id}): buy milk"

    opened, continued = completions(emulator)
    assert continued["chat_id"] == opened["chat_id"]
    assert sent_text(continued).startswith(f'<qp:result id="{call.call_id}" name="read_file">')


def test_a_function_call_round_trip_by_previous_response_id(
    emulator: EmulatorHandle, client: openai.OpenAI
) -> None:
    first = client.responses.create(model=MODEL, input=ASK_READ, tools=[READ])
    (call,) = first.output
    second = client.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "buy milk"}],
        tools=[READ],
    )
    assert second.output_text == f"Result of read_file ({call.call_id}): buy milk"
    opened, continued = completions(emulator)
    assert continued["chat_id"] == opened["chat_id"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_apply_patch_comes_back_as_a_custom_tool_call_with_the_raw_patch(
    emulator: EmulatorHandle, client: openai.OpenAI, stream: bool
) -> None:
    ask = f"Add hello.py. call apply_patch {json.dumps({'input': PATCH})}"
    tools = [READ, APPLY_PATCH]
    first = respond(client, stream=stream, input=[user(ask)], tools=tools, store=False)
    (call,) = first.output
    assert (call.type, call.name, call.input) == ("custom_tool_call", "apply_patch", PATCH)
    # the model was told how to pass the patch, and the tool's grammar
    assert PATCH_GRAMMAR.strip() in sent_text(completions(emulator)[0])

    history = [
        user(ask),
        *echo(first.output),
        {"type": "custom_tool_call_output", "call_id": call.call_id, "output": "Done!"},
    ]
    second = respond(client, stream=stream, input=history, tools=tools, store=False)
    assert second.output_text == f"Result of apply_patch ({call.call_id}): Done!"
    opened, continued = completions(emulator)
    assert continued["chat_id"] == opened["chat_id"]


def test_custom_tool_input_streams_with_its_own_events(client: openai.OpenAI) -> None:
    ask = f"call apply_patch {json.dumps({'input': PATCH})}"
    events = list(
        client.responses.create(
            model=MODEL, input=ask, tools=[APPLY_PATCH], stream=True, store=False
        )
    )
    deltas = [e.delta for e in events if e.type == "response.custom_tool_call_input.delta"]
    (done,) = [e for e in events if e.type == "response.custom_tool_call_input.done"]
    assert "".join(deltas) == done.input == PATCH
    numbers = [e.sequence_number for e in events]
    assert numbers == list(range(len(events)))


def test_local_shell_comes_back_as_an_exec_action_and_its_output_continues_the_chat(
    emulator: EmulatorHandle, client: openai.OpenAI
) -> None:
    command = {"command": ["bash", "-lc", "cat notes.txt"], "workdir": "/repo"}
    ask = f"What do the notes say? call local_shell {json.dumps(command)}"
    first = client.responses.create(
        model=MODEL, input=[user(ask)], tools=[LOCAL_SHELL], store=False
    )
    (call,) = first.output
    assert call.type == "local_shell_call"
    assert call.action.type == "exec"
    assert call.action.command == ["bash", "-lc", "cat notes.txt"]
    assert call.action.working_directory == "/repo"

    history = [
        user(ask),
        *echo(first.output),
        # Codex answers a local_shell_call with a function_call_output
        {"type": "function_call_output", "call_id": call.call_id, "output": "buy milk"},
    ]
    second = client.responses.create(model=MODEL, input=history, tools=[LOCAL_SHELL], store=False)
    assert second.output_text == f"Result of local_shell ({call.call_id}): buy milk"
    opened, continued = completions(emulator)
    assert continued["chat_id"] == opened["chat_id"]


def test_tool_choice_required_makes_the_model_call(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model=MODEL, input="Hello there.", tools=[READ], tool_choice="required"
    )
    assert [item.type for item in response.output] == ["function_call"]


class Person(BaseModel):
    name: str
    age: int


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_structured_output_parses_into_the_model(client: openai.OpenAI, stream: bool) -> None:
    if stream:
        with client.responses.stream(
            model=MODEL, input="Who is Ada?", text_format=Person
        ) as running:
            parsed = running.get_final_response().output_parsed
    else:
        parsed = client.responses.parse(
            model=MODEL, input="Who is Ada?", text_format=Person
        ).output_parsed
    assert parsed == Person(name="example", age=1)


def test_a_json_object_format_gets_clean_json(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model=MODEL,
        input="[[json:fenced]] Give me JSON.",
        text={"format": {"type": "json_object"}},
    )
    assert json.loads(response.output_text) == {"answer": "example"}


def test_an_input_image_is_uploaded_and_seen_by_the_model(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    content = [
        {"type": "input_text", "text": "what did i attach?"},
        {"type": "input_image", "image_url": data_url(PNG), "detail": "auto"},
    ]
    with uploading_gateway(emulator_now, tmp_path) as gateway:
        response = sdk(gateway).responses.create(
            model=MODEL, input=[{"role": "user", "content": content}]
        )
    digest = short_digest(PNG)
    assert response.output_text == (
        f"Attachments: image-{digest}.png (vision, image/png, {len(PNG)} bytes, sha256 {digest})."
    )
