"""What an OpenAI request becomes for the service, and what the gateway refuses to serve yet."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from qwen_proxy.api.openai.validation import check_supported, parse_chat_request
from qwen_proxy.errors import InvalidRequest
from qwen_proxy.messages import (
    ChatMessage,
    CompletionRequest,
    ResponseFormat,
    ToolChoice,
    ToolDefinition,
)

pytestmark = pytest.mark.unit

USER = {"role": "user", "content": "hi"}
TOOL = {"type": "function", "function": {"name": "get_weather"}}
CALL = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
HTTP_IMAGE = {"type": "image_url", "image_url": {"url": "https://x/a.png"}}
DATA_IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
FTP_IMAGE = {"type": "image_url", "image_url": {"url": "ftp://x/a.png"}}


def checked(**fields: Any) -> CompletionRequest:
    """Parse and check a request with ``fields``; the internal request it produces."""
    data = {"model": "qwen3-max", "messages": [USER], **fields}
    request = parse_chat_request(
        orjson.dumps(data), content_type="application/json", max_body_bytes=1 << 20
    )
    check_supported(request)
    return request.completion()


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"n": 2}, "n", "unsupported_value"),
        (
            {"messages": [{"role": "user", "content": [FTP_IMAGE]}]},
            "messages[0].content[0].image_url.url",
            "invalid_value",
        ),
    ],
    ids=["n", "ftp-image"],
)
def test_what_the_gateway_cannot_serve_yet_is_refused_clearly(
    fields: dict[str, Any], param: str, code: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        checked(**fields)
    assert (caught.value.status, caught.value.param, caught.value.code) == (400, param, code)


@pytest.mark.parametrize(
    "fields",
    [
        {"tools": [TOOL]},
        {"tools": [TOOL], "tool_choice": "auto"},
        {"messages": [USER, {"role": "assistant", "tool_calls": [CALL]}, USER]},
        {"messages": [USER, {"role": "tool", "tool_call_id": "c1", "content": "sunny"}]},
    ],
    ids=["tools", "tools-auto", "tool-calls", "tool-result"],
)
def test_requests_with_tools_or_tool_messages_are_served(fields: dict[str, Any]) -> None:
    checked(**fields)


def test_tools_with_tool_choice_none_keep_their_messages() -> None:
    request = checked(tools=[TOOL], tool_choice="none")
    assert request.messages == (ChatMessage("user", "hi"),)
    assert request.tool_choice == ToolChoice("none")
    assert request.tools == (ToolDefinition("get_weather"),)


WEATHER = {
    "name": "get_weather",
    "description": "The weather.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.mark.parametrize(
    ("fields", "choice"),
    [
        ({}, ToolChoice("auto")),
        ({"tool_choice": "required"}, ToolChoice("required")),
        ({"tool_choice": "none"}, ToolChoice("none")),
        (
            {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
            ToolChoice("function", "get_weather"),
        ),
    ],
)
def test_tools_and_tool_choice_reach_the_service_face_neutral(
    fields: dict[str, Any], choice: ToolChoice
) -> None:
    request = checked(tools=[{"type": "function", "function": WEATHER}], **fields)
    assert request.tools == (
        ToolDefinition("get_weather", "The weather.", WEATHER["parameters"]),  # type: ignore[arg-type]
    )
    assert request.tool_choice == choice
    assert request.parallel_tool_calls is True


def test_legacy_functions_are_served_as_tools_with_one_call() -> None:
    request = checked(functions=[WEATHER], function_call={"name": "get_weather"})
    assert [t.name for t in request.tools] == ["get_weather"]
    assert request.tool_choice == ToolChoice("function", "get_weather")
    assert request.parallel_tool_calls is False


def test_parallel_tool_calls_false_reaches_the_service() -> None:
    assert checked(tools=[TOOL], parallel_tool_calls=False).parallel_tool_calls is False


def test_response_format_reaches_the_service() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "A", "schema": schema, "strict": True}}
    request = checked(response_format=fmt)
    assert request.response_format == ResponseFormat("json_schema", "A", "", schema, True)
    assert checked(response_format={"type": "json_object"}).response_format.kind == "json_object"
    assert checked().response_format == ResponseFormat()


def test_http_images_and_earlier_inline_images_are_served() -> None:
    earlier = {"role": "user", "content": [{"type": "text", "text": "old"}, DATA_IMAGE]}
    last = {"role": "user", "content": [{"type": "text", "text": "new"}, HTTP_IMAGE]}
    request = checked(messages=[earlier, {"role": "assistant", "content": "ok"}, last])
    assert request.messages[-1].images[0].url == "https://x/a.png"


def test_inline_data_images_in_the_last_message_are_served_with_their_part_named() -> None:
    last = {"role": "user", "content": [{"type": "text", "text": "look"}, DATA_IMAGE]}
    (image,) = checked(messages=[last]).messages[-1].images
    assert image.url == "data:image/png;base64,AAAA"
    assert image.param == "messages[0].content[1].image_url"


def test_the_service_gets_only_what_it_needs() -> None:
    request = checked(
        stream=True, max_tokens=5, stop=["x"], user="u", web_search_options={}, temperature=0.3
    )
    assert request == CompletionRequest(
        model="qwen3-max", messages=(ChatMessage("user", "hi"),), thinking=None, web_search=True
    )


@pytest.mark.parametrize(
    ("fields", "thinking"),
    [
        ({}, None),
        ({"enable_thinking": True}, True),
        ({"enable_thinking": False}, False),
        ({"reasoning_effort": "medium"}, True),
        ({"reasoning_effort": "high"}, True),
        ({"reasoning_effort": "xhigh"}, True),
        ({"reasoning_effort": "low"}, False),
        ({"reasoning_effort": "minimal"}, False),
        ({"reasoning_effort": "none"}, False),
        ({"reasoning_effort": "high", "enable_thinking": False}, False),
    ],
)
def test_thinking_is_asked_by_enable_thinking_then_reasoning_effort(
    fields: dict[str, Any], thinking: bool | None
) -> None:
    assert checked(**fields).thinking is thinking
