"""Tool calling through the official openai SDK, gateway in front of the emulator.

The emulator answers tool prompts in every shape models write (``[[tools:SHAPE]]``); each test
says what an agent sees: calls with ids and JSON arguments, ``finish_reason``, and the text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from gateway_support import MODEL
from qwen_proxy.emulator.testing import EmulatorHandle
from tools_support import AGENT_TOOLS

pytestmark = pytest.mark.e2e

READ = ("read_file", '{"path": "a.py"}')
SECOND = ("write_file", '{"path": "example 2", "content": "example 2"}')
ASK = 'call read_file {"path": "a.py"}'

#: shape -> the calls an agent must get (empty: the reply is text)
SHAPES: dict[str, list[tuple[str, str]]] = {
    "own": [READ],
    "native": [READ],
    "native_string": [READ],
    "coder": [READ],
    "fenced": [READ],
    "bare": [READ],
    "unclosed": [READ],
    "fullwidth": [READ],
    "trailing_comma": [READ],
    "in_thinking": [READ],
    "repeat": [READ],
    "multi": [READ, SECOND],
    "multi_block": [READ, SECOND],
    "cut": [],
    "unknown": [],
    "example": [],
    "intercepted": [],
    "text": [],
}


@dataclass
class Seen:
    """What a client made of one reply."""

    content: str
    calls: list[tuple[str, str]]
    ids: list[str]
    finish_reason: str | None
    #: for a stream: the kind of each delta in order ("text" or "call")
    order: list[str]


def ask(client: openai.OpenAI, messages: list[Any], *, stream: bool, **extra: Any) -> Seen:
    """One request with the agent tools, read the way an agent reads it."""
    extra.setdefault("tools", AGENT_TOOLS)
    if not stream:
        reply = client.chat.completions.create(model=MODEL, messages=messages, **extra)
        message = reply.choices[0].message
        calls = message.tool_calls or []
        return Seen(
            message.content or "",
            [(c.function.name, c.function.arguments) for c in calls],  # type: ignore[union-attr]
            [c.id for c in calls],
            reply.choices[0].finish_reason,
            [],
        )
    chunks = list(
        client.chat.completions.create(model=MODEL, messages=messages, stream=True, **extra)
    )
    content, order = "", []
    calls: dict[int, list[str]] = {}
    for chunk in chunks:
        delta = chunk.choices[0].delta
        if delta.content:
            content += delta.content
            order.append("text")
        for call in delta.tool_calls or []:
            assert call.function is not None
            got = calls.setdefault(call.index, [call.id or "", "", ""])
            got[1] += call.function.name or ""
            got[2] += call.function.arguments or ""
            order.append("call")
    made = [calls[i] for i in sorted(calls)]
    return Seen(
        content,
        [(name, arguments) for _, name, arguments in made],
        [call_id for call_id, _, _ in made],
        chunks[-1].choices[0].finish_reason,
        order,
    )


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def upstream_turns(emulator: EmulatorHandle) -> list[dict[str, Any]]:
    """The completion bodies the emulator received, oldest first."""
    return [r.json for r in emulator.requests("/chat/completions")]


def sent_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


# --- every shape ---------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_shape_a_model_writes_reaches_the_agent_as_intended(
    client: openai.OpenAI, shape: str, stream: bool
) -> None:
    seen = ask(client, user(f"[[tools:{shape}]] {ASK}"), stream=stream)
    assert seen.calls == SHAPES[shape]
    if SHAPES[shape]:
        assert seen.finish_reason == "tool_calls"
        assert all(i.startswith("call_") for i in seen.ids)
        assert len(set(seen.ids)) == len(seen.ids)
        assert "qp:call" not in seen.content
        assert "tool_call" not in seen.content
    else:
        assert seen.finish_reason == "stop"
        assert seen.content


def test_arguments_are_a_json_string_the_agent_can_load(client: openai.OpenAI) -> None:
    seen = ask(
        client, user('call write_file {"path": "x.json", "content": "{\\"a\\": 1}"}'), stream=False
    )
    name, arguments = seen.calls[0]
    assert name == "write_file"
    # a string parameter stays a string even when it holds JSON
    assert json.loads(arguments) == {"path": "x.json", "content": '{"a": 1}'}


def test_text_before_a_call_streams_before_it(client: openai.OpenAI) -> None:
    seen = ask(client, user(f"[[tools:fenced]] {ASK}"), stream=True)
    assert seen.content == "I will call read_file.\n"
    assert seen.order[0] == "text"
    assert seen.order[-1] == "call"


def test_an_aliased_tool_is_called_by_the_clients_name(client: openai.OpenAI) -> None:
    seen = ask(client, user('call client_web_search {"query": "qwen"}'), stream=False)
    assert seen.calls == [("web_search", '{"query": "qwen"}')]


# --- tool_choice and parallel_tool_calls ----------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_required_gets_a_call_through_one_hidden_corrective_turn(
    client: openai.OpenAI, emulator: EmulatorHandle, stream: bool
) -> None:
    seen = ask(client, user("[[tools:text]] hello"), stream=stream, tool_choice="required")
    assert seen.calls == [("read_file", '{"path": "example"}')]
    assert seen.content == ""  # the first reply's text is never shown
    first, second = upstream_turns(emulator)
    assert second["chat_id"] == first["chat_id"]
    assert second["parent_id"] is not None
    assert "could not be used" in sent_text(second)


def test_required_recovers_a_cut_call(client: openai.OpenAI, emulator: EmulatorHandle) -> None:
    seen = ask(client, user(f"[[tools:cut]] {ASK}"), stream=True, tool_choice="required")
    assert [name for name, _ in seen.calls] == ["read_file"]
    assert "qp:call" not in seen.content
    assert "could not be read" in sent_text(upstream_turns(emulator)[-1])


def test_a_named_function_is_the_one_called(client: openai.OpenAI) -> None:
    choice = {"type": "function", "function": {"name": "write_file"}}
    seen = ask(client, user("go on"), stream=False, tool_choice=choice)
    assert [name for name, _ in seen.calls] == ["write_file"]


def test_none_answers_in_text(client: openai.OpenAI, emulator: EmulatorHandle) -> None:
    seen = ask(client, user(f"{ASK}"), stream=True, tool_choice="none")
    assert (seen.calls, seen.finish_reason) == ([], "stop")
    assert seen.content.startswith("Hello!")
    assert "Do not call any tool" in sent_text(upstream_turns(emulator)[-1])


def test_auto_with_a_failed_call_is_not_retried(
    client: openai.OpenAI, emulator: EmulatorHandle
) -> None:
    seen = ask(client, user(f"[[tools:unknown]] {ASK}"), stream=False)
    assert seen.calls == []
    assert len(upstream_turns(emulator)) == 1


def test_parallel_tool_calls_false_keeps_one_call(client: openai.OpenAI) -> None:
    seen = ask(client, user(f"[[tools:multi]] {ASK}"), stream=True, parallel_tool_calls=False)
    assert seen.calls == [READ]


def test_legacy_functions_get_a_function_call(client: openai.OpenAI) -> None:
    functions = [tool["function"] for tool in AGENT_TOOLS]
    reply = client.chat.completions.create(
        model=MODEL,
        messages=user(ASK),
        functions=functions,  # type: ignore[arg-type]
    )
    message = reply.choices[0].message
    assert reply.choices[0].finish_reason == "function_call"
    assert message.function_call is not None
    assert (message.function_call.name, message.function_call.arguments) == READ


# --- conversations --------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_tool_round_trip_continues_the_same_chat_sending_only_the_result(
    client: openai.OpenAI, emulator: EmulatorHandle, stream: bool
) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "You are a coding agent."},
        {"role": "user", "content": "[[tools:multi]] look at a.py"},
    ]
    first = ask(client, messages, stream=stream)
    assert len(first.calls) == 2
    messages.append(
        {
            "role": "assistant",
            "content": first.content or None,
            "tool_calls": [
                {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                for i, (n, a) in zip(first.ids, first.calls, strict=True)
            ],
        }
    )
    messages += [
        {"role": "tool", "tool_call_id": first.ids[0], "content": "def main():\n    pass"},
        {"role": "tool", "tool_call_id": first.ids[1], "content": "written"},
    ]
    second = ask(client, messages, stream=stream)
    assert second.content == (
        f"Result of read_file ({first.ids[0]}): def main():\n"
        f"Result of write_file ({first.ids[1]}): written"
    )
    assert second.finish_reason == "stop"
    opened, continued = upstream_turns(emulator)
    assert continued["chat_id"] == opened["chat_id"]
    assert continued["parent_id"] is not None
    text = sent_text(continued)
    # only the new results and the reminder: no definitions, no system prompt, no history
    assert text.startswith(f'<qp:result id="{first.ids[0]}" name="read_file">')
    assert "# Tools" not in text
    assert "coding agent" not in text
    assert text.rstrip().endswith("]")
    assert "[Tools:" in text
    assert len(emulator.requests("/chats/new")) == 1


def test_a_changed_tool_set_starts_a_new_chat(
    client: openai.OpenAI, emulator: EmulatorHandle
) -> None:
    messages: list[Any] = user(ASK)
    first = ask(client, messages, stream=False)
    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": first.ids[0],
                    "type": "function",
                    "function": {"name": "read_file", "arguments": first.calls[0][1]},
                }
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": first.ids[0], "content": "x = 1"})
    ask(client, messages, stream=False, tools=AGENT_TOOLS[:2])
    opened, refolded = upstream_turns(emulator)
    assert refolded["chat_id"] != opened["chat_id"]
    assert refolded["parent_id"] is None
    assert "# Tools" in sent_text(refolded)
    assert "web_search" not in sent_text(refolded)
    assert len(emulator.requests("/chats/new")) == 2


def test_the_upstream_gets_no_native_tools_and_no_search_while_tools_are_on(
    client: openai.OpenAI, emulator: EmulatorHandle
) -> None:
    ask(client, user(ASK), stream=False, extra_body={"web_search_options": {}})
    body = upstream_turns(emulator)[-1]
    feature = body["messages"][-1]["feature_config"]
    assert feature["function_calling"] is False
    assert feature["plugins_enabled"] is False
    assert feature["auto_search"] is False
    assert body["messages"][-1]["chat_type"] == "t2t"


def test_a_plain_chat_is_unchanged_by_the_tool_layer(
    client: openai.OpenAI, emulator: EmulatorHandle
) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=user("echo: plain"))
    assert reply.choices[0].message.content == "plain"
    assert reply.choices[0].message.tool_calls is None
    assert sent_text(upstream_turns(emulator)[-1]) == "echo: plain"


# --- structured output ----------------------------------------------------------------------

PERSON_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
PERSON = {
    "type": "json_schema",
    "json_schema": {"name": "Person", "schema": PERSON_SCHEMA, "strict": True},
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize(
    "word", ["", "[[json:fenced]] ", "[[json:bad]] "], ids=["clean", "fenced", "bad-once"]
)
def test_json_schema_replies_are_clean_json_that_follows_the_schema(
    client: openai.OpenAI, stream: bool, word: str
) -> None:
    seen = ask(
        client,
        user(f"{word}describe someone"),
        stream=stream,
        tools=openai.NOT_GIVEN,
        response_format=PERSON,
    )
    assert json.loads(seen.content) == {"name": "example", "age": 1}
    assert seen.finish_reason == "stop"


def test_json_object_takes_the_json_out_of_the_reply(client: openai.OpenAI) -> None:
    seen = ask(
        client,
        user('echo: Sure! {"a": [1, 2,],}'),
        stream=False,
        tools=openai.NOT_GIVEN,
        response_format={"type": "json_object"},
    )
    assert json.loads(seen.content) == {"a": [1, 2]}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_json_that_stays_invalid_is_a_clear_error(
    client: openai.OpenAI, emulator: EmulatorHandle, stream: bool
) -> None:
    with pytest.raises(openai.APIError) as caught:
        ask(
            client,
            user("[[json:never]] describe someone"),
            stream=stream,
            tools=openai.NOT_GIVEN,
            response_format=PERSON,
        )
    assert "did not follow response_format" in caught.value.message
    assert len(upstream_turns(emulator)) == 2  # the reply and one corrective turn, no more


def test_the_sdk_parse_helper_gets_a_typed_object(client: openai.OpenAI) -> None:
    from pydantic import BaseModel

    class Person(BaseModel):
        name: str
        age: int

    reply = client.chat.completions.parse(
        model=MODEL, messages=user("describe someone"), response_format=Person
    )
    assert reply.choices[0].message.parsed == Person(name="example", age=1)
