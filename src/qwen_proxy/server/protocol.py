"""The gateway's HTTP/1.1 connection protocol, run by uvicorn in place of its own.

uvicorn still runs the process (sockets, workers, signals, lifespan, graceful shutdown, the
Date header); this is only the per-connection part, given to uvicorn as ``http=``. uvicorn's
httptools protocol keeps ~7 KB per open connection (a ``__dict__`` object per connection and
per request, three deques from its two ``asyncio.Event`` and its pipeline queue, its parser
for the whole reply); here a connection is a slotted object whose request parser (httptools)
is dropped once the request is read, and a request is a slotted ``Exchange`` whose waits are
single futures. An open stream measured ~4 KB lighter (the target is 20 KB per stream).

What it does: keep-alive with uvicorn's timeout, ``Expect: 100-continue``, request bodies with
back-pressure, chunked or Content-Length responses (close-delimited for HTTP/1.0), HEAD,
write flow control, ``http.disconnect`` on hang-up. Pipelined requests are not queued: the
connection closes after the current response, and the client resends on a new one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast
from urllib.parse import unquote

import httptools

from qwen_proxy.api.tracking import RESPONSE_STAMP, ResponseStamp
from qwen_proxy.server.exchange import Exchange, send_500, status_line

log = logging.getLogger("uvicorn.error")

#: request body bytes buffered before reading from the client pauses
HIGH_WATER = 64 * 1024
#: bounds on a request head, checked before anything else (authentication included): a head
#: larger than this is refused with 431, a longer target with 414; no parse grows past them
MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100
MAX_URL_BYTES = 8 * 1024
#: a request body must have arrived this many seconds after its head (408 after): a client
#: trickling a body cannot hold a connection and its task for ever
BODY_DEADLINE = 120.0
_ASGI = {"version": "3.0", "spec_version": "2.3"}


class _Pipelined(Exception):
    """Raised from a parser callback to stop at a pipelined request."""


class _HeadTooLarge(Exception):
    """Raised from a parser callback: the head passed a bound (the status says which)."""

    def __init__(self, status: int, text: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.text = text


_HEAD_TOO_LARGE = (431, b"Request header fields too large.")


class GatewayHttpProtocol(asyncio.Protocol):
    """One client connection; uvicorn creates it per accepted socket (``http=`` class)."""

    __slots__ = (
        "_app",
        "_app_state",
        "_client",
        "_discarding",
        "_drain_waiter",
        "_exchange",
        "_head_left",
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
        self._exchange: Exchange | None = None
        self._scope: dict[str, Any] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._url = b""
        #: bytes a request head may still take (None once the head is complete)
        self._head_left: int | None = None
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

    def response_headers(self, status: int) -> list[tuple[bytes, bytes]]:
        """uvicorn's headers, and those of the request's stamp (``api.tracking``), which
        learns the status: the app's request id and counts reach every response this way."""
        headers = self.default_headers()
        scope = self._scope
        stamp: ResponseStamp | None = scope.get(RESPONSE_STAMP) if scope is not None else None
        if stamp is None:
            return headers
        return [*headers, *stamp.started(status)]

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
            exchange.hang_up()
        self.resume_writing()

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return  # the rest of a request body nobody reads (see response_complete)
        exchange = self._exchange
        if exchange is not None and not exchange.complete and self._parser is None:
            # a second request before this one's response: not queued (see the module doc);
            # the response says the connection closes, so the client knows to resend
            self._pipelined = True
            exchange.close_after()
            self.pause_reading()
            return
        if self._parser is None:
            self._parser = httptools.HttpRequestParser(self)
            self._head_left = MAX_HEAD_BYTES
        left = self._head_left
        if left is not None and len(data) > left:
            # only the head's allowance goes to the parser: a huge head is never parsed
            self._feed(data[:left])
            if self._head_left is not None and self._parser is not None:
                self._reject(*_HEAD_TOO_LARGE, drain=True)
                return
            data = data[left:]
            if not data or self._parser is None or self.transport is None:
                return
        elif left is not None:
            self._head_left = left - len(data)
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        parser = self._parser
        assert parser is not None
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # no upgrades here: the request is served as plain HTTP
        except httptools.HttpParserError as exc:
            if self._pipelined:
                return  # stopped on purpose at a pipelined request
            cause = exc.__context__
            if isinstance(cause, _HeadTooLarge):
                self._reject(cause.status, cause.text, drain=True)
                return
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
            exchange.close_after()
            self.pause_reading()
            raise _Pipelined
        self._url = b""
        self._headers = []

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_URL_BYTES:
            raise _HeadTooLarge(414, b"Request target too long.")

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self._headers) >= MAX_HEADERS:
            raise _HeadTooLarge(431, b"Too many request header fields.")
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self._head_left = None
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
        exchange = Exchange(self, parser.should_keep_alive(), method == "HEAD")
        has_body = False
        for name, value in self._headers:
            if name == b"expect" and value.lower() == b"100-continue":
                exchange.expect_continue()
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
        if has_body:  # the keep-alive timer's slot is free until the response is sent
            self._keep_alive_timer = self._loop.call_later(BODY_DEADLINE, self._body_too_slow)
        task = self._loop.create_task(self._run(self._scope, exchange))
        tasks: set[asyncio.Task[None]] = self._server_state.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def on_body(self, body: bytes) -> None:
        exchange = self._exchange
        if exchange is None or exchange.complete:
            return
        if exchange.feed(body) > HIGH_WATER:
            self.pause_reading()

    def on_message_complete(self) -> None:
        exchange = self._exchange
        # the parser's work for this request is done: an open stream does not keep it
        self._parser = None
        if not self._discarding:
            self._cancel_keep_alive()  # the body deadline: the body is whole
        if exchange is None or exchange.complete:
            return
        exchange.end_body()

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

    def response_complete(self, exchange: Exchange) -> None:
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
            self._cancel_keep_alive()  # the body deadline gives way to the discard's own
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
            exchange.close_after()

    # -- internals ----------------------------------------------------------------------------

    async def _run(self, scope: dict[str, Any], exchange: Exchange) -> None:
        try:
            await self._app(scope, exchange.receive, exchange.send)
        except Exception as exc:
            log.error("Exception in ASGI application", exc_info=exc)
            if not exchange.started and not exchange.disconnected:
                await send_500(exchange)
            elif not exchange.complete and self.transport is not None:
                self.transport.close()  # a response cut short (a finished one stays as it is)
        except BaseException:  # cancelled (a forced shutdown): the connection cannot go on
            if self.transport is not None:
                self.transport.close()
            raise
        else:
            if not exchange.started and not exchange.disconnected:
                log.error("ASGI callable returned without starting response.")
                await send_500(exchange)
            elif not exchange.complete and not exchange.disconnected:
                log.error("ASGI callable returned without completing response.")
                if self.transport is not None:
                    self.transport.close()

    def _reject(self, status: int, text: bytes, *, drain: bool = False) -> None:
        """Answer ``status`` and end the connection; ``drain`` reads and drops what the client
        is still sending first (a client mid-way through a huge head still gets the answer,
        where an immediate close would reset the connection under it)."""
        transport = self.transport
        if transport is None:
            return
        exchange = self._exchange
        if exchange is not None and exchange.started and not exchange.complete:
            # a response is under way: no second status line inside it, just the end
            exchange.hang_up()
            transport.close()
            return
        head = [status_line(status)]
        for name, value in self.default_headers():
            head += (name, b": ", value, b"\r\n")
        head.append(b"content-type: text/plain; charset=utf-8\r\n")
        head.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(text))
        transport.write(b"".join(head) + text)
        if not drain or not transport.can_write_eof():
            transport.close()
            return
        self._parser = None
        self._discarding = True
        self._cancel_keep_alive()
        transport.write_eof()
        self.resume_reading()
        self._keep_alive_timer = self._loop.call_later(self._timeout_keep_alive, transport.close)

    def _arm_keep_alive(self) -> None:
        self._cancel_keep_alive()
        self._keep_alive_timer = self._loop.call_later(self._timeout_keep_alive, self._idle_out)

    def _body_too_slow(self) -> None:
        self._keep_alive_timer = None
        exchange = self._exchange
        if self.transport is None or self._parser is None:
            return
        if self._discarding or exchange is None or exchange.started:
            self.transport.close()  # an answer went out already: just end the connection
            return
        exchange.hang_up()
        self._reject(408, b"The request body did not arrive in time.")

    def _idle_out(self) -> None:
        self._keep_alive_timer = None
        if self.transport is not None and self._exchange is None:
            self.transport.close()

    def _cancel_keep_alive(self) -> None:
        if self._keep_alive_timer is not None:
            self._keep_alive_timer.cancel()
            self._keep_alive_timer = None


def _address(info: Any) -> tuple[str, int] | None:
    if isinstance(info, tuple) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None
