"""Tool calling and attachments through the official anthropic SDK, gateway in front of the
emulator: ``tool_use`` blocks streamed and not, the agent's second turn continuing the same Qwen
chat, ``tool_choice``, failed results, images and documents uploaded."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import anthropic
import pytest

from qwen_proxy.emulator.testing import EmulatorHandle
from qwen_proxy.server.run import BackgroundGateway
from uploads_support import PNG, short_digest, uploading_gateway

pytestmark = pytest.mark.integration

SONNET = "claude-sonnet-4-6"
READ: Any = {
    "name": "Read",
    "description": "Reads a file from the local filesystem.",
    "input_schema": {
        "type": "object",
        "properties": {
            "file_path": {"type": "string", "description": "The absolute path to the file"},
            "limit": {"type": "integer"},
        },
        "required": ["file_path"],
    },
}
BASH: Any = {
    "name": "Bash",
    "description": "Executes a bash command.",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    },
}
TOOLS = [READ, BASH]
ASK = 'Look at the notes. call Read {"file_path": "/tmp/notes.txt"}'


@pytest.fixture
def claude(gateway: BackgroundGateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key="test", max_retries=0)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def completions(emulator: EmulatorHandle) -> list[dict[str, Any]]:
    return [r.json for r in emulator.requests("/chat/completions") if r.method == "POST"]


def sent_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


def ask(claude: anthropic.Anthropic, messages: list[Any], *, stream: bool, **extra: Any) -> Any:
    """One request as Claude Code makes it: streamed through the helper, or whole."""
    extra.setdefault("tools", TOOLS)
    kwargs: dict[str, Any] = {"model": SONNET, "max_tokens": 4096, "messages": messages, **extra}
    if not stream:
        return claude.messages.create(**kwargs)
    with claude.messages.stream(**kwargs) as running:
        kinds = [event.type for event in running]
        final = running.get_final_message()
    if any(block.type == "tool_use" for block in final.content):
        assert "input_json" in kinds  # the helper's event for input_json_delta
    return final


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_tool_round_trip_continues_the_same_qwen_chat(
    emulator: EmulatorHandle, claude: anthropic.Anthropic, stream: bool
) -> None:
    first = ask(claude, [user(ASK)], stream=stream)
    assert first.stop_reason == "tool_use"
    (call,) = [block for block in first.content if block.type == "tool_use"]
    assert call.id.startswith("toolu_")
    assert (call.name, call.input) == ("Read", {"file_path": "/tmp/notes.txt"})
    assert not any(b.type == "text" and "qp:call" in b.text for b in first.content)

    history = [
        user(ASK),
        {"role": "assistant", "content": first.content},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": call.id, "content": "buy milk\nand eggs"}
            ],
        },
    ]
    second = ask(claude, history, stream=stream)
    assert second.stop_reason == "end_turn"
    assert second.content[-1].text == f"Result of Read ({call.id}): buy milk"

    opened, continued = completions(emulator)
    assert continued["chat_id"] == opened["chat_id"]
    assert continued["parent_id"] is not None
    # only the result went up, not the history again
    assert sent_text(continued).startswith(f'<qp:result id="{call.id}" name="Read">')
    assert "# Tools" not in sent_text(continued)


def test_two_calls_in_one_reply_are_two_tool_use_blocks(claude: anthropic.Anthropic) -> None:
    reply = ask(claude, [user(f"[[tools:multi]] {ASK}")], stream=True)
    calls = [block for block in reply.content if block.type == "tool_use"]
    assert [c.name for c in calls] == ["Read", "Bash"]
    assert calls[1].input == {"command": "example 2"}
    assert len({c.id for c in calls}) == 2


@pytest.mark.parametrize(
    ("choice", "name"),
    [({"type": "any"}, "Read"), ({"type": "tool", "name": "Bash"}, "Bash")],
)
def test_tool_choice_any_and_tool_make_the_model_call(
    claude: anthropic.Anthropic, choice: dict[str, Any], name: str
) -> None:
    reply = ask(claude, [user("Hello there.")], stream=False, tool_choice=choice)
    assert reply.stop_reason == "tool_use"
    assert [b.name for b in reply.content if b.type == "tool_use"] == [name]


def test_tool_choice_none_gets_text(claude: anthropic.Anthropic) -> None:
    reply = ask(claude, [user(ASK)], stream=True, tool_choice={"type": "none"})
    assert reply.stop_reason == "end_turn"
    assert [block.type for block in reply.content] == ["text"]


def test_a_failed_tool_result_reaches_the_model_as_an_error(
    emulator: EmulatorHandle, claude: anthropic.Anthropic
) -> None:
    first = ask(claude, [user(ASK)], stream=False)
    (call,) = [block for block in first.content if block.type == "tool_use"]
    result = {
        "type": "tool_result",
        "tool_use_id": call.id,
        "is_error": True,
        "content": [{"type": "text", "text": "File does not exist."}],
    }
    history = [
        user(ASK),
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [result]},
    ]
    second = ask(claude, history, stream=False)
    assert second.content[0].text == f"Result of Read ({call.id}): Error: File does not exist."


def test_a_base64_image_is_uploaded_and_seen_by_the_model(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    image = {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": "image/png",
            "data": base64.b64encode(PNG).decode(),
        },
    }
    content = [image, {"type": "text", "text": "what did i attach?"}]
    with uploading_gateway(emulator_now, tmp_path) as gateway:
        claude = anthropic.Anthropic(base_url=gateway.url, api_key="x", max_retries=0)
        reply = claude.messages.create(
            model=SONNET, max_tokens=200, messages=[{"role": "user", "content": content}]
        )
    digest = short_digest(PNG)
    assert reply.content[0].text == (  # type: ignore[union-attr]
        f"Attachments: image-{digest}.png (vision, image/png, {len(PNG)} bytes, sha256 {digest})."
    )
    (sent,) = completions(emulator_now)
    assert [f["name"] for f in sent["messages"][0]["files"]] == [f"image-{digest}.png"]


def test_a_text_document_is_uploaded_as_a_file(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    document = {
        "type": "document",
        "title": "notes.txt",
        "source": {"type": "text", "media_type": "text/plain", "data": "buy milk"},
    }
    content = [document, {"type": "text", "text": "what did i attach?"}]
    with uploading_gateway(emulator_now, tmp_path) as gateway:
        claude = anthropic.Anthropic(base_url=gateway.url, api_key="x", max_retries=0)
        reply = claude.messages.create(
            model=SONNET, max_tokens=200, messages=[{"role": "user", "content": content}]
        )
    assert "notes.txt" in reply.content[0].text  # type: ignore[union-attr]
    (sent,) = completions(emulator_now)
    assert [f["name"] for f in sent["messages"][0]["files"]] == ["notes.txt"]


def test_a_bad_image_is_a_400_naming_its_block(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "!"}}
    with uploading_gateway(emulator_now, tmp_path) as gateway:
        claude = anthropic.Anthropic(base_url=gateway.url, api_key="x", max_retries=0)
        with pytest.raises(anthropic.BadRequestError) as caught:
            claude.messages.create(
                model=SONNET, max_tokens=200, messages=[{"role": "user", "content": [image]}]
            )
    assert "messages.0.content.0" in caught.value.message
