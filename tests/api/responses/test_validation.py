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
from qwen_proxy.messages import ChatMessage, ImagePart, ToolCall

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
    error = refused(body(input=[{"type": "function_call_output", "call_id": "c", "output": "x"}]))
    assert (error.param, error.code) == ("tools", "tools_not_supported")


def test_tools_are_refused_for_now_unless_none_is_chosen() -> None:
    tool = {"type": "function", "name": "weather", "parameters": {}}
    assert refused(body(tools=[tool])).param == "tools"
    checked(body(tools=[tool], tool_choice="none"))


@pytest.mark.parametrize(
    ("effort", "thinking"),
    [("high", True), ("medium", True), ("low", False), ("none", False)],
)
def test_reasoning_effort_turns_thinking_on_or_off(effort: str, thinking: bool) -> None:
    request = parse(body(reasoning={"effort": effort, "summary": "auto"}))
    assert request.thinking is thinking
    assert request.reasoning_summary == "auto"


def test_json_text_formats_are_accepted_and_reported_as_ignored() -> None:
    schema = {"type": "json_schema", "name": "answer", "schema": {"type": "object"}}
    request = parse(body(text={"format": schema}, temperature=0.3))
    assert request.text_format == schema
    assert request.ignored_params == ("temperature", "text.format")
    assert parse(body(text={"format": {"type": "text"}})).text_format is None


def test_store_false_is_read() -> None:
    assert parse(body(store=False)).store is False


def test_a_data_image_in_the_last_message_is_refused_like_the_chat_face() -> None:
    image = {"type": "input_image", "image_url": "data:image/png;base64,QUJD"}
    error = refused(body(input=[{"role": "user", "content": [image]}]))
    assert "data:" in error.message


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
