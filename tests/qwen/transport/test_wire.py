"""The upstream wire (qwen/transport/wire.py) on real sockets: reuse, framing, encodings, timeouts,
back-pressure, TLS and per-account HTTP proxies.

Each test starts its own small server on 127.0.0.1: a raw asyncio one when the exact bytes
matter, aiohttp.web when a real HTTP server (and TLS) is the point.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import socket
import ssl
import struct
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import openai
import pytest
import trustme
from aiohttp import web

from gateway_support import MODEL, browser_session, gateway_settings, running_gateway
from proxy_support import HttpProxy, ProxiedRequest, running_proxy
from qwen_proxy.accounts import save_accounts
from qwen_proxy.config import Settings
from qwen_proxy.emulator.testing import EmulatorHandle
from qwen_proxy.qwen.client import QwenClient
from qwen_proxy.qwen.errors import UpstreamConnectionError, UpstreamTimeout
from qwen_proxy.qwen.transport import wire
from qwen_proxy.qwen.transport.connection import HIGH_WATER, WireResponse
from qwen_proxy.qwen.transport.endpoint import parse_endpoint, request_head
from qwen_proxy.qwen.transport.wire import WirePool
from tcp_support import TcpServer

pytestmark = pytest.mark.integration

#: the idle timeout the timing tests use; the pool sweeps every IDLE / 4
IDLE = 0.3

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


# -- servers ------------------------------------------------------------------------------------


class RawServer(TcpServer):
    """An asyncio server on a free port; every connection runs ``handler``.

    ``connections`` counts the TCP connections accepted, ``requests`` the request heads read
    with ``read_request``.
    """

    def __init__(self, handler: Handler) -> None:
        super().__init__()
        self._handler = handler
        self.requests: list[bytes] = []
        self.bodies: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._handler(reader, writer)

    async def read_request(self, reader: asyncio.StreamReader) -> bytes | None:
        """The next request's head (its body goes to ``bodies``); None when the client left."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        body = b""
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                body = await reader.readexactly(int(value))
        self.requests.append(head)
        self.bodies.append(body)
        return head


def answer(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    """A whole response with a Content-Length."""
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(body: bytes, size: int) -> bytes:
    """``body`` in chunked transfer coding, ``size`` bytes a chunk."""
    out = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return b"".join(out) + b"0\r\n\r\n"


def pattern(size: int) -> bytes:
    """``size`` bytes where a shifted or dropped piece shows (not one repeated byte)."""
    block = bytes(range(251))  # a prime length: no power-of-two split lines up with it
    return (block * (size // len(block) + 1))[:size]


def keep_alive_server(body: bytes) -> RawServer:
    """Answers every request on a connection with ``body`` and keeps the connection."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await server.read_request(reader) is not None:
            writer.write(answer(body, "Content-Type: text/plain"))
            await writer.drain()

    server = RawServer(handler)
    return server


async def call(pool: WirePool, url: str, path: str = "/") -> WireResponse:
    """One GET through ``pool``; returns once the response's headers are in."""
    endpoint = parse_endpoint(url)
    return await pool.request(endpoint, request_head(endpoint, "GET", path, {}, None))


def canned(payload: bytes, *, close: bool = False) -> RawServer:
    """A server that answers each connection's first request with ``payload``, then idles.

    It keeps its end open afterwards (only the answer itself says whether it is over),
    unless ``close`` ends a close-delimited answer.
    """

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(payload)
        await writer.drain()
        if close:
            writer.close()
        await reader.read()

    server = RawServer(handler)
    return server


async def fetch(pool: WirePool, url: str, path: str = "/") -> bytes:
    """One GET read to its end, its connection given back to the pool."""
    response = await call(pool, url, path)
    try:
        return await response.read_all(64 << 20)
    finally:
        pool.release(response)


def reset_connection(writer: asyncio.StreamWriter) -> None:
    """Drop the connection with a TCP reset (SO_LINGER 0), not a clean FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def pool() -> AsyncIterator[WirePool]:
    """A pool with a 2 s connect timeout and the short idle timeout."""
    upstream = WirePool(connect_timeout=2.0, idle_timeout=IDLE)
    yield upstream
    upstream.close()


# -- name lookups -------------------------------------------------------------------------------


def count_lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The hosts the running loop is asked to look up, in order."""
    loop = asyncio.get_running_loop()
    lookups: list[str] = []
    real = loop.getaddrinfo

    async def counting(host: str, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        return await real(host, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", counting)
    return lookups


async def test_new_connections_to_one_host_look_it_up_once(
    pool: WirePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups = count_lookups(monkeypatch)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(answer(b"ok", "Connection: close"))
        await writer.drain()

    async with RawServer(handler) as server:
        url = f"http://localhost:{server.port}"
        assert [await fetch(pool, url) for _ in range(3)] == [b"ok"] * 3
    assert server.connections == 3
    assert lookups == ["localhost"]


async def test_a_host_that_did_not_answer_is_looked_up_again(
    pool: WirePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups = count_lookups(monkeypatch)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    for _ in range(2):
        with pytest.raises(UpstreamConnectionError):
            await fetch(pool, f"http://localhost:{port}")
    assert lookups == ["localhost", "localhost"]


# -- keep-alive ---------------------------------------------------------------------------------


async def test_two_calls_to_a_keep_alive_server_share_one_connection(pool: WirePool) -> None:
    async with keep_alive_server(b"hello") as server:
        assert await fetch(pool, server.url) == b"hello"
        assert await fetch(pool, server.url) == b"hello"
    assert server.connections == 1
    assert len(server.requests) == 2


async def test_an_answer_with_connection_close_is_not_reused(pool: WirePool) -> None:
    async with canned(answer(b"bye", "Connection: close")) as server:
        assert await fetch(pool, server.url) == b"bye"
        assert await fetch(pool, server.url) == b"bye"
    assert server.connections == 2


async def test_an_http_1_0_answer_without_keep_alive_is_not_reused(pool: WirePool) -> None:
    async with canned(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok") as server:
        assert await fetch(pool, server.url) == b"ok"
        assert await fetch(pool, server.url) == b"ok"
    assert server.connections == 2


async def test_a_reply_given_back_before_its_end_is_not_reused(pool: WirePool) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await server.read_request(reader) is not None:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf!")
            await writer.drain()

    async with RawServer(handler) as server:
        first = await call(pool, server.url)
        assert await first.read() == b"half!"
        pool.release(first)  # five bytes still owed: this connection cannot carry another call
        second = await call(pool, server.url)
        assert await second.read() == b"half!"
        pool.release(second)
    assert server.connections == 2


async def test_a_pooled_connection_the_server_closed_while_idle_is_replaced(
    pool: WirePool,
) -> None:
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(answer(b"one"))  # keep-alive by HTTP/1.1's default...
        await writer.drain()
        writer.close()  # ...then closed while the pool holds it idle
        await writer.wait_closed()
        closed.set()

    async with RawServer(handler) as server:
        assert await fetch(pool, server.url) == b"one"
        await closed.wait()
        assert await fetch(pool, server.url) == b"one"
    assert server.connections == 2
    assert len(server.requests) == 2


async def test_a_kept_connection_dropped_as_the_request_arrives_is_retried_once_on_a_new_one(
    pool: WirePool,
) -> None:
    # the race keep-alive clients live with: the server gives up on the idle connection just as
    # the next request is sent on it. Nothing was answered, so the call goes to a new connection.
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first_on_this_connection = True
        while await server.read_request(reader) is not None:
            if not first_on_this_connection:
                return  # closes without a byte of answer
            first_on_this_connection = False
            writer.write(answer(b"fresh"))
            await writer.drain()

    async with RawServer(handler) as server:
        endpoint = parse_endpoint(server.url)
        for body in (b'{"n":1}', b'{"n":2}'):
            head = request_head(endpoint, "POST", "/api/v2/chats/new", {}, len(body))
            response = await pool.request(endpoint, head + body)
            assert await response.read_all() == b"fresh"
            pool.release(response)
    assert server.connections == 2
    # one answered, one dropped unanswered, and its retry carrying the same body again
    assert server.bodies == [b'{"n":1}', b'{"n":2}', b'{"n":2}']


async def test_a_connection_idle_longer_than_the_keep_window_is_not_reused(
    pool: WirePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wire, "KEEP_IDLE_SECONDS", 0.0)  # every idle connection is too old
    async with keep_alive_server(b"hello") as server:
        assert await fetch(pool, server.url) == b"hello"
        assert await fetch(pool, server.url) == b"hello"
    assert server.connections == 2


async def test_a_new_connection_closed_without_an_answer_fails_and_is_not_retried(
    pool: WirePool,
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)

    async with RawServer(handler) as server:
        with pytest.raises(UpstreamConnectionError, match="without answering"):
            await call(pool, server.url)
    assert server.connections == 1


# -- bodies -------------------------------------------------------------------------------------

BODY = pattern(200_000)


def _framed(framing: str, body: bytes) -> tuple[bytes, bytes]:
    """The head and encoded body of a 200 answer carrying ``body`` framed as ``framing``."""
    if framing == "content-length":
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body), body
    if framing == "chunked":
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", chunked(body, 7919)
    if framing == "chunked-extensions-trailers":
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        coded = chunked(body, 65536).replace(b"\r\n", b";ext=1\r\n", 1)
        return head, coded[: -len(b"\r\n")] + b"X-Trailer: yes\r\n\r\n"
    assert framing == "connection-close"
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", body


@pytest.mark.parametrize(
    "framing", ["content-length", "chunked", "chunked-extensions-trailers", "connection-close"]
)
@pytest.mark.parametrize("piece", [1, 1000, 1 << 20], ids=["byte-by-byte-head", "1000", "whole"])
async def test_a_body_arrives_whole_whatever_its_framing_and_the_split(
    pool: WirePool, framing: str, piece: int
) -> None:
    head, coded = _framed(framing, BODY)
    message = head + coded

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        # byte by byte through the head and the first chunk lines, then in bigger pieces
        cuts = list(range(0, len(head) + 64, piece)) if piece == 1 else []
        cuts += list(range(cuts[-1] + 1 if cuts else 0, len(message), max(piece, 1000)))
        for start, end in zip(cuts, [*cuts[1:], len(message)], strict=True):
            writer.write(message[start:end])
            await writer.drain()
        if framing == "connection-close":
            writer.close()
        await reader.read()

    async with RawServer(handler) as server:
        response = await call(pool, server.url)
        assert response.status == 200
        assert await response.read_all(1 << 20) == BODY
        pool.release(response)


async def test_an_error_status_and_its_content_type_reach_the_caller(pool: WirePool) -> None:
    body = b'{"detail":"nope"}'
    forbidden = answer(body, "Content-Type: application/json", status="403 Forbidden")
    async with canned(forbidden) as server:
        response = await call(pool, server.url)
        assert (response.status, response.content_type) == (403, "application/json")
        assert await response.read_all() == b'{"detail":"nope"}'
        pool.release(response)


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data)


def _deflate(data: bytes) -> bytes:
    return zlib.compress(data)  # HTTP's "deflate" is the zlib format (RFC 9110 §8.4.1.2)


@pytest.mark.parametrize(("encoding", "compress"), [("gzip", _gzip), ("deflate", _deflate)])
@pytest.mark.parametrize("framing", ["content-length", "chunked", "connection-close"])
async def test_a_compressed_body_is_decoded(
    pool: WirePool, encoding: str, compress: Callable[[bytes], bytes], framing: str
) -> None:
    text = b'data: {"choices":[{"delta":{"content":"hello"}}]}\n\n' * 5000
    head, coded = _framed(framing, compress(text))
    head = head.replace(b"\r\n\r\n", f"\r\nContent-Encoding: {encoding}\r\n\r\n".encode())

    async with canned(head + coded, close=framing == "connection-close") as server:
        response = await call(pool, server.url)
        assert await response.read_all(1 << 20) == text
        pool.release(response)
        assert b"accept-encoding: gzip, deflate" in server.requests[0].lower()


async def test_a_corrupt_compressed_body_is_a_connection_error(pool: WirePool) -> None:
    coded = _gzip(pattern(50_000))
    coded = coded[:20] + bytes(b ^ 0xFF for b in coded[20:200]) + coded[200:]

    async with canned(answer(coded, "Content-Encoding: gzip")) as server:
        response = await call(pool, server.url)
        with pytest.raises(UpstreamConnectionError, match="corrupt"):
            await response.read_all()
        pool.release(response)


async def test_a_compressed_body_cut_short_is_a_connection_error(pool: WirePool) -> None:
    text = pattern(50_000)
    cut = _gzip(text)[:-100]  # framed correctly, but the gzip stream inside it is incomplete

    async with canned(answer(cut, "Content-Encoding: gzip")) as server:
        response = await call(pool, server.url)
        with pytest.raises(UpstreamConnectionError):
            await response.read_all()
        pool.release(response)


# -- broken connections and timeouts ----------------------------------------------------------


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("how", ["close", "reset"])
async def test_a_connection_cut_mid_body_is_a_connection_error(
    pool: WirePool, framing: str, how: str
) -> None:
    head, coded = _framed(framing, BODY)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(head + coded[: len(coded) // 2])
        await writer.drain()
        if how == "reset":
            reset_connection(writer)

    async with RawServer(handler) as server:
        response = await call(pool, server.url)
        with pytest.raises(UpstreamConnectionError, match="broke during the reply"):
            await response.read_all(1 << 20)
        pool.release(response)


async def test_a_reset_connection_is_an_error_even_for_a_body_read_to_eof(
    pool: WirePool,
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n\r\npartial")
        await writer.drain()
        reset_connection(writer)

    async with RawServer(handler) as server:
        response = await call(pool, server.url)
        with pytest.raises(UpstreamConnectionError):
            await response.read_all()
        pool.release(response)


async def test_a_malformed_answer_is_a_connection_error(pool: WirePool) -> None:
    async with canned(b"SSH-2.0-OpenSSH_9.6\r\n\r\n") as server:
        with pytest.raises(UpstreamConnectionError, match="malformed"):
            await call(pool, server.url)


async def test_an_answer_framed_both_by_chunks_and_by_length_fails_and_is_not_reused(
    pool: WirePool,
) -> None:
    smuggled = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
        + chunked(b"hello", 5)
    )
    async with canned(smuggled) as server:
        for _ in range(2):
            with pytest.raises(UpstreamConnectionError, match="malformed"):
                await fetch(pool, server.url)
    assert server.connections == 2


async def test_a_refused_connection_is_a_connection_error(pool: WirePool) -> None:
    with pytest.raises(UpstreamConnectionError, match="Could not reach") as caught:
        await call(pool, f"http://127.0.0.1:{free_port()}")
    assert "connection was refused" in caught.value.message
    assert "Error)" not in caught.value.message  # words, not an exception class name


@dataclass(frozen=True)
class Account:
    """What QwenClient needs of an account."""

    token: str = "test-token"
    name: str = "acc"
    cookies: str | None = None
    proxy: str | None = field(default=None, repr=False)
    browser: None = None


def settings_for(url: str, **overrides: Any) -> Settings:
    """Settings for a QwenClient against ``url`` with short timeouts."""
    values: dict[str, Any] = {
        "upstream_url": url,
        "connect_timeout": 2.0,
        "first_byte_timeout": 2.0,
        "idle_timeout": IDLE,
    }
    values.update(overrides)
    return Settings(**values)


async def started(client: QwenClient) -> QwenClient:
    await client.start()
    return client


async def test_an_upstream_that_never_answers_is_a_timeout_from_the_client() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        await reader.read()  # takes the request, never says a word

    async with RawServer(handler) as server:
        client = await started(QwenClient(settings_for(server.url, first_byte_timeout=IDLE)))
        begun = time.monotonic()
        with pytest.raises(UpstreamTimeout, match="before the first byte"):
            await client.verify(Account())
        waited = time.monotonic() - begun
        await client.close()
    assert IDLE * 0.9 <= waited < IDLE + 1.0
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "framing",
    [
        "content-length",
        "chunked",
        "connection-close",
    ],
)
async def test_a_body_that_goes_quiet_is_a_timeout_after_about_the_idle_timeout(
    pool: WirePool, framing: str
) -> None:
    head, coded = _framed(framing, BODY)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(head + coded[:1000])
        await writer.drain()
        await reader.read()  # and then nothing

    async with RawServer(handler) as server:
        response = await call(pool, server.url)
        first = await response.read()
        assert first
        assert BODY.startswith(first)
        begun = time.monotonic()
        with pytest.raises(UpstreamTimeout, match="idle timeout"):
            await response.read()
        waited = time.monotonic() - begun
        pool.release(response)
    # at most one sweep (IDLE / 4) late, plus scheduling slack on a busy 2-core machine
    assert IDLE * 0.5 <= waited < IDLE + IDLE / 4 + 0.5


# -- back-pressure ------------------------------------------------------------------------------


class BulkServer:
    """Sends one big Content-Length body as fast as the client takes it.

    ``stalled`` is set while the server waits for the client to take bytes (its socket
    buffers are full), ``finished`` once it wrote everything.
    """

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.stalled = asyncio.Event()
        self.finished = asyncio.Event()
        self.raw = RawServer(self._handler)

    async def _handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.raw.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(self.body))
        view = memoryview(self.body)
        for start in range(0, len(self.body), 65536):
            writer.write(view[start : start + 65536])
            if writer.transport.get_write_buffer_size() > 65536:
                self.stalled.set()
            await writer.drain()
            self.stalled.clear()
        self.finished.set()
        await reader.read()

    async def slow_consumer_pause(self) -> None:
        """Wait until the server is held up by the client, or has nothing left to send."""
        waits = [asyncio.ensure_future(e.wait()) for e in (self.stalled, self.finished)]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()


async def test_a_big_body_read_slowly_arrives_complete_with_bounded_buffering(
    pool: WirePool,
) -> None:
    bulk = BulkServer(pattern(64 * HIGH_WATER))
    async with bulk.raw as server:
        response = await call(pool, server.url)
        parts: list[bytes] = []
        while data := await response.read():
            parts.append(data)
            await bulk.slow_consumer_pause()
        pool.release(response)
    assert b"".join(parts) == bulk.body
    # reading pauses above HIGH_WATER: one read hands over at most that plus one socket read
    # (256 KiB); without back-pressure the client would buffer the whole 16 MiB meanwhile
    assert max(map(len, parts)) <= 2 * HIGH_WATER
    assert server.connections == 1


async def test_a_slow_consumer_is_not_mistaken_for_a_quiet_upstream(pool: WirePool) -> None:
    bulk = BulkServer(pattern(64 * HIGH_WATER))
    async with bulk.raw as server:
        response = await call(pool, server.url)
        parts = [await response.read()]
        await bulk.slow_consumer_pause()
        # the consumer (a slow API client, say) sits on the stream for three idle timeouts
        await asyncio.sleep(3 * IDLE)
        while data := await response.read():
            parts.append(data)
        pool.release(response)
    assert b"".join(parts) == bulk.body


async def test_a_complete_reply_given_back_unread_leaves_a_usable_connection(
    pool: WirePool,
) -> None:
    # 300 KiB: the last socket read takes the buffered body past HIGH_WATER (pausing the
    # transport) and completes it in the same read
    body = pattern(300 * 1024)
    async with keep_alive_server(body) as server:
        first = await call(pool, server.url)
        async with asyncio.timeout(5):
            # nothing to await: the caller does not read, so only the state says it is complete
            while first.reading:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
        pool.release(first)
        async with asyncio.timeout(2):
            assert await fetch(pool, server.url) == body
    assert server.connections == 1


# -- TLS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A test certificate authority."""
    return trustme.CA()


@pytest.fixture(scope="module")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 signed by ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts ``ca`` (and nothing else)."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture(scope="module")
def stranger_tls() -> ssl.SSLContext:
    """A client context that trusts another CA only."""
    context = ssl.create_default_context()
    trustme.CA().configure_trust(context)
    return context


@dataclass
class Origin:
    """An aiohttp.web upstream; ``seen`` holds (peer port, headers) of each request."""

    port: int
    scheme: str
    seen: list[tuple[int, dict[str, str]]]

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"


@pytest.fixture
async def origin_factory() -> AsyncIterator[Callable[[ssl.SSLContext | None], Awaitable[Origin]]]:
    """Starts aiohttp.web upstreams answering Qwen's auth check (``verify``)."""
    runners: list[web.AppRunner] = []

    async def start(tls: ssl.SSLContext | None) -> Origin:
        seen: list[tuple[int, dict[str, str]]] = []

        async def auths(request: web.Request) -> web.Response:
            assert request.transport is not None
            peer = request.transport.get_extra_info("peername")
            seen.append((int(peer[1]), dict(request.headers)))
            return web.json_response({"success": True, "data": {"id": "user-1"}})

        app = web.Application()
        app.router.add_get("/api/v1/auths/", auths)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
        await site.start()
        port = int(runner.addresses[0][1])
        return Origin(port, "https" if tls else "http", seen)

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_an_https_upstream_is_verified_against_the_given_ca_and_kept_alive(
    origin_factory: Callable[[ssl.SSLContext | None], Awaitable[Origin]],
    server_tls: ssl.SSLContext,
    client_tls: ssl.SSLContext,
) -> None:
    origin = await origin_factory(server_tls)
    client = await started(QwenClient(settings_for(origin.url), ssl_context=client_tls))
    try:
        assert await client.verify(Account()) == {"success": True, "data": {"id": "user-1"}}
        assert await client.verify(Account()) == {"success": True, "data": {"id": "user-1"}}
    finally:
        await client.close()
    (port_1, headers), (port_2, _) = origin.seen
    assert port_1 == port_2  # one TLS connection carried both calls
    assert headers["Host"] == f"127.0.0.1:{origin.port}"
    assert headers["Authorization"] == "Bearer test-token"


async def test_an_https_upstream_whose_certificate_is_not_trusted_is_a_connection_error(
    origin_factory: Callable[[ssl.SSLContext | None], Awaitable[Origin]],
    server_tls: ssl.SSLContext,
    stranger_tls: ssl.SSLContext,
) -> None:
    origin = await origin_factory(server_tls)
    wire = WirePool(connect_timeout=2.0, idle_timeout=IDLE, ssl_context=stranger_tls)
    try:
        with pytest.raises(UpstreamConnectionError, match="Could not reach"):
            await call(wire, origin.url, "/api/v1/auths/")
    finally:
        wire.close()
    assert origin.seen == []


# -- per-account proxies ------------------------------------------------------------------------

_AUTH = "Basic " + base64.b64encode(b"alice:s3cret").decode()


async def test_a_plain_http_upstream_is_reached_through_the_accounts_proxy_in_absolute_form(
    origin_factory: Callable[[ssl.SSLContext | None], Awaitable[Origin]],
) -> None:
    origin = await origin_factory(None)
    async with HttpProxy() as proxy:
        client = await started(QwenClient(settings_for(origin.url)))
        try:
            await client.verify(Account(proxy=proxy.url_with("alice", "s3cret")))
            await client.verify(Account())  # an account without a proxy goes direct
        finally:
            await client.close()
    assert proxy.seen == [
        ProxiedRequest("GET", f"http://127.0.0.1:{origin.port}/api/v1/auths/", _AUTH)
    ]
    proxied, direct = (headers for _, headers in origin.seen)
    assert proxied["Host"] == direct["Host"] == f"127.0.0.1:{origin.port}"
    assert proxied["Authorization"] == "Bearer test-token"
    assert "Proxy-Authorization" not in proxied  # the proxy consumed it
    assert "Proxy-Authorization" not in direct


async def test_an_https_upstream_is_reached_through_a_connect_tunnel_verified_end_to_end(
    origin_factory: Callable[[ssl.SSLContext | None], Awaitable[Origin]],
    server_tls: ssl.SSLContext,
    client_tls: ssl.SSLContext,
) -> None:
    origin = await origin_factory(server_tls)
    async with HttpProxy() as proxy:
        account = Account(proxy=proxy.url_with("alice", "s3cret"))
        client = await started(QwenClient(settings_for(origin.url), ssl_context=client_tls))
        try:
            assert await client.verify(account) == {"success": True, "data": {"id": "user-1"}}
            assert await client.verify(account) == {"success": True, "data": {"id": "user-1"}}
        finally:
            await client.close()
    authority = f"127.0.0.1:{origin.port}"
    assert proxy.seen == [ProxiedRequest("CONNECT", authority, _AUTH)]
    assert proxy.tunnels == 1  # the second call reused the tunnel's TLS connection
    assert len(origin.seen) == 2
    for _, headers in origin.seen:
        # inside the tunnel the origin gets the account's token, never the proxy's secret
        assert headers["Authorization"] == "Bearer test-token"
        assert headers["Host"] == authority
        assert not any(name.lower() == "proxy-authorization" for name in headers)


async def test_a_tunnel_to_an_untrusted_origin_is_a_connection_error(
    origin_factory: Callable[[ssl.SSLContext | None], Awaitable[Origin]],
    server_tls: ssl.SSLContext,
    stranger_tls: ssl.SSLContext,
) -> None:
    origin = await origin_factory(server_tls)
    async with HttpProxy() as proxy:
        client = await started(QwenClient(settings_for(origin.url), ssl_context=stranger_tls))
        try:
            with pytest.raises(UpstreamConnectionError):
                await client.verify(Account(proxy=proxy.url))
        finally:
            await client.close()
    assert origin.seen == []


async def test_a_proxy_that_refuses_the_tunnel_is_a_connection_error_naming_its_status(
    origin_factory: Callable[[ssl.SSLContext | None], Awaitable[Origin]],
    server_tls: ssl.SSLContext,
    client_tls: ssl.SSLContext,
) -> None:
    origin = await origin_factory(server_tls)
    async with HttpProxy(refuse_connect=407) as proxy:
        client = await started(QwenClient(settings_for(origin.url), ssl_context=client_tls))
        try:
            with pytest.raises(UpstreamConnectionError, match="HTTP 407") as caught:
                await client.verify(Account(proxy=proxy.url_with("alice", "wrong")))
        finally:
            await client.close()
    assert "wrong" not in str(caught.value)
    assert [seen.method for seen in proxy.seen] == ["CONNECT"]
    assert origin.seen == []


# -- the whole gateway --------------------------------------------------------------------------


@pytest.fixture
def proxy_in_thread() -> Iterator[HttpProxy]:
    """A proxy on a loop of its own: the gateway under test runs on another thread."""
    with running_proxy() as proxy:
        yield proxy


def test_an_account_with_a_proxy_streams_its_completion_through_that_proxy(
    emulator: EmulatorHandle, proxy_in_thread: HttpProxy, tmp_path: Path
) -> None:
    proxy = proxy_in_thread
    account = replace(browser_session(emulator, "a"), proxy=proxy.url_with("alice", "s3cret"))
    save_accounts(tmp_path / "accounts.json", [account])
    with running_gateway(gateway_settings(emulator.url, None, tmp_path)) as gateway:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="test", max_retries=0)
        stream = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text
    completions = [seen for seen in proxy.seen if "/api/v2/chat/completions" in seen.target]
    assert len(completions) == 1
    assert completions[0].method == "POST"
    assert completions[0].target.startswith(emulator.url + "/api/v2/chat/completions?chat_id=")
    assert completions[0].proxy_authorization == _AUTH
    assert emulator.requests("/api/v2/chat/completions")  # and it reached the upstream


async def test_the_real_status_of_a_200_and_the_cookies_it_sets_reach_the_caller(
    pool: WirePool,
) -> None:
    body = b'{"success":false}'
    headers = ("Content-Type: application/json", "x-actual-status-code: 429", "Set-Cookie: a=1")
    async with canned(answer(body, *headers)) as server:
        response = await call(pool, server.url)
        assert (response.status, response.actual_status) == (200, 429)
        assert response.set_cookies == ("a=1",)
        assert await response.read_all() == body
        pool.release(response)
