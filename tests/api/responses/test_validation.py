"""Responses bodies in, the gateway's messages out; bad bodies name the parameter as OpenAI does."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from qwen_proxy.api.openai.validation import parse_chat_request
from qwen_proxy.api.responses.request import ResponsesRequest
from qwen_proxy.api.responses.validation import check_supported, parse_responses_request
from qwen_proxy.conversations.canonical import prefix_digests
from qwen_proxy.errors import InvalidRequest, UnsupportedMediaType
from qwen_proxy.messages import ChatMessage, ImagePart, ResponseFormat, ToolCall, ToolChoice

pytestmark = pytest.mark.unit

LIMIT = 1 << 20


def parse(body: dict[str, Any]) -> ResponsesRequest:
    return parse_responses_request(
        orjson.dumps(body), content_type="application/json", max_body_bytes=LIMIT
    )


def body(**overrides: Any) -> dict[str, Any]:
    return {"model": "qwen3.7-plus", "input": "Hello", **overrides}


def checked(payload: dict[str, Any]) -> None:
    check_supported(parse(payload))


def refused(payload: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        checked(payload)
    return caught.value


def test_a_string_input_is_one_user_message_and_instructions_come_first() -> None:
    request = parse(body(instructions="Be brief."))
    assert request.input == (ChatMessage(role="user", text="Hello"),)
    assert request.completion().messages == (
        ChatMessage(role="system", text="Be brief."),
        ChatMessage(role="user", text="Hello"),
    )
    assert (request.store, request.stream, request.thinking) == (True, False, None)


def test_stored_history_goes_between_the_instructions_and_the_new_input() -> None:
    earlier = (ChatMessage(role="user", text="a"), ChatMessage(role="assistant", text="b"))
    messages = parse(body(instructions="sys")).completion(earlier).messages
    assert [m.text for m in messages] == ["sys", "a", "b", "Hello"]


def test_items_map_to_messages_and_reasoning_items_are_dropped() -> None:
    request = parse(
        body(
            input=[
                {"role": "developer", "content": "Rules."},
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Hi"}],
                },
                {
                    "type": "reasoning",
                    "id": "rs_1",
                    "summary": [{"type": "summary_text", "text": "x"}],
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "id": "msg_1",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": "Hello", "annotations": []}],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "Look"},
                        {
                            "type": "input_image",
                            "image_url": "https://x.org/a",
                            "detail": "low",
                        },
                    ],
                },
            ]
        )
    )
    assert request.input == (
        ChatMessage(role="system", text="Rules."),
        ChatMessage(role="user", text="Hi"),
        ChatMessage(role="assistant", text="Hello"),
        ChatMessage(role="user", text="Look", images=(ImagePart("https://x.org/a", "low"),)),
    )


def test_function_calls_join_the_assistant_message_before_them() -> None:
    request = parse(
        body(
            input=[
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": "Checking."},
                {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "time", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "Sunny"},
            ]
        )
    )
    assert request.input[1:] == (
        ChatMessage(
            role="assistant",
            text="Checking.",
            tool_calls=(ToolCall("c1", "weather", "{}"), ToolCall("c2", "time", "{}")),
        ),
        ChatMessage(role="tool", text="Sunny", tool_call_id="c1"),
    )


def test_codex_call_items_come_back_as_the_calls_of_their_functions() -> None:
    action = {
        "type": "exec",
        "command": ["bash", "-lc", "ls"],
        "timeout_ms": None,
        "working_directory": "/repo",
        "env": {},
        "user": None,
    }
    request = parse(
        body(
            input=[
                {"role": "user", "content": "Fix it."},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {
                    "type": "local_shell_call",
                    "call_id": "c1",
                    "status": "completed",
                    "action": action,
                },
                {"type": "function_call_output", "call_id": "c1", "output": "a.py"},
                {
                    "type": "custom_tool_call",
                    "call_id": "c2",
                    "name": "apply_patch",
                    "input": "*** Begin",
                },
                {"type": "custom_tool_call_output", "call_id": "c2", "output": "Done!"},
                {
                    "type": "function_call",
                    "call_id": "c3",
                    "name": "spawn_agent",
                    "namespace": "multi_agent_v1",
                    "arguments": "{}",
                },
                {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {}},
            ]
        )
    )
    assert request.input[1:] == (
        ChatMessage(
            role="assistant",
            text="",
            tool_calls=(
                ToolCall("c1", "local_shell", '{"command":["bash","-lc","ls"],"workdir":"/repo"}'),
            ),
        ),
        ChatMessage(role="tool", text="a.py", tool_call_id="c1"),
        ChatMessage(
            role="assistant",
            text="",
            tool_calls=(ToolCall("c2", "apply_patch", '{"input":"*** Begin"}'),),
        ),
        ChatMessage(role="tool", text="Done!", tool_call_id="c2"),
        ChatMessage(
            role="assistant",
            text="",
            tool_calls=(ToolCall("c3", "multi_agent_v1.spawn_agent", "{}"),),
        ),
    )


def test_every_kind_of_tool_is_offered_as_a_function() -> None:
    grammar = {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch"}
    request = parse(
        body(
            tools=[
                {"type": "function", "name": "weather", "parameters": {"type": "object"}},
                {
                    "type": "custom",
                    "name": "apply_patch",
                    "description": "Edit.",
                    "format": grammar,
                },
                {"type": "local_shell"},
                {
                    "type": "namespace",
                    "name": "agents",
                    "tools": [{"type": "function", "name": "spawn", "parameters": {}}],
                },
                {"type": "web_search", "external_web_access": False},
                {"type": "file_search", "vector_store_ids": ["vs_1"]},
            ],
            tool_choice={"type": "custom", "name": "apply_patch"},
            parallel_tool_calls=False,
        )
    )
    completion = request.completion()
    names = [t.name for t in completion.tools]
    assert names == ["weather", "apply_patch", "local_shell", "agents.spawn"]
    patch = completion.tools[1]
    assert patch.parameters["required"] == ["input"]
    assert "start: begin_patch" in patch.description
    assert completion.tools[2].parameters["properties"]["command"]["type"] == "array"
    assert completion.tool_choice == ToolChoice("function", "apply_patch")
    assert completion.parallel_tool_calls is False
    # Codex's cached web search asks for no live search; a hosted tool is reported as ignored
    assert completion.web_search is False
    assert request.ignored_params == ("tools[5]",)
    assert parse(body(tools=[{"type": "web_search"}])).completion().web_search is True


@pytest.mark.parametrize(
    ("effort", "thinking"),
    [("high", True), ("medium", True), ("low", False), ("none", False)],
)
def test_reasoning_effort_turns_thinking_on_or_off(effort: str, thinking: bool) -> None:
    request = parse(body(reasoning={"effort": effort, "summary": "auto"}))
    assert request.thinking is thinking
    assert request.reasoning_summary == "auto"


def test_json_text_formats_become_the_replys_format() -> None:
    schema = {"type": "json_schema", "name": "answer", "schema": {"type": "object"}, "strict": True}
    request = parse(body(text={"format": schema}, temperature=0.3))
    assert request.text_format == schema
    assert request.ignored_params == ("temperature",)
    assert request.completion().response_format == ResponseFormat(
        "json_schema", name="answer", schema={"type": "object"}, strict=True
    )
    json_object = parse(body(text={"format": {"type": "json_object"}}))
    assert json_object.completion().response_format == ResponseFormat("json_object")
    assert parse(body(text={"format": {"type": "text"}})).text_format is None


def test_store_false_is_read() -> None:
    assert parse(body(store=False)).store is False


def test_a_data_image_goes_to_the_upload_path_naming_its_part() -> None:
    image = {"type": "input_image", "image_url": "data:image/png;base64,QUJD"}
    request = parse(body(input=[{"role": "user", "content": [image]}]))
    checked(body(input=[{"role": "user", "content": [image]}]))
    (part,) = request.input[0].images
    assert part.param == "input[0].content[0].image_url"
    ftp = {"type": "input_image", "image_url": "ftp://x.org/a.png"}
    assert refused(body(input=[{"role": "user", "content": [ftp]}])).param == (
        "input[0].content[0].image_url"
    )


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"model": None}, "model"),
        ({"input": None}, "input"),
        ({"input": []}, "input"),
        ({"input": 5}, "input"),
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"input": [{"role": "user"}]}, "input[0].content"),
        ({"input": [{"role": "user", "content": [{"type": "audio"}]}]}, "input[0].content[0].type"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input[0].content[0].type",
        ),
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
        ({"input": [{"type": "function_call", "name": "f"}]}, "input[0].call_id"),
        ({"max_output_tokens": 3}, "max_output_tokens"),
        ({"reasoning": {"effort": "extreme"}}, "reasoning.effort"),
        ({"text": {"format": {"type": "xml"}}}, "text.format.type"),
        ({"text": {"format": {"type": "json_schema", "name": "a"}}}, "text.format.schema"),
        ({"temperature": 3}, "temperature"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"tool_choice": {"type": "function", "name": "nope"}}, "tool_choice.name"),
        ({"tools": [{"type": "function"}]}, "tools[0].name"),
        ({"tools": [{"name": "f"}]}, "tools[0].type"),
        (
            {"tools": [{"type": "function", "name": "f"}, {"type": "custom", "name": "f"}]},
            "tools[1]",
        ),
        ({"input": [{"type": "local_shell_call", "call_id": "c"}]}, "input[0].action"),
        ({"background": True}, "background"),
        ({"conversation": "conv_1"}, "conversation"),
    ],
)
def test_a_bad_parameter_is_named(change: dict[str, Any], param: str) -> None:
    payload = body()
    for key, value in change.items():
        if value is None:
            payload.pop(key)
        else:
            payload[key] = value
    assert refused(payload).param == param


def test_a_non_json_body_is_415() -> None:
    with pytest.raises(UnsupportedMediaType):
        parse_responses_request(b"x", content_type="text/plain", max_body_bytes=LIMIT)


def test_the_same_conversation_as_chat_messages_has_the_same_identity() -> None:
    responses = parse(
        body(
            instructions="You are terse.",
            input=[
                {"role": "user", "content": [{"type": "input_text", "text": "My name is Ada."}]},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"role": "assistant", "content": [{"type": "output_text", "text": "Hi Ada."}]},
                {"role": "user", "content": "What is my name?"},
            ],
        )
    ).completion()
    chat = parse_chat_request(
        orjson.dumps(
            {
                "model": "qwen3.7-plus",
                "messages": [
                    {"role": "system", "content": "You are terse."},
                    {"role": "user", "content": "My name is Ada."},
                    {"role": "assistant", "content": "Hi Ada."},
                    {"role": "user", "content": "What is my name?"},
                ],
            }
        ),
        content_type=None,
        max_body_bytes=LIMIT,
    )
    assert prefix_digests("t", responses.messages) == prefix_digests("t", chat.messages)
