"""What an OpenAI request becomes for the service, and what the gateway refuses to serve yet."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from qwen_proxy.api.openai.validation import check_supported, parse_chat_request
from qwen_proxy.errors import InvalidRequest
from qwen_proxy.messages import ChatMessage, CompletionRequest

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
        ({"tools": [TOOL]}, "tools", "tools_not_supported"),
        ({"tools": [TOOL], "tool_choice": "auto"}, "tools", "tools_not_supported"),
        (
            {"messages": [USER, {"role": "assistant", "tool_calls": [CALL]}, USER]},
            "tools",
            "tools_not_supported",
        ),
        (
            {"messages": [USER, {"role": "tool", "tool_call_id": "c1", "content": "sunny"}]},
            "tools",
            "tools_not_supported",
        ),
        ({"n": 2}, "n", "unsupported_value"),
        (
            {"messages": [{"role": "user", "content": [FTP_IMAGE]}]},
            "messages[0].content[0].image_url.url",
            "invalid_value",
        ),
    ],
    ids=["tools", "tools-auto", "tool-calls", "tool-result", "n", "ftp-image"],
)
def test_what_the_gateway_cannot_serve_yet_is_refused_clearly(
    fields: dict[str, Any], param: str, code: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        checked(**fields)
    assert (caught.value.status, caught.value.param, caught.value.code) == (400, param, code)


def test_tools_with_tool_choice_none_are_served_without_tools() -> None:
    assert checked(tools=[TOOL], tool_choice="none").messages == (ChatMessage("user", "hi"),)


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
