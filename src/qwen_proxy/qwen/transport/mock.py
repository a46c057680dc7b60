"""An in-memory transport that answers every upstream call from a function (no sockets).

As httpx's ``MockTransport``: the client and the layers above it run for real, against answers a
test writes down::

    def upstream(request: MockRequest) -> MockResponse:
        if request.path.endswith("/chats/new"):
            return MockResponse(json={"success": True, "data": {"id": "chat-1"}})
        return MockResponse.sse([{"choices": [{"delta": {"content": "Hi", "phase": "answer"}}]}])

    client = QwenClient(settings, transport=MockTransport(upstream))

The handler gets the request the client really built (its bytes parsed back by llhttp), may be
a coroutine function, and may raise ``UpstreamConnectionError`` or ``UpstreamTimeout`` as a
failing connection would. A body is given whole or in parts; a part iterator that raises
breaks the body there, as a connection cut mid-reply does.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httptools
import orjson

from qwen_proxy.qwen.transport.base import READ_ALL_LIMIT
from qwen_proxy.qwen.transport.endpoint import Endpoint

#: a body whole, or its parts in order (each part is what one ``read()`` returns)
Body = bytes | Iterable[bytes] | AsyncIterable[bytes]
Handler = Callable[["MockRequest"], "MockResponse | Awaitable[MockResponse]"]

_NO_JSON: Any = object()


@dataclass(frozen=True)
class MockRequest:
    """One call as the client sent it."""

    endpoint: Endpoint
    method: str
    #: the request target: the path (with the base URL's prefix) and query
    path: str
    #: header names lower-cased
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return orjson.loads(self.body)


class MockResponse:
    """One canned answer (single use): status, content type, body, and optionally the real
    status (``x-actual-status-code``) and ``Set-Cookie`` values.

    ``json=`` serialises a value as an ``application/json`` body; ``MockResponse.sse`` builds a
    completion stream of ``data:`` events, one part each. ``released`` tells whether the client
    gave it back.
    """

    def __init__(
        self,
        status: int = 200,
        *,
        content_type: str = "",
        body: Body = b"",
        json: Any = _NO_JSON,
        actual_status: int = 0,
        set_cookies: tuple[str, ...] = (),
    ) -> None:
        if json is not _NO_JSON:
            body = orjson.dumps(json)
            content_type = content_type or "application/json"
        self.status = status
        self.content_type = content_type
        self.actual_status = actual_status
        self.set_cookies = set_cookies
        self.released = False
        self.taken = False
        self._parts: Iterator[bytes] | AsyncIterator[bytes] | None
        if isinstance(body, bytes | bytearray):
            self._parts = iter([bytes(body)])
        elif isinstance(body, AsyncIterable):
            self._parts = aiter(body)
        else:
            self._parts = iter(body)

    @classmethod
    def sse(cls, events: Iterable[Any], *, status: int = 200) -> MockResponse:
        """A ``text/event-stream`` answer: each event serialised as one ``data:`` line."""
        parts = [b"data: " + orjson.dumps(event) + b"\n\n" for event in events]
        return cls(status, content_type="text/event-stream; charset=utf-8", body=parts)

    async def read(self) -> bytes:
        """The next part of the body (empty parts skipped), ``b""`` at its end."""
        while self._parts is not None:
            parts = self._parts
            try:
                if isinstance(parts, AsyncIterator):
                    data = await anext(parts)
                else:
                    data = next(parts)
            except (StopIteration, StopAsyncIteration):
                self._parts = None
                break
            except BaseException:
                self._parts = None
                raise
            if data:
                return bytes(data)
        return b""

    async def read_all(self, limit: int = READ_ALL_LIMIT) -> bytes:
        """The rest of the body (at most ``limit`` bytes)."""
        parts: list[bytes] = []
        size = 0
        while size < limit and (data := await self.read()):
            parts.append(data)
            size += len(data)
        return b"".join(parts)[:limit]

    def release(self) -> None:
        """Mark the answer given back (a test can check that none was left open)."""
        self.released = True


class MockTransport:
    """A ``Transport`` that answers from ``handler``; every request and answer is kept."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[MockRequest] = []
        self.responses: list[MockResponse] = []
        self.closed = False

    async def request(self, endpoint: Endpoint, message: bytes) -> MockResponse:
        """Parse the request the client built and answer it with the handler's response."""
        request = parse_request(endpoint, message)
        self.requests.append(request)
        answer = self._handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if answer.taken:
            raise RuntimeError("a MockResponse answers one call: return a new one each time")
        answer.taken = True
        self.responses.append(answer)
        return answer

    def close(self) -> None:
        """Note the client closed its transport."""
        self.closed = True

    @property
    def unreleased(self) -> list[MockResponse]:
        """Answers handed out and not given back (a leak, once the client is done)."""
        return [response for response in self.responses if not response.released]


def parse_request(endpoint: Endpoint, message: bytes) -> MockRequest:
    """The one HTTP/1.1 request in ``message`` (``ValueError`` when it is not exactly one)."""
    collector = _RequestCollector()
    parser = httptools.HttpRequestParser(collector)
    try:
        parser.feed_data(message)
    except httptools.HttpParserError as exc:
        raise ValueError(f"the client sent a malformed request ({exc})") from None
    if collector.messages != 1:
        raise ValueError(f"expected one whole request, got {collector.messages}")
    return MockRequest(
        endpoint=endpoint,
        method=parser.get_method().decode("ascii"),
        path=collector.url.decode("latin-1"),
        headers=collector.headers,
        body=b"".join(collector.body),
    )


class _RequestCollector:
    """llhttp's callbacks for ``parse_request``."""

    def __init__(self) -> None:
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.messages = 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.messages += 1
