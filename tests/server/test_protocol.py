"""The gateway's HTTP/1.1 server protocol (server/protocol.py) at the byte level.

Each test runs a small ASGI app of its own under a real uvicorn server (the gateway's protocol,
uvloop, a free port on 127.0.0.1) and talks to it over raw sockets, so the exact bytes, the
statuses and the closes are what is asserted.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
import uvloop

from qwen_proxy.server.protocol import HIGH_WATER, GatewayHttpProtocol

pytestmark = pytest.mark.integration

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

#: longest any single wait in these tests may take
WAIT = 5.0
MiB = 1 << 20


def on_uvloop(
    scenario: Callable[[], Coroutine[Any, Any, None]],
) -> Callable[[], None]:
    """Run an async test body on uvloop, the loop the gateway serves with."""

    def test() -> None:
        uvloop.run(asyncio.wait_for(scenario(), timeout=30))

    test.__doc__ = scenario.__doc__
    return test


# --- the server ---------------------------------------------------------------------------


async def until(condition: Callable[[], bool]) -> None:
    """Poll state that offers no event to await (uvicorn's flags, a transport's reading)."""
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


@dataclass
class Served:
    server: uvicorn.Server
    task: asyncio.Task[None]
    port: int

    def transport(self) -> asyncio.Transport:
        """The transport of the server's one open connection."""
        (protocol,) = self.server.server_state.connections
        assert isinstance(protocol, GatewayHttpProtocol)
        assert protocol.transport is not None
        return protocol.transport


@asynccontextmanager
async def serving(app: App, *, timeout_keep_alive: float = 5.0) -> AsyncIterator[Served]:
    """uvicorn serving ``app`` with the gateway's protocol on this loop, on a free port."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        http=GatewayHttpProtocol,
        lifespan="off",
        interface="asgi3",
        timeout_keep_alive=timeout_keep_alive,
        timeout_graceful_shutdown=2,
        server_header=False,
        access_log=False,
        log_config=None,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started or task.done())
    if task.done():
        task.result()
        raise RuntimeError("uvicorn did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Served(server, task, port)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=WAIT)


# --- a strict raw client ------------------------------------------------------------------


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def eof(self) -> bool:
        """True when the server closed the connection (and sent nothing more before it)."""
        try:
            rest = await asyncio.wait_for(self.reader.read(), timeout=WAIT)
        except ConnectionResetError:
            return True
        assert rest == b"", f"unexpected bytes before the close: {rest[:200]!r}"
        return True


@asynccontextmanager
async def connect(port: int, *, receive_buffer: int | None = None) -> AsyncIterator[Connection]:
    """A raw TCP connection to the server (optionally with a small kernel receive buffer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
    try:
        yield Connection(reader, writer)
    finally:
        writer.close()


@dataclass
class Response:
    status: int
    head: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    chunk_sizes: list[int] = field(default_factory=list)

    def header(self, name: bytes) -> bytes | None:
        values = [v for n, v in self.headers if n == name]
        assert len(values) <= 1, f"{name!r} sent {len(values)} times"
        return values[0] if values else None


async def read_head(reader: asyncio.StreamReader) -> Response:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=WAIT)
    status_line, *lines = head[:-4].split(b"\r\n")
    version, status, _reason = status_line.split(b" ", 2)
    assert version == b"HTTP/1.1", status_line
    headers = []
    for line in lines:
        name, value = line.split(b":", 1)
        assert name, line
        assert name == name.strip(), line
        headers.append((name.lower(), value.strip()))
    return Response(int(status), head, headers)


async def read_response(reader: asyncio.StreamReader, *, head: bool = False) -> Response:
    """One response, framed strictly by its headers (chunk syntax checked byte by byte)."""
    response = await read_head(reader)
    length = response.header(b"content-length")
    encoding = response.header(b"transfer-encoding")
    if head or response.status in (204, 304) or response.status < 200:
        return response
    if encoding is not None:
        assert encoding == b"chunked"
        assert length is None, "both Content-Length and chunked"
        body = bytearray()
        while True:
            line = await asyncio.wait_for(reader.readuntil(b"\r\n"), timeout=WAIT)
            size = int(line[:-2], 16)
            assert line == b"%x\r\n" % size, f"bad chunk-size line {line!r}"
            if size == 0:
                assert await asyncio.wait_for(reader.readexactly(2), WAIT) == b"\r\n"
                break
            response.chunk_sizes.append(size)
            body += await asyncio.wait_for(reader.readexactly(size), timeout=WAIT)
            assert await asyncio.wait_for(reader.readexactly(2), WAIT) == b"\r\n"
        response.body = bytes(body)
    elif length is not None:
        response.body = await asyncio.wait_for(reader.readexactly(int(length)), timeout=WAIT)
    else:
        response.body = await asyncio.wait_for(reader.read(), timeout=WAIT)
    return response


def get(path: str = "/", *extra: bytes, version: bytes = b"HTTP/1.1") -> bytes:
    return b"GET %s %s\r\nhost: test\r\n%s\r\n" % (path.encode(), version, b"".join(extra))


def post(body: bytes, path: str = "/", *extra: bytes) -> bytes:
    head = b"POST %s HTTP/1.1\r\nhost: test\r\ncontent-length: %d\r\n%s\r\n"
    return head % (path.encode(), len(body), b"".join(extra)) + body


def chunked(body: bytes, sizes: list[int]) -> bytes:
    """``body`` as a chunked request body, cut at ``sizes`` (cycled), with its terminator."""
    out, at, i = bytearray(), 0, 0
    while at < len(body):
        piece = body[at : at + sizes[i % len(sizes)]]
        out += b"%x\r\n%s\r\n" % (len(piece), piece)
        at, i = at + len(piece), i + 1
    return bytes(out + b"0\r\n\r\n")


# --- small apps ---------------------------------------------------------------------------


async def read_all(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        assert message["type"] == "http.request", message
        chunks.append(message["body"])
        if not message["more_body"]:
            return b"".join(chunks)


def start(status: int = 200, *headers: tuple[bytes, bytes]) -> Message:
    return {"type": "http.response.start", "status": status, "headers": list(headers)}


def body(data: bytes, more: bool = False) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more}


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """The request body back, with a Content-Length; ``x-path`` says which request it was."""
    data = await read_all(receive)
    await send(
        start(200, (b"content-length", b"%d" % len(data)), (b"x-path", scope["path"].encode()))
    )
    await send(body(data))


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await send(start(200, (b"content-length", b"5")))
    await send(body(b"hello"))


def streaming(chunks: list[bytes]) -> App:
    """Sends ``chunks`` one message each, no Content-Length, then an empty last message."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200, (b"content-type", b"text/event-stream")))
        for chunk in chunks:
            await send(body(chunk, more=True))
        await send(body(b""))

    return app


# --- keep-alive ---------------------------------------------------------------------------


@on_uvloop
async def test_two_requests_on_one_connection_get_two_responses() -> None:
    async with serving(echo) as served, connect(served.port) as conn:
        await conn.send(post(b"first", "/one"))
        one = await read_response(conn.reader)
        await conn.send(post(b"second!", "/two"))
        two = await read_response(conn.reader)
        assert (one.status, one.body, one.header(b"x-path")) == (200, b"first", b"/one")
        assert (two.status, two.body, two.header(b"x-path")) == (200, b"second!", b"/two")
        assert one.header(b"connection") is None
        assert served.server.server_state.total_requests == 2


@on_uvloop
async def test_connection_close_request_gets_connection_close_and_the_socket_closes() -> None:
    async with serving(echo) as served, connect(served.port) as conn:
        await conn.send(post(b"bye", "/", b"connection: close\r\n"))
        response = await read_response(conn.reader)
        assert (response.status, response.body) == (200, b"bye")
        assert response.header(b"connection") == b"close"
        assert await conn.eof()


@on_uvloop
async def test_http10_request_without_keep_alive_is_answered_then_closed() -> None:
    async with serving(hello) as served, connect(served.port) as conn:
        await conn.send(get("/", version=b"HTTP/1.0"))
        response = await read_response(conn.reader)
        assert (response.status, response.body) == (200, b"hello")
        assert response.header(b"connection") == b"close"
        assert await conn.eof()


@on_uvloop
async def test_idle_keep_alive_connection_is_closed_after_timeout_keep_alive() -> None:
    async with serving(hello, timeout_keep_alive=0.3) as served, connect(served.port) as conn:
        await conn.send(get())
        assert (await read_response(conn.reader)).body == b"hello"
        answered = time.monotonic()
        assert await conn.eof()
        idle = time.monotonic() - answered
        assert 0.25 <= idle < 3, idle


@pytest.mark.parametrize(
    "sent", [b"", b"GET / HTTP/1.1\r\nhost: te"], ids=["nothing", "half a head"]
)
def test_connection_without_a_whole_request_head_is_closed_after_the_timeout(
    sent: bytes,
) -> None:
    # a trickle of header bytes must not hold a connection open forever (slowloris)
    async def scenario() -> None:
        async with serving(hello, timeout_keep_alive=0.3) as served, connect(served.port) as conn:
            opened = time.monotonic()
            if sent:
                await conn.send(sent)
            assert await conn.eof()
            assert 0.25 <= time.monotonic() - opened < 3

    on_uvloop(scenario)()


@on_uvloop
async def test_keep_alive_timeout_does_not_cut_a_slow_second_response() -> None:
    release = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/slow":
            await release.wait()
        await hello(scope, receive, send)

    async with serving(app, timeout_keep_alive=0.2) as served, connect(served.port) as conn:
        await conn.send(get())
        await read_response(conn.reader)
        await conn.send(get("/slow"))
        # longer than the keep-alive timeout: the connection is busy, not idle
        await asyncio.sleep(0.5)
        release.set()
        assert (await read_response(conn.reader)).body == b"hello"


# --- response framing ---------------------------------------------------------------------


@on_uvloop
async def test_streamed_response_is_chunked_byte_exact_with_one_terminator() -> None:
    chunks = [b"data: %d\n\n" % i for i in range(300)] + [b"x" * 70_000, b"\x00\r\n0\r\n\r\n"]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200, (b"content-type", b"text/event-stream")))
        for chunk in chunks:
            await send(body(chunk, more=True))
            await send(body(b"", more=True))  # an empty message writes nothing
        await send(body(b""))

    async with serving(app) as served, connect(served.port) as conn:
        await conn.send(get())
        head = await read_head(conn.reader)
        assert head.header(b"transfer-encoding") == b"chunked"
        assert head.header(b"content-length") is None
        expected = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
        wire = await asyncio.wait_for(conn.reader.readexactly(len(expected)), timeout=WAIT)
        assert wire == expected
        # the connection stays usable: nothing stray after the terminator
        await conn.send(get())
        assert (await read_response(conn.reader)).body == b"".join(chunks)


@on_uvloop
async def test_last_body_message_with_data_ends_the_chunked_stream() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200))
        await send(body(b"one", more=True))
        await send(body(b"two"))

    async with serving(app) as served, connect(served.port) as conn:
        await conn.send(get())
        await read_head(conn.reader)
        expected = b"3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n"
        assert await conn.reader.readexactly(len(expected)) == expected
        await conn.send(get())
        assert (await read_response(conn.reader)).body == b"onetwo"


@on_uvloop
async def test_content_length_response_is_sent_unchunked_and_the_connection_reused() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200, (b"content-length", b"11")))
        await send(body(b"hello ", more=True))
        await send(body(b"world"))

    async with serving(app) as served, connect(served.port) as conn:
        for _ in range(2):
            await conn.send(get())
            head = await read_head(conn.reader)
            assert head.header(b"transfer-encoding") is None
            assert head.header(b"content-length") == b"11"
            assert await conn.reader.readexactly(11) == b"hello world"


@on_uvloop
async def test_body_shorter_than_its_content_length_cuts_the_connection() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200, (b"content-length", b"10")))
        await send(body(b"short"))

    async with serving(app) as served, connect(served.port) as conn:
        await conn.send(get())
        head = await read_head(conn.reader)
        assert head.header(b"content-length") == b"10"
        assert await conn.reader.read() == b"short"  # then the close: the client sees a cut


@pytest.mark.parametrize("app", [hello, streaming([b"never", b"sent"])], ids=["length", "stream"])
def test_head_gets_the_headers_and_no_body(app: App) -> None:
    async def scenario() -> None:
        async with serving(app) as served, connect(served.port) as conn:
            await conn.send(b"HEAD / HTTP/1.1\r\nhost: test\r\n\r\n")
            head = await read_response(conn.reader, head=True)
            assert head.status == 200
            if app is hello:
                assert head.header(b"content-length") == b"5"
            # no body bytes came: the next response starts right at its status line
            await conn.send(get())
            response = await read_response(conn.reader)
            assert response.body in (b"hello", b"neversent")

    on_uvloop(scenario)()


@pytest.mark.parametrize("status", [204, 304])
def test_bodiless_status_gets_no_body_and_no_chunking(status: int) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(status, (b"etag", b'"v1"')))
        await send(body(b""))

    async def scenario() -> None:
        async with serving(app) as served, connect(served.port) as conn:
            await conn.send(get())
            response = await read_response(conn.reader)
            assert response.status == status
            assert response.header(b"transfer-encoding") is None
            await conn.send(get())
            again = await read_response(conn.reader)
            assert again.status == status

    on_uvloop(scenario)()


@on_uvloop
async def test_http10_client_of_a_streamed_response_gets_a_close_delimited_body() -> None:
    chunks = [b"part %d;" % i for i in range(50)]
    async with serving(streaming(chunks)) as served, connect(served.port) as conn:
        await conn.send(get("/", b"connection: keep-alive\r\n", version=b"HTTP/1.0"))
        head = await read_head(conn.reader)
        assert head.header(b"transfer-encoding") is None
        assert head.header(b"content-length") is None
        assert head.header(b"connection") == b"close"
        rest = await asyncio.wait_for(conn.reader.read(), timeout=WAIT)
        assert rest == b"".join(chunks)


@on_uvloop
async def test_http10_streamed_response_ends_even_when_the_app_sets_connection() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200, (b"connection", b"keep-alive")))
        await send(body(b"all of it"))

    async with serving(app) as served, connect(served.port) as conn:
        await conn.send(get("/", b"connection: keep-alive\r\n", version=b"HTTP/1.0"))
        await read_head(conn.reader)
        rest = await asyncio.wait_for(conn.reader.read(), timeout=1)
        assert rest == b"all of it"


@on_uvloop
async def test_every_response_carries_uvicorns_date_header() -> None:
    async with serving(streaming([b"x"])) as served, connect(served.port) as conn:
        await conn.send(get())
        response = await read_response(conn.reader)
        date = response.header(b"date")
        assert date is not None
        sent = email.utils.parsedate_to_datetime(date.decode())
        assert abs(sent.timestamp() - time.time()) < 5


@on_uvloop
async def test_unlisted_status_gets_a_valid_status_line() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(418, (b"content-length", b"0")))
        await send(body(b""))

    async with serving(app) as served, connect(served.port) as conn:
        await conn.send(get())
        response = await read_response(conn.reader)
        assert response.head.startswith(b"HTTP/1.1 418 \r\n")


# --- request bodies -----------------------------------------------------------------------


def _random_bytes(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.mark.parametrize("size", [0, 1, 100_000, 8 * MiB])
def test_content_length_body_arrives_byte_exact(size: int) -> None:
    data = _random_bytes(size)

    async def scenario() -> None:
        async with serving(echo) as served, connect(served.port) as conn:
            sending = asyncio.create_task(conn.send(post(data)))
            response = await read_response(conn.reader)
            await sending
            assert response.status == 200
            assert response.body == data

    on_uvloop(scenario)()


@pytest.mark.parametrize("sizes", [[1], [7, 4096, 3], [1 * MiB]], ids=["1", "mixed", "1MiB"])
def test_chunked_body_arrives_byte_exact(sizes: list[int]) -> None:
    # one-byte chunks kept few: see test_body_in_one_byte_chunks_does_not_stall_the_server
    data = _random_bytes(2_000 if sizes == [1] else 6 * MiB)

    async def scenario() -> None:
        async with serving(echo) as served, connect(served.port) as conn:
            head = b"POST / HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\n"
            sending = asyncio.create_task(conn.send(head + chunked(data, sizes)))
            response = await read_response(conn.reader)
            await sending
            assert response.body == data
            # the terminator was consumed: the connection goes on
            await conn.send(post(b"next"))
            assert (await read_response(conn.reader)).body == b"next"

    on_uvloop(scenario)()


@on_uvloop
async def test_body_in_one_byte_chunks_does_not_stall_the_server() -> None:
    data = _random_bytes(20_000)
    gaps: list[float] = []

    async def tick() -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.01)
            gaps.append(loop.time() - last)
            last = loop.time()

    async with serving(echo) as served, connect(served.port) as conn:
        ticking = asyncio.create_task(tick())
        head = b"POST / HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\n"
        await conn.send(head + chunked(data, [1]))  # 120 KB on the wire
        response = await read_response(conn.reader)
        ticking.cancel()
    assert response.body == data
    # every other client's stream waits while the loop is stuck in one data_received
    assert max(gaps, default=0.0) < 0.5, gaps


@on_uvloop
async def test_request_trickled_one_byte_at_a_time_is_parsed_whole() -> None:
    async with serving(echo) as served, connect(served.port) as conn:
        conn.writer.transport.get_extra_info("socket").setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
        )
        request = (
            b"POST /a%20b?q=1 HTTP/1.1\r\nhost: test\r\nx-long: " + b"v" * 300 + b"\r\n"
            b"transfer-encoding: chunked\r\n\r\n" + chunked(b"trickled body", [3])
        )
        for i in range(len(request)):
            await conn.send(request[i : i + 1])
        response = await read_response(conn.reader)
        assert (response.body, response.header(b"x-path")) == (b"trickled body", b"/a b")


@on_uvloop
async def test_slow_app_gets_a_large_body_in_bounded_pieces_and_loses_nothing() -> None:
    data = _random_bytes(8 * MiB)
    pieces: list[int] = []
    may_read = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await may_read.wait()  # a slow reader: nothing read until the server stopped reading
        received = bytearray()
        while True:
            message = await receive()
            pieces.append(len(message["body"]))
            received += message["body"]
            if not message["more_body"]:
                break
            await asyncio.sleep(0)
        await send(start(200, (b"content-length", b"%d" % len(received))))
        await send(body(bytes(received)))

    async with serving(app) as served, connect(served.port) as conn:
        sending = asyncio.create_task(conn.send(post(data)))
        await until(lambda: not served.transport().is_reading())
        may_read.set()
        response = await read_response(conn.reader)
        await sending
    assert response.body == data
    # every read from the client was paused in time: no piece much over the high-water mark
    assert max(pieces) <= HIGH_WATER + 512 * 1024, max(pieces)
    assert len(pieces) > 8


@on_uvloop
async def test_expect_100_continue_gets_100_once_the_app_reads_the_body() -> None:
    reading = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(0)
        reading.set()
        await echo(scope, receive, send)

    async with serving(app) as served, connect(served.port) as conn:
        await conn.send(
            b"POST / HTTP/1.1\r\nhost: test\r\ncontent-length: 4\r\nexpect: 100-continue\r\n\r\n"
        )
        await asyncio.wait_for(reading.wait(), timeout=WAIT)
        interim = await asyncio.wait_for(conn.reader.readuntil(b"\r\n\r\n"), timeout=WAIT)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        await conn.send(b"ping")
        response = await read_response(conn.reader)
        assert (response.status, response.body) == (200, b"ping")
        # one 100 per request: the second exchange gets its own
        await conn.send(
            b"POST / HTTP/1.1\r\nhost: test\r\ncontent-length: 4\r\nexpect: 100-continue\r\n\r\n"
        )
        interim = await asyncio.wait_for(conn.reader.readuntil(b"\r\n\r\n"), timeout=WAIT)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        await conn.send(b"pong")
        assert (await read_response(conn.reader)).body == b"pong"


@on_uvloop
async def test_expect_100_continue_gets_no_100_when_the_app_answers_without_reading() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(401, (b"content-length", b"6")))
        await send(body(b"denied"))

    async with serving(app) as served, connect(served.port) as conn:
        await conn.send(
            b"POST / HTTP/1.1\r\nhost: test\r\ncontent-length: 1000000\r\n"
            b"expect: 100-continue\r\n\r\n"
        )
        response = await read_response(conn.reader)
        assert (response.status, response.body) == (401, b"denied")
        assert b"100 Continue" not in response.head
        # the body never came: the connection cannot be reused
        assert await conn.eof()


@on_uvloop
async def test_websocket_upgrade_request_is_served_as_plain_http_and_the_connection_goes_on() -> (
    None
):
    async with serving(hello) as served, connect(served.port) as conn:
        await conn.send(get("/", b"connection: Upgrade\r\nupgrade: websocket\r\n"))
        assert (await read_response(conn.reader)).body == b"hello"
        await conn.send(get())
        assert (await read_response(conn.reader)).body == b"hello"


@on_uvloop
async def test_upgrade_request_with_a_body_is_refused_rather_than_served_without_it() -> None:
    # httptools stops at an upgrade request's head, so its body would never reach the app
    async with serving(echo) as served, connect(served.port) as conn:
        await conn.send(
            post(
                b"hello",
                "/",
                b"connection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\n",
                b"http2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n",
            )
        )
        response = await read_response(conn.reader)
        assert response.status == 400
        assert await conn.eof()


# --- an app that does not read the request body -------------------------------------------


@on_uvloop
async def test_unread_request_body_still_in_flight_closes_the_connection_after_the_answer() -> None:
    async with serving(hello) as served, connect(served.port) as conn:
        # 1 MB announced, a little sent: the rest would otherwise be parsed as a request
        await conn.send(b"POST / HTTP/1.1\r\nhost: test\r\ncontent-length: 1000000\r\n\r\nabc")
        response = await read_response(conn.reader)
        assert (response.status, response.body) == (200, b"hello")
        assert await conn.eof()


@on_uvloop
async def test_unread_request_body_that_arrived_whole_does_not_leak_into_the_next_request() -> None:
    async with serving(hello) as served, connect(served.port) as conn:
        # the body looks like a request: if it were parsed as one, two answers would come
        await conn.send(post(get("/smuggled")))
        assert (await read_response(conn.reader)).body == b"hello"
        await conn.send(post(b""))
        assert (await read_response(conn.reader)).body == b"hello"
        assert served.server.server_state.total_requests == 2


@on_uvloop
async def test_client_posting_a_large_body_gets_the_answer_of_an_app_that_did_not_read_it() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(413, (b"content-length", b"8")))
        await send(body(b"too big!"))

    async with serving(app) as served, httpx.AsyncClient() as client:
        response = await client.post(f"http://127.0.0.1:{served.port}/", content=b"x" * 8 * MiB)
        assert (response.status_code, response.content) == (413, b"too big!")


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET / HTTP/1.1\r\nhost: test\r\nno colon here\r\n\r\n",
        b"NOT A REQUEST\r\n\r\n",
        b"POST / HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["header", "request-line", "chunk-size"],
)
def test_malformed_request_gets_400_and_the_connection_closes(request_bytes: bytes) -> None:
    async def scenario() -> None:
        async with serving(echo) as served, connect(served.port) as conn:
            await conn.send(request_bytes)
            response = await read_response(conn.reader)
            assert response.status == 400
            assert response.header(b"connection") == b"close"
            assert response.body == b"Invalid HTTP request received."
            assert await conn.eof()

    on_uvloop(scenario)()


@on_uvloop
async def test_malformed_request_after_a_good_one_gets_400() -> None:
    async with serving(hello) as served, connect(served.port) as conn:
        await conn.send(get())
        assert (await read_response(conn.reader)).body == b"hello"
        await conn.send(b"GET / HTTP/1.1\r\nbad header\r\n\r\n")
        assert (await read_response(conn.reader)).status == 400
        assert await conn.eof()


@on_uvloop
async def test_malformed_body_during_a_streamed_response_cuts_it_without_a_400_inside() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200))
        await send(body(b"early", more=True))
        while (await receive())["type"] != "http.disconnect":
            pass

    async with serving(app) as served, connect(served.port) as conn:
        await conn.send(b"POST / HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\n")
        await read_head(conn.reader)
        assert await conn.reader.readexactly(10) == b"5\r\nearly\r\n"
        await conn.send(b"zz\r\n")
        rest = await asyncio.wait_for(conn.reader.read(), timeout=WAIT)
        assert b"HTTP/1.1 400" not in rest
        assert rest == b""


@on_uvloop
async def test_app_raising_before_responding_gets_500_with_connection_close() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise ValueError("boom")

    async with serving(app) as served, connect(served.port) as conn:
        await conn.send(get())
        response = await read_response(conn.reader)
        assert (response.status, response.body) == (500, b"Internal Server Error")
        assert response.header(b"connection") == b"close"
        assert await conn.eof()


@on_uvloop
async def test_app_raising_after_starting_cuts_the_body() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200))
        await send(body(b"partial", more=True))
        raise ValueError("boom")

    async with serving(app) as served, connect(served.port) as conn:
        await conn.send(get())
        head = await read_head(conn.reader)
        assert head.status == 200
        # the chunk, then the close; no terminator, so no client takes the body as whole
        rest = await asyncio.wait_for(conn.reader.read(), timeout=WAIT)
        assert rest == b"7\r\npartial\r\n"


@on_uvloop
async def test_app_returning_without_responding_gets_500() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        return

    async with serving(app) as served, connect(served.port) as conn:
        await conn.send(get())
        response = await read_response(conn.reader)
        assert (response.status, response.body) == (500, b"Internal Server Error")
        assert await conn.eof()


@on_uvloop
async def test_app_returning_mid_response_cuts_the_connection() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200))
        await send(body(b"half", more=True))

    async with serving(app) as served, connect(served.port) as conn:
        await conn.send(get())
        await read_head(conn.reader)
        rest = await asyncio.wait_for(conn.reader.read(), timeout=WAIT)
        assert rest == b"4\r\nhalf\r\n"


@on_uvloop
async def test_app_raising_after_its_response_completed_spares_the_next_request() -> None:
    second_started = asyncio.Event()
    first_raised = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/first":
            await hello(scope, receive, send)
            await second_started.wait()  # e.g. a background task after the response
            first_raised.set()
            raise ValueError("after the response")
        await send(start(200))
        await send(body(b"one", more=True))
        second_started.set()
        await first_raised.wait()
        await asyncio.sleep(0)
        await send(body(b"two"))

    async with serving(app) as served, connect(served.port) as conn:
        await conn.send(get("/first"))
        assert (await read_response(conn.reader)).body == b"hello"
        await conn.send(get("/second"))
        assert (await read_response(conn.reader)).body == b"onetwo"


# --- disconnect ---------------------------------------------------------------------------


@on_uvloop
async def test_client_leaving_mid_stream_gets_disconnect_and_later_sends_are_ignored() -> None:
    streaming_started = asyncio.Event()
    outcome: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen = []
        await send(start(200))
        await send(body(b"first", more=True))
        seen.append((await receive())["type"])  # the (empty) request body
        streaming_started.set()
        seen.append((await receive())["type"])  # blocks until the client leaves
        for _ in range(100):
            await send(body(b"into the void", more=True))
        await send(body(b""))
        seen.append("sends ignored")
        outcome.set_result(seen)

    async with serving(app) as served:
        async with connect(served.port) as conn:
            await conn.send(get())
            await read_head(conn.reader)
            await asyncio.wait_for(streaming_started.wait(), timeout=WAIT)
        seen = await asyncio.wait_for(outcome, timeout=WAIT)
        assert seen == ["http.request", "http.disconnect", "sends ignored"]


@on_uvloop
async def test_client_leaving_while_the_app_reads_the_body_ends_receive_with_disconnect() -> None:
    outcome: asyncio.Future[list[Message]] = asyncio.get_running_loop().create_future()
    first_piece = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        messages = [await receive()]
        first_piece.set()
        messages.append(await receive())
        outcome.set_result(messages)

    async with serving(app) as served:
        async with connect(served.port) as conn:
            await conn.send(b"POST / HTTP/1.1\r\nhost: test\r\ncontent-length: 100\r\n\r\nabc")
            await asyncio.wait_for(first_piece.wait(), timeout=WAIT)
        first, second = await asyncio.wait_for(outcome, timeout=WAIT)
        assert first == {"type": "http.request", "body": b"abc", "more_body": True}
        assert second == {"type": "http.disconnect"}


@on_uvloop
async def test_receive_after_the_response_completed_returns_disconnect() -> None:
    outcome: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await read_all(receive)
        await hello(scope, receive, send)
        outcome.set_result(await receive())

    async with serving(app) as served, connect(served.port) as conn:
        await conn.send(get())
        assert (await read_response(conn.reader)).body == b"hello"
        # the connection is still open (keep-alive), yet the exchange is over
        assert await asyncio.wait_for(outcome, timeout=WAIT) == {"type": "http.disconnect"}


# --- pipelining ---------------------------------------------------------------------------


@on_uvloop
async def test_two_pipelined_requests_get_the_first_answer_then_a_close() -> None:
    chunks = [b"a" * 10, b"b" * 20]
    async with serving(streaming(chunks)) as served, connect(served.port) as conn:
        await conn.send(get("/one") + get("/two"))
        response = await read_response(conn.reader)
        assert response.body == b"".join(chunks)
        # the answer says the connection closes: the client knows to resend the second
        assert response.header(b"connection") == b"close"
        assert await conn.eof()  # nothing more: no second answer and no 400
        assert served.server.server_state.total_requests == 1


@on_uvloop
async def test_request_pipelined_behind_a_body_is_not_answered_and_the_body_is_whole() -> None:
    async with serving(echo) as served, connect(served.port) as conn:
        await conn.send(post(b"payload") + post(b"second"))
        response = await read_response(conn.reader)
        assert response.body == b"payload"
        assert response.header(b"connection") == b"close"
        assert await conn.eof()


@on_uvloop
async def test_request_sent_during_a_streamed_response_closes_the_connection_after_it() -> None:
    first_sent = asyncio.Event()
    go_on = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200))
        await send(body(b"first", more=True))
        first_sent.set()
        await go_on.wait()
        await send(body(b"last"))

    async with serving(app) as served, connect(served.port) as conn:
        await conn.send(get())
        await read_head(conn.reader)
        await asyncio.wait_for(first_sent.wait(), timeout=WAIT)
        await conn.send(get("/second"))
        await until(lambda: not served.transport().is_reading())  # the server saw it, paused
        go_on.set()
        expected = b"5\r\nfirst\r\n4\r\nlast\r\n0\r\n\r\n"
        assert await asyncio.wait_for(conn.reader.readexactly(len(expected)), WAIT) == expected
        assert await conn.eof()


# --- write flow control -------------------------------------------------------------------


@on_uvloop
async def test_app_send_waits_for_a_client_that_does_not_read_and_every_byte_arrives() -> None:
    piece, count = 64 * 1024, 800  # 50 MiB
    sent = 0
    blocked = asyncio.Event()
    done = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal sent
        await send(start(200))
        for i in range(count):
            sending = asyncio.ensure_future(send(body(bytes([i % 256]) * piece, more=True)))
            await asyncio.sleep(0)  # one loop turn: a send that did not finish is waiting
            if not sending.done():
                blocked.set()
            await sending
            sent += piece
        await send(body(b""))
        done.set()

    async with (
        serving(app) as served,
        connect(served.port, receive_buffer=64 * 1024) as conn,
    ):
        await conn.send(get())
        await asyncio.wait_for(blocked.wait(), timeout=WAIT)
        # the kernel's buffers (a few MiB on loopback) and the transport's hold the rest
        assert sent < 10 * MiB, sent
        assert not done.is_set()
        assert served.transport().get_write_buffer_size() <= 1 * MiB
        response = await read_response(conn.reader)
        assert len(response.body) == piece * count
        expected = b"".join(bytes([i % 256]) * piece for i in range(count))
        assert response.body == expected
        await asyncio.wait_for(done.wait(), timeout=WAIT)


# --- graceful shutdown --------------------------------------------------------------------


@on_uvloop
async def test_graceful_shutdown_finishes_a_stream_in_progress_and_closes_idle_connections() -> (
    None
):
    streaming_started = asyncio.Event()
    go_on = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] != "/stream":
            await hello(scope, receive, send)
            return
        await send(start(200))
        await send(body(b"before", more=True))
        streaming_started.set()
        await go_on.wait()
        await send(body(b"after"))

    async with (
        serving(app) as served,
        connect(served.port) as idle,
        connect(served.port) as busy,
    ):
        await idle.send(get())
        assert (await read_response(idle.reader)).body == b"hello"
        await busy.send(get("/stream"))
        await read_head(busy.reader)
        await asyncio.wait_for(streaming_started.wait(), timeout=WAIT)

        served.server.should_exit = True
        assert await idle.eof()
        assert not served.task.done()
        go_on.set()
        expected = b"6\r\nbefore\r\n5\r\nafter\r\n0\r\n\r\n"
        assert await asyncio.wait_for(busy.reader.readexactly(len(expected)), WAIT) == expected
        assert await busy.eof()
        await asyncio.wait_for(served.task, timeout=WAIT)


@on_uvloop
async def test_graceful_shutdown_answers_a_waiting_request_with_connection_close() -> None:
    waiting = asyncio.Event()
    go_on = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/wait":
            waiting.set()
            await go_on.wait()
        await hello(scope, receive, send)

    async with (
        serving(app) as served,
        connect(served.port) as idle,
        connect(served.port) as busy,
    ):
        await idle.send(get())
        await read_response(idle.reader)
        await busy.send(get("/wait"))
        await asyncio.wait_for(waiting.wait(), timeout=WAIT)
        served.server.should_exit = True
        # uvicorn shuts every connection down in one pass: the idle one's close marks it
        assert await idle.eof()
        go_on.set()
        response = await read_response(busy.reader)
        assert (response.body, response.header(b"connection")) == (b"hello", b"close")
        assert await busy.eof()


# --- logging ------------------------------------------------------------------------------


def test_app_errors_are_logged_with_their_traceback(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise ValueError("the cause")

    async def scenario() -> None:
        async with serving(app) as served, connect(served.port) as conn:
            await conn.send(get())
            assert (await read_response(conn.reader)).status == 500

    with caplog.at_level(logging.ERROR, logger="uvicorn.error"):
        on_uvloop(scenario)()
    (record,) = [r for r in caplog.records if r.name == "uvicorn.error"]
    assert record.getMessage() == "Exception in ASGI application"
    assert record.exc_info is not None
    assert "the cause" in str(record.exc_info[1])


@contextmanager
def short_body_deadline(seconds: float) -> Iterator[None]:
    from qwen_proxy.server import protocol

    saved, protocol.BODY_DEADLINE = protocol.BODY_DEADLINE, seconds
    try:
        yield
    finally:
        protocol.BODY_DEADLINE = saved


# --- bounds on the request head ------------------------------------------------------------


@on_uvloop
async def test_a_head_over_64_kib_is_refused_with_431_before_the_app_runs() -> None:
    calls: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append(scope)
        await hello(scope, receive, send)

    async with serving(app) as served, connect(served.port) as conn:
        filler = b"".join(b"x-fill-%d: %s\r\n" % (i, b"v" * 1000) for i in range(70))
        await conn.send(b"GET / HTTP/1.1\r\nhost: x\r\n" + filler + b"\r\n")
        response = await read_response(conn.reader)
        assert response.status == 431
        assert await conn.eof()
    assert calls == []


@on_uvloop
async def test_one_huge_header_value_in_small_pieces_is_cut_at_the_bound() -> None:
    async with serving(hello) as served, connect(served.port) as conn:
        await conn.send(b"GET / HTTP/1.1\r\nx-huge: ")
        for _ in range(100):  # 1 MiB in 10 KiB pieces; the server stops at 64 KiB
            try:
                await conn.send(b"v" * 10240)
            except (ConnectionError, OSError):
                break
        response = await read_response(conn.reader)
        assert response.status == 431


@on_uvloop
async def test_more_than_100_headers_get_431() -> None:
    async with serving(hello) as served, connect(served.port) as conn:
        many = b"".join(b"x-h%d: 1\r\n" % i for i in range(101))
        await conn.send(b"GET / HTTP/1.1\r\n" + many + b"\r\n")
        assert (await read_response(conn.reader)).status == 431


@on_uvloop
async def test_a_target_over_8_kib_gets_414_and_a_long_body_is_still_fine() -> None:
    async with serving(echo) as served:
        async with connect(served.port) as conn:
            await conn.send(get("/" + "a" * 9000))
            assert (await read_response(conn.reader)).status == 414
        async with connect(served.port) as conn:
            await conn.send(post(b"b" * 200_000, "/" + "a" * 8000))
            response = await read_response(conn.reader)
            assert (response.status, len(response.body)) == (200, 200_000)


@on_uvloop
async def test_a_body_trickled_past_the_deadline_gets_408_and_the_connection_ends() -> None:
    with short_body_deadline(0.3):
        async with serving(echo) as served, connect(served.port) as conn:
            await conn.send(b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\nabc")
            response = await read_response(conn.reader)
            assert response.status == 408
            assert await conn.eof()


@on_uvloop
async def test_a_body_that_arrives_in_time_is_not_cut_by_the_deadline() -> None:
    with short_body_deadline(0.3):
        async with serving(echo) as served, connect(served.port) as conn:
            await conn.send(post(b"x" * 1000))
            first = await read_response(conn.reader)
            await asyncio.sleep(0.5)  # idle keep-alive past the body deadline
            await conn.send(post(b"y" * 10))
            second = await read_response(conn.reader)
            assert (first.status, second.status, second.body) == (200, 200, b"y" * 10)
