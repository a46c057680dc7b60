"""Messages bodies in, the gateway's messages out; bad bodies name the field Anthropic's way."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from qwen_proxy.api.anthropic.request import AnthropicRequest
from qwen_proxy.api.anthropic.validation import parse_messages_request
from qwen_proxy.api.openai.validation import parse_chat_request
from qwen_proxy.conversations.canonical import prefix_digests
from qwen_proxy.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from qwen_proxy.messages import ChatMessage, FilePart, ImagePart, ToolCall, ToolChoice

pytestmark = pytest.mark.unit

LIMIT = 1 << 20


def parse(body: dict[str, Any], *, counting: bool = False) -> AnthropicRequest:
    return parse_messages_request(
        orjson.dumps(body), content_type="application/json", max_body_bytes=LIMIT, counting=counting
    )


def body(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Hello"}],
    }
    base.update(overrides)
    return base


def refused(payload: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        parse(payload)
    return caught.value


def test_a_minimal_request_is_one_user_message() -> None:
    request = parse(body())
    assert request.messages == (ChatMessage(role="user", text="Hello"),)
    assert (request.max_tokens, request.stream, request.thinking) == (1024, False, None)


def test_system_as_string_or_text_blocks_is_the_first_message() -> None:
    as_string = parse(body(system="Be brief.\nBe kind."))
    as_blocks = parse(
        body(
            system=[
                {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Be kind."},
            ]
        )
    )
    expected = ChatMessage(role="system", text="Be brief.\nBe kind.")
    assert as_string.messages[0] == as_blocks.messages[0] == expected
    assert parse(body(system="")).messages[0].role == "user"


def test_thinking_blocks_are_dropped_and_text_blocks_joined() -> None:
    request = parse(
        body(
            messages=[
                {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "secret", "signature": "sig"},
                        {"type": "redacted_thinking", "data": "xyz"},
                        {"type": "text", "text": "Hello"},
                        {"type": "text", "text": ""},
                        {"type": "text", "text": "there"},
                    ],
                },
                {"role": "user", "content": "Again"},
            ]
        )
    )
    assert request.messages[1] == ChatMessage(role="assistant", text="Hello\nthere")
    assert "secret" not in repr(request.messages)


def test_images_url_as_is_and_base64_as_the_data_url_openai_would_send() -> None:
    request = parse(
        body(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": {"type": "url", "url": "https://x.org/a.png"}},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "QUJD"},
                        },
                        {"type": "text", "text": "What is this?"},
                    ],
                }
            ]
        )
    )
    assert request.messages[0].images == (
        ImagePart(url="https://x.org/a.png"),
        ImagePart(url="data:image/png;base64,QUJD"),
    )


def test_images_name_their_block_so_an_error_about_their_bytes_points_at_it() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A"}}
    request = parse(body(messages=[{"role": "user", "content": [image]}]))
    (part,) = request.messages[0].images
    assert (part.url, part.param) == ("data:image/png;base64,A", "messages.0.content.0")


def test_documents_become_files_named_by_their_title() -> None:
    pdf = {
        "type": "document",
        "title": "report",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
    }
    text = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "hi"},
    }
    request = parse(
        body(
            messages=[{"role": "user", "content": [pdf, text, {"type": "text", "text": "Sum up"}]}]
        )
    )
    (message,) = request.messages
    assert message.text == "Sum up"
    assert message.files == (
        FilePart("data:application/pdf;base64,JVBERi0=", "report.pdf"),
        FilePart("data:text/plain;base64,aGk=", "document.txt"),
    )
    assert [f.param for f in message.files] == ["messages.0.content.0", "messages.0.content.1"]


def test_a_url_document_is_refused_naming_its_source() -> None:
    doc = {"type": "document", "source": {"type": "url", "url": "https://x.org/a.pdf"}}
    error = refused(body(messages=[{"role": "user", "content": [doc]}]))
    assert error.param == "messages.0.content.0.source.type"
    assert "'url'" in error.message


@pytest.mark.parametrize(
    ("thinking", "on", "shown"),
    [
        ({"type": "enabled", "budget_tokens": 1024}, True, True),
        ({"type": "adaptive"}, True, True),
        ({"type": "adaptive", "display": "omitted"}, True, False),
        ({"type": "disabled"}, False, True),
    ],
)
def test_thinking_turns_reasoning_on_or_off(
    thinking: dict[str, Any], on: bool, shown: bool
) -> None:
    request = parse(body(max_tokens=4096, thinking=thinking))
    assert (request.thinking, request.show_thinking) == (on, shown)


def test_stop_sequences_and_sampling_parameters_are_accepted() -> None:
    request = parse(
        body(
            stop_sequences=["\nHuman:", ""],
            temperature=0.2,
            top_p=0.9,
            top_k=40,
            metadata={"user_id": "u-1"},
        )
    )
    assert request.stop_sequences == ("\nHuman:",)
    assert request.ignored_params == ("temperature", "top_p", "top_k")


def test_count_tokens_needs_no_max_tokens() -> None:
    payload = body()
    del payload["max_tokens"]
    assert parse(payload, counting=True).max_tokens is None


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": "100"}, "max_tokens"),
        ({"model": None}, "model"),
        ({"model": ""}, "model"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "user"}]}, "messages.0.content"),
        (
            {"messages": [{"role": "user", "content": [{"type": "audio"}]}]},
            "messages.0.content.0.type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]},
            "messages.0.content.0.source.type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "search_result"}]}]},
            "messages.0.content.0.type",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image", "source": {"type": "file"}}]}
                ]
            },
            "messages.0.content.0.source.type",
        ),
        ({"system": 5}, "system"),
        ({"thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
        ({"thinking": {"type": "enabled", "budget_tokens": 100}}, "thinking.budget_tokens"),
        ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, "max_tokens"),
        ({"thinking": {"type": "sometimes"}}, "thinking.type"),
        ({"temperature": 1.5}, "temperature"),
        ({"stop_sequences": ["ok", 3]}, "stop_sequences.1"),
        ({"tool_choice": {"type": "whichever"}}, "tool_choice.type"),
        ({"tools": [{"name": "w"}]}, "tools.0.input_schema"),
        ({"tools": [{"type": "bash_20250124", "name": "bash"}]}, "tools.0.type"),
        (
            {"tools": [{"name": "w", "input_schema": {}}], "tool_choice": {"type": "tool"}},
            "tool_choice.name",
        ),
        (
            {
                "tools": [{"name": "w", "input_schema": {}}],
                "tool_choice": {"type": "tool", "name": "x"},
            },
            "tool_choice.name",
        ),
    ],
)
def test_a_bad_field_is_named_at_the_start_of_the_message(
    change: dict[str, Any], path: str
) -> None:
    payload = body()
    for key, value in change.items():
        if value is None:
            payload.pop(key)
        else:
            payload[key] = value
    error = refused(payload)
    assert error.message.startswith(f"{path}: "), error.message
    assert error.param == path


WEATHER = {
    "name": "weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    "cache_control": {"type": "ephemeral"},
}


@pytest.mark.parametrize(
    ("choice", "expected", "parallel"),
    [
        (None, ToolChoice("auto"), True),
        ({"type": "auto"}, ToolChoice("auto"), True),
        ({"type": "any"}, ToolChoice("required"), True),
        ({"type": "none"}, ToolChoice("none"), True),
        ({"type": "tool", "name": "weather"}, ToolChoice("function", "weather"), True),
        ({"type": "any", "disable_parallel_tool_use": True}, ToolChoice("required"), False),
    ],
)
def test_tools_and_tool_choice_reach_the_tool_layer(
    choice: dict[str, Any] | None, expected: ToolChoice, parallel: bool
) -> None:
    request = parse(body(tools=[WEATHER], tool_choice=choice))
    completion = request.completion("qwen3-coder-plus")
    (tool,) = completion.tools
    assert (tool.name, tool.description) == ("weather", "The weather in a city.")
    assert tool.parameters == WEATHER["input_schema"]
    assert (completion.tool_choice, completion.parallel_tool_calls) == (expected, parallel)
    assert completion.call_id_prefix == "toolu_"


def test_a_web_search_server_tool_turns_on_qwens_search() -> None:
    search = {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
    completion = parse(body(tools=[search, WEATHER])).completion("qwen3-coder-plus")
    assert completion.web_search
    assert [t.name for t in completion.tools] == ["weather"]


def test_a_failed_tool_result_says_so_to_the_model() -> None:
    request = parse(
        body(
            messages=[
                {"role": "user", "content": "Weather?"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_1", "name": "w", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "is_error": True,
                            "content": [{"type": "text", "text": "city unknown"}],
                        }
                    ],
                },
            ]
        )
    )
    assert request.messages[-1] == ChatMessage(
        role="tool", text="Error: city unknown", tool_call_id="toolu_1"
    )


def test_tool_blocks_are_mapped_as_an_openai_client_sends_them() -> None:
    request = parse(
        body(
            messages=[
                {"role": "user", "content": "Weather?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Checking."},
                        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"c": 1}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"},
                        {"type": "text", "text": "Thanks"},
                    ],
                },
            ]
        )
    )
    assert request.messages[1:] == (
        ChatMessage(
            role="assistant",
            text="Checking.",
            tool_calls=(ToolCall(id="toolu_1", name="weather", arguments='{"c":1}'),),
        ),
        ChatMessage(role="tool", text="Sunny", tool_call_id="toolu_1"),
        ChatMessage(role="user", text="Thanks"),
    )


def test_non_json_and_oversized_bodies_are_refused() -> None:
    with pytest.raises(UnsupportedMediaType):
        parse_messages_request(b"x", content_type="text/plain", max_body_bytes=LIMIT)
    with pytest.raises(PayloadTooLarge):
        parse_messages_request(b"{}" * 10, content_type=None, max_body_bytes=5)
    with pytest.raises(InvalidRequest, match="JSON"):
        parse_messages_request(b"{", content_type=None, max_body_bytes=LIMIT)


def test_the_same_conversation_through_both_faces_has_the_same_identity() -> None:
    anthropic = parse(
        body(
            system=[{"type": "text", "text": "You are terse."}],
            messages=[
                {"role": "user", "content": [{"type": "text", "text": "My name is Ada."}]},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm"},
                        {"type": "text", "text": "Hello Ada."},
                    ],
                },
                {"role": "user", "content": "What is my name?"},
            ],
        )
    )
    openai = parse_chat_request(
        orjson.dumps(
            {
                "model": "qwen3-coder-plus",
                "messages": [
                    {"role": "system", "content": "You are terse."},
                    {"role": "user", "content": "My name is Ada."},
                    {"role": "assistant", "content": "Hello Ada.", "reasoning_content": "hmm"},
                    {"role": "user", "content": "What is my name?"},
                ],
            }
        ),
        content_type=None,
        max_body_bytes=LIMIT,
    )
    assert prefix_digests("t", anthropic.messages) == prefix_digests("t", openai.messages)


def test_a_deferred_tool_is_offered_once_a_tool_reference_loads_it() -> None:
    """Claude Code's tool search: deferred tools stay hidden until a result references them."""
    cron = {"name": "CronList", "input_schema": {"type": "object"}, "defer_loading": True}
    search = {"name": "ToolSearch", "input_schema": {"type": "object"}}
    before = parse(body(tools=[search, cron]))
    assert [t.name for t in before.completion("q").tools] == ["ToolSearch"]
    call = {"type": "tool_use", "id": "toolu_1", "name": "ToolSearch", "input": {"q": "cron"}}
    result = {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "content": [{"type": "tool_reference", "tool_name": "CronList"}],
    }
    after = parse(
        body(
            tools=[search, cron],
            messages=[
                {"role": "user", "content": "List my jobs."},
                {"role": "assistant", "content": [call]},
                {"role": "user", "content": [result, {"type": "text", "text": "Tool loaded."}]},
            ],
        )
    )
    assert [t.name for t in after.completion("q").tools] == ["ToolSearch", "CronList"]
    assert after.messages[2] == ChatMessage(
        role="tool", text="Tool loaded: CronList", tool_call_id="toolu_1"
    )
