"""The gateway's HTTP/1.1 connection protocol, run by uvicorn in place of its own.

uvicorn still runs the process (sockets, workers, signals, lifespan, graceful shutdown, the
Date header); this is only the per-connection part, given to uvicorn as ``http=``. uvicorn's
httptools protocol keeps ~7 KB per open connection (a ``__dict__`` object per connection and
per request, three deques from its two ``asyncio.Event`` and its pipeline queue, its parser
for the whole reply); here a connection is a slotted object whose request parser (httptools)
is dropped once the request is read, and a request is a slotted ``_Exchange`` whose waits are
single futures. An open stream measured ~4 KB lighter (issue 8's 20 KB target).

What it does: keep-alive with uvicorn's timeout, ``Expect: 100-continue``, request bodies with
back-pressure, chunked or Content-Length responses (close-delimited for HTTP/1.0), HEAD,
write flow control, ``http.disconnect`` on hang-up. Pipelined requests are not queued: the
connection closes after the current response, and the client resends on a new one.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, cast
from urllib.parse import unquote

import httptools

log = logging.getLogger("uvicorn.error")

#: request body bytes buffered before reading from the client pauses
HIGH_WATER = 64 * 1024
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
        (409, "Conflict"),
        (413, "Payload Too Large"),
        (415, "Unsupported Media Type"),
        (422, "Unprocessable Entity"),
        (429, "Too Many Requests"),
        (499, "Client Closed Request"),
        (500, "Internal Server Error"),
        (502, "Bad Gateway"),
        (503, "Service Unavailable"),
        (504, "Gateway Timeout"),
    )
}
_BAD_NAME = re.compile(rb"[\x00-\x20\x7f()<>@,;:\\\"/\[\]?={}]")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_ASGI = {"version": "3.0", "spec_version": "2.3"}


def _status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else b"HTTP/1.1 %d \r\n" % status


class _Pipelined(Exception):
    """Raised from a parser callback to stop at a pipelined request."""


class _Exchange:
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

    def __init__(self, conn: GatewayHttpProtocol, keep_alive: bool, head: bool) -> None:
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
        parts = [_status_line(status)]
        length: int | None = None
        chunked = False
        close = not self.keep_alive
        headers = message.get("headers", ())
        for name, value in (*self._conn.default_headers(), *headers):
            if _BAD_NAME.search(name) or _BAD_VALUE.search(value):
                raise RuntimeError("invalid response header")
            lowered = name.lower()
            if lowered == b"content-length":
                length = int(value)
            elif lowered == b"transfer-encoding":
                chunked = value.lower() == b"chunked"
            elif lowered == b"connection" and b"close" in value.lower():
                close = True
                self.keep_alive = False
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
            if not any(n.lower() == b"connection" for n, _ in headers):
                parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        return b"".join(parts)


class GatewayHttpProtocol(asyncio.Protocol):
    """One client connection; uvicorn creates it per accepted socket (``http=`` class)."""

    __slots__ = (
        "_app",
        "_app_state",
        "_client",
        "_discarding",
        "_drain_waiter",
        "_exchange",
        "_headers",
        "_keep_alive_timer",
        "_loop",
        "_parser",
        "_paused",
        "_pipelined",
        "_root_path",
        "_scope",
        "_server",
        "_server_state",
        "_timeout_keep_alive",
        "_url",
        "http10",
        "transport",
        "write_paused",
    )

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self._app = config.loaded_app
        self._app_state = app_state
        self._root_path: str = config.root_path
        self._timeout_keep_alive: float = config.timeout_keep_alive
        self._server_state = server_state
        self._loop = _loop or asyncio.get_event_loop()
        self.transport: asyncio.Transport | None = None
        self._parser: httptools.HttpRequestParser | None = None
        self._exchange: _Exchange | None = None
        self._scope: dict[str, Any] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._url = b""
        self._server: tuple[str, int] | None = None
        self._client: tuple[str, int] | None = None
        self._keep_alive_timer: asyncio.TimerHandle | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._pipelined = False
        self._discarding = False
        self.http10 = False
        self.write_paused = False

    def default_headers(self) -> list[tuple[bytes, bytes]]:
        """uvicorn's headers for every response (its Date, renewed each second)."""
        headers: list[tuple[bytes, bytes]] = self._server_state.default_headers
        return headers

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._server_state.connections.add(self)
        # a connection must send a whole request head within the keep-alive timeout
        self._arm_keep_alive()
        self._server = _address(transport.get_extra_info("sockname"))
        self._client = _address(transport.get_extra_info("peername"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._server_state.connections.discard(self)
        self.transport = None
        self._parser = None
        self._cancel_keep_alive()
        exchange = self._exchange
        if exchange is not None and not exchange.complete:
            exchange.disconnected = True
            exchange.wake()
        self.resume_writing()

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return  # the rest of a request body nobody reads (see response_complete)
        exchange = self._exchange
        if exchange is not None and not exchange.complete and self._parser is None:
            # a second request before this one's response: not queued (see the module doc)
            self._pipelined = True
            self.pause_reading()
            return
        if self._parser is None:
            self._parser = httptools.HttpRequestParser(self)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # no upgrades here: the request is served as plain HTTP
        except httptools.HttpParserError:
            if self._pipelined:
                return  # stopped on purpose at a pipelined request
            self._reject(400, b"Invalid HTTP request received.")

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- httptools callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        exchange = self._exchange
        if exchange is not None and not exchange.complete:
            # a second request in the same bytes as this one's: stop parsing (module doc)
            self._pipelined = True
            self.pause_reading()
            raise _Pipelined
        self._url = b""
        self._headers = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self._cancel_keep_alive()
        parser = self._parser
        assert parser is not None
        version = parser.get_http_version()
        method = parser.get_method().decode("ascii")
        self.http10 = version == "1.0"
        url = httptools.parse_url(self._url)
        raw_path = url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = unquote(path)
        exchange = _Exchange(self, parser.should_keep_alive(), method == "HEAD")
        has_body = False
        for name, value in self._headers:
            if name == b"expect" and value.lower() == b"100-continue":
                exchange.continue_expected = True
            elif name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
                has_body = True
        if has_body and parser.should_upgrade():
            # httptools stops at an upgrade request's head: its body would be lost or taken
            # for the next request, and no upgrade is offered here
            self._reject(400, b"Upgrade requests with a body are not supported.")
            return
        self._scope = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": version,
            "server": self._server,
            "client": self._client,
            "scheme": "http",
            "method": method,
            "root_path": self._root_path,
            "path": self._root_path + path,
            "raw_path": self._root_path.encode("ascii") + raw_path,
            "query_string": url.query or b"",
            "headers": self._headers,
            "state": self._app_state.copy(),
        }
        self._exchange = exchange
        task = self._loop.create_task(self._run(self._scope, exchange))
        tasks: set[asyncio.Task[None]] = self._server_state.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def on_body(self, body: bytes) -> None:
        exchange = self._exchange
        if exchange is None or exchange.complete:
            return
        exchange.body.append(body)
        exchange.buffered += len(body)
        if exchange.buffered > HIGH_WATER:
            self.pause_reading()
        exchange.wake()

    def on_message_complete(self) -> None:
        exchange = self._exchange
        # the parser's work for this request is done: an open stream does not keep it
        self._parser = None
        if exchange is None or exchange.complete:
            return
        exchange.more_body = False
        exchange.wake()

    # -- what the exchange calls --------------------------------------------------------------

    def pause_reading(self) -> None:
        """Stop reading from the client (a body is buffered, or a pipelined request came)."""
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        """Read from the client again (not while a pipelined request waits for the close)."""
        if self._paused and not self._pipelined and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    async def drain(self) -> None:
        """Wait until the client took enough of what was written."""
        if self.write_paused and self.transport is not None:
            self._drain_waiter = self._loop.create_future()
            try:
                await self._drain_waiter
            finally:
                self._drain_waiter = None

    def response_complete(self, exchange: _Exchange) -> None:
        """The response is sent: keep the connection for the next request, or close it."""
        self._server_state.total_requests += 1
        self._scope = None
        self._headers = []
        transport = self.transport
        if transport is None:
            return
        if exchange.more_body is True:
            # The app answered without reading a body that is still coming (a 413, a 401):
            # closing now would reset the connection under the client's feet and lose the
            # answer. Say we are done (FIN), read and drop the rest, close on EOF or timeout.
            self._discarding = True
            self._pipelined = False
            self.resume_reading()
            if transport.can_write_eof():
                transport.write_eof()
            self._keep_alive_timer = self._loop.call_later(
                self._timeout_keep_alive, transport.close
            )
            return
        if not exchange.keep_alive or self._pipelined:
            transport.close()
            return
        self._exchange = None
        self.resume_reading()
        self._arm_keep_alive()

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: close idle connections, end busy ones after reply."""
        exchange = self._exchange
        if exchange is None or exchange.complete:
            if self.transport is not None:
                self.transport.close()
        else:
            exchange.keep_alive = False

    # -- internals ----------------------------------------------------------------------------

    async def _run(self, scope: dict[str, Any], exchange: _Exchange) -> None:
        try:
            await self._app(scope, exchange.receive, exchange.send)
        except Exception as exc:
            log.error("Exception in ASGI application", exc_info=exc)
            if not exchange.started and not exchange.disconnected:
                await _send_500(exchange)
            elif not exchange.complete and self.transport is not None:
                self.transport.close()  # a response cut short (a finished one stays as it is)
        except BaseException:  # cancelled (a forced shutdown): the connection cannot go on
            if self.transport is not None:
                self.transport.close()
            raise
        else:
            if not exchange.started and not exchange.disconnected:
                log.error("ASGI callable returned without starting response.")
                await _send_500(exchange)
            elif not exchange.complete and not exchange.disconnected:
                log.error("ASGI callable returned without completing response.")
                if self.transport is not None:
                    self.transport.close()

    def _reject(self, status: int, text: bytes) -> None:
        transport = self.transport
        if transport is None:
            return
        exchange = self._exchange
        if exchange is not None and exchange.started and not exchange.complete:
            # a response is under way: no second status line inside it, just the end
            exchange.disconnected = True
            exchange.wake()
            transport.close()
            return
        head = [_status_line(status)]
        for name, value in self.default_headers():
            head += (name, b": ", value, b"\r\n")
        head.append(b"content-type: text/plain; charset=utf-8\r\n")
        head.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(text))
        transport.write(b"".join(head) + text)
        transport.close()

    def _arm_keep_alive(self) -> None:
        self._cancel_keep_alive()
        self._keep_alive_timer = self._loop.call_later(self._timeout_keep_alive, self._idle_out)

    def _idle_out(self) -> None:
        self._keep_alive_timer = None
        if self.transport is not None and self._exchange is None:
            self.transport.close()

    def _cancel_keep_alive(self) -> None:
        if self._keep_alive_timer is not None:
            self._keep_alive_timer.cancel()
            self._keep_alive_timer = None


async def _send_500(exchange: _Exchange) -> None:
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


def _address(info: Any) -> tuple[str, int] | None:
    if isinstance(info, tuple) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None
