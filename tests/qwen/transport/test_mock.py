"""The in-memory transport: what its handler sees, and how its answers read."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from qwen_proxy.qwen.transport.base import Transport
from qwen_proxy.qwen.transport.endpoint import parse_endpoint, request_head
from qwen_proxy.qwen.transport.mock import MockRequest, MockResponse, MockTransport

pytestmark = pytest.mark.unit

ENDPOINT = parse_endpoint("http://upstream.test")


def post(body: bytes) -> bytes:
    head = request_head(ENDPOINT, "POST", "/x?y=1", {"X-Name": "v"}, len(body))
    return head + body


async def test_the_handler_sees_the_request_the_bytes_carry() -> None:
    seen: list[MockRequest] = []

    async def handler(request: MockRequest) -> MockResponse:
        seen.append(request)
        return MockResponse(json={"ok": True})

    transport: Transport = MockTransport(handler)
    response = await transport.request(ENDPOINT, post(b'{"a":1}'))
    (request,) = seen
    assert (request.method, request.path, request.json()) == ("POST", "/x?y=1", {"a": 1})
    assert request.headers["x-name"] == "v"
    assert request.endpoint == ENDPOINT
    assert (response.status, response.content_type) == (200, "application/json")
    assert await response.read_all() == b'{"ok":true}'


async def test_a_request_that_is_not_one_whole_message_is_refused() -> None:
    transport = MockTransport(lambda request: MockResponse())
    with pytest.raises(ValueError, match="one whole request"):
        await transport.request(ENDPOINT, post(b'{"a":1}')[:-2])
    with pytest.raises(ValueError, match="malformed"):
        await transport.request(ENDPOINT, b"NOT HTTP\r\n\r\n")


async def test_a_body_reads_part_by_part_skipping_empty_parts() -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield b"a"
        yield b""
        yield b"b"

    for body in ([b"a", b"", b"b"], parts()):
        response = MockResponse(body=body)
        assert [await response.read() for _ in range(3)] == [b"a", b"b", b""]
        assert await response.read() == b""


async def test_an_answer_serves_one_call_and_unreleased_ones_are_listed() -> None:
    answer = MockResponse()
    transport = MockTransport(lambda request: answer)
    response = await transport.request(ENDPOINT, post(b""))
    assert transport.unreleased == [answer]
    with pytest.raises(RuntimeError, match="one call"):
        await transport.request(ENDPOINT, post(b""))
    response.release()
    assert transport.unreleased == []


async def test_a_stream_answer_is_one_data_event_per_part() -> None:
    answer = MockResponse.sse([{"a": 1}, {"b": 2}])
    assert answer.content_type.startswith("text/event-stream")
    assert await answer.read() == b'data: {"a":1}\n\n'
    assert await answer.read() == b'data: {"b":2}\n\n'
    assert await answer.read() == b""
