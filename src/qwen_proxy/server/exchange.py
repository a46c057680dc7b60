"""One request on a client connection and its response: the ASGI ``receive`` and ``send``.

The connection (``server.protocol.GatewayHttpProtocol``) feeds an ``Exchange`` the request body
(``feed``, ``end_body``) and tells it of a hang-up (``hang_up``). The exchange knows the
connection only through the small ``Connection`` interface below, so neither module imports the
other. The app's ``receive`` hands the body over, then waits for the end; its ``send`` writes the
response head and body (chunked, by Content-Length, or up to the close for HTTP/1.0), waiting
while the client is behind.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Protocol

_STATUS_LINES = {
    code: b"HTTP/1.1 %d %s\r\n" % (code, phrase.encode())
    for code, phrase in (
        (200, "OK"),
        (201, "Created"),
        (204, "No Content"),
        (304, "Not Modified"),
        (400, "Bad Request"),
        (401, "Unauthorized"),
        (403, "Forbidden"),
        (404, "Not Found"),
        (405, "Method Not Allowed"),
        (408, "Request Timeout"),
        (409, "Conflict"),
        (413, "Payload Too Large"),
        (414, "URI Too Long"),
        (415, "Unsupported Media Type"),
        (422, "Unprocessable Entity"),
        (429, "Too Many Requests"),
        (431, "Request Header Fields Too Large"),
        (499, "Client Closed Request"),
        (500, "Internal Server Error"),
        (502, "Bad Gateway"),
        (503, "Service Unavailable"),
        (504, "Gateway Timeout"),
    )
}
_BAD_NAME = re.compile(rb"[\x00-\x20\x7f()<>@,;:\\\"/\[\]?={}]")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


class Connection(Protocol):
    """What an exchange needs of the client connection it belongs to."""

    transport: asyncio.Transport | None
    write_paused: bool
    http10: bool

    def resume_reading(self) -> None:
        """Read from the client again."""
        ...

    async def drain(self) -> None:
        """Wait until the client took enough of what was written."""
        ...

    def response_headers(self, status: int) -> list[tuple[bytes, bytes]]:
        """Headers a response with ``status`` carries besides the app's (Date, request id...)."""
        ...

    def response_complete(self, exchange: Exchange) -> None:
        """The response is sent: keep the connection or close it."""
        ...


def status_line(status: int) -> bytes:
    """``HTTP/1.1 <status> <reason>``, CRLF-terminated (an unknown status gets no reason)."""
    line = _STATUS_LINES.get(status)
    return line if line is not None else b"HTTP/1.1 %d \r\n" % status


class Exchange:
    """One request and its response: what the app's ``receive`` and ``send`` act on."""

    __slots__ = (
        "_chunked",
        "_conn",
        "_head",
        "_length",
        "_until_close",
        "_waiter",
        "body",
        "buffered",
        "complete",
        "continue_expected",
        "disconnected",
        "keep_alive",
        "more_body",
        "started",
    )

    def __init__(self, conn: Connection, keep_alive: bool, head: bool) -> None:
        self._conn = conn
        self.keep_alive = keep_alive
        self._head = head
        self.body: list[bytes] = []
        self.buffered = 0  # bytes in ``body``
        # True: more to come; False: all in, not yet given to the app; None: given
        self.more_body: bool | None = True
        self.continue_expected = False
        self.started = False
        self.complete = False
        self.disconnected = False
        self._chunked = False
        self._length = 0
        self._until_close = False
        self._waiter: asyncio.Future[None] | None = None

    def feed(self, body: bytes) -> int:
        """A piece of the request body arrived; returns the bytes now buffered."""
        self.body.append(body)
        self.buffered += len(body)
        self.wake()
        return self.buffered

    def end_body(self) -> None:
        """The whole request body has arrived."""
        self.more_body = False
        self.wake()

    def expect_continue(self) -> None:
        """The client waits for ``100 Continue`` before sending the body (sent on receive())."""
        self.continue_expected = True

    def close_after(self) -> None:
        """Close the connection once this response is sent (a graceful shutdown)."""
        self.keep_alive = False

    def hang_up(self) -> None:
        """The client is gone (or must be treated as gone): receive() says so, send() stops."""
        self.disconnected = True
        self.wake()

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def receive(self) -> dict[str, Any]:
        """ASGI ``receive``: the request body, then ``http.disconnect`` once it is over."""
        conn = self._conn
        if self.continue_expected and not self.started:
            self.continue_expected = False
            if conn.transport is not None:
                conn.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        while not (self.disconnected or self.complete or self.body or self.more_body is False):
            conn.resume_reading()
            await self._wait()
        if self.disconnected or self.complete:
            return {"type": "http.disconnect"}
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        self.body = []
        self.buffered = 0
        more_body = self.more_body
        if not more_body:
            self.more_body = None  # delivered: from now on receive() waits for the end
        conn.resume_reading()
        return {"type": "http.request", "body": body, "more_body": more_body}

    async def send(self, message: dict[str, Any]) -> None:
        """ASGI ``send``: the response head, then its body; ignored once the client is gone."""
        if self.disconnected:
            return
        conn = self._conn
        transport = conn.transport
        if transport is None:
            return
        if not self.started:
            if message["type"] != "http.response.start":
                raise RuntimeError(f"expected http.response.start, got {message['type']!r}")
            self.started = True
            self.continue_expected = False
            transport.write(self._response_head(message))
        elif not self.complete:
            if message["type"] != "http.response.body":
                raise RuntimeError(f"expected http.response.body, got {message['type']!r}")
            body: bytes = message.get("body", b"")
            more_body = message.get("more_body", False)
            if self._head:
                pass
            elif self._chunked:
                if body and more_body:
                    transport.write(b"%x\r\n%s\r\n" % (len(body), body))
                elif body:
                    transport.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
                elif not more_body:
                    transport.write(b"0\r\n\r\n")
            else:
                if not self._until_close:
                    if len(body) > self._length:
                        raise RuntimeError("response body longer than its Content-Length")
                    self._length -= len(body)
                if body:
                    transport.write(body)
            if not more_body:
                if self._length and not self._head and not self._until_close:
                    raise RuntimeError("response body shorter than its Content-Length")
                self.complete = True
                self.wake()
                conn.response_complete(self)
                return
        else:
            raise RuntimeError(f"{message['type']!r} sent after the response completed")
        if conn.write_paused:
            await conn.drain()

    def _response_head(self, message: dict[str, Any]) -> bytes:
        status: int = message["status"]
        parts = [status_line(status)]
        length: int | None = None
        chunked = False
        close = not self.keep_alive
        app_said_connection = False
        for name, value in (*self._conn.response_headers(status), *message.get("headers", ())):
            if _BAD_NAME.search(name) or _BAD_VALUE.search(value):
                raise RuntimeError("invalid response header")
            lowered = name.lower()
            if lowered == b"content-length":
                length = int(value)
            elif lowered == b"transfer-encoding":
                chunked = value.lower() == b"chunked"
            elif lowered == b"connection":
                app_said_connection = True
                close = close or b"close" in value.lower()
            parts += (name, b": ", value, b"\r\n")
        bodiless = self._head or status in (204, 304) or 100 <= status < 200
        if bodiless:
            chunked = False
        elif length is not None and not chunked:
            self._length = length
        elif not chunked and self._conn.http10:
            # no chunked encoding in HTTP/1.0: the connection's close ends the body
            self._until_close = True
            close = True
        elif not chunked:
            parts.append(b"transfer-encoding: chunked\r\n")
            chunked = True
        self._chunked = chunked
        if close:
            self.keep_alive = False
            if not app_said_connection:
                parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        return b"".join(parts)


async def send_500(exchange: Exchange) -> None:
    """Answer 500 and close: the app failed before it started its response."""
    text = b"Internal Server Error"
    await exchange.send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", b"%d" % len(text)),
                (b"connection", b"close"),
            ],
        }
    )
    await exchange.send({"type": "http.response.body", "body": text, "more_body": False})
