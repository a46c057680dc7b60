"""Helpers (no tests): a tiny HTTP proxy on a free port that records what it was asked.

It speaks the two forms an HTTP client uses through a proxy: ``CONNECT host:port`` (a blind
tunnel, for https origins) and absolute-form requests (``GET http://host:port/path``, for plain
http origins), which it forwards as origin-form with ``Connection: close``, minus its own
``Proxy-Authorization`` as a real proxy does. One request per client connection: enough for a
client that reuses nothing the proxy closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from tcp_support import TcpServer

_HOP_BY_HOP = {b"proxy-authorization", b"proxy-connection", b"connection", b"keep-alive"}


@dataclass(frozen=True)
class ProxiedRequest:
    """One request the proxy received: its method, target and ``Proxy-Authorization``."""

    method: str
    target: str
    proxy_authorization: str | None


class HttpProxy(TcpServer):
    """``async with HttpProxy() as proxy:`` serves on ``proxy.url`` and fills ``proxy.seen``.

    ``refuse_connect`` answers every CONNECT with that status instead of opening a tunnel;
    ``tunnels`` counts the tunnels opened.
    """

    def __init__(self, *, refuse_connect: int | None = None) -> None:
        super().__init__()
        self.refuse_connect = refuse_connect
        self.seen: list[ProxiedRequest] = []
        self.tunnels = 0

    def url_with(self, user: str, password: str) -> str:
        """The proxy's URL carrying ``user:password``."""
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One request per connection: a CONNECT tunnel or one forwarded request."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        method, target, _ = lines[0].decode("latin-1").split(" ", 2)
        headers = [line.partition(b":") for line in lines[1:]]
        auth = next(
            (v.strip().decode() for k, _, v in headers if k.lower() == b"proxy-authorization"),
            None,
        )
        self.seen.append(ProxiedRequest(method, target, auth))
        if method == "CONNECT":
            await self._tunnel(target, reader, writer)
            return
        url = urlsplit(target)
        if url.scheme != "http" or url.hostname is None:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        forwarded = [f"{method} {url.path or '/'}{'?' + url.query if url.query else ''} HTTP/1.1"]
        forwarded += [
            f"{k.decode('latin-1')}:{v.decode('latin-1')}"
            for k, _, v in headers
            if k.strip().lower() not in _HOP_BY_HOP
        ]
        forwarded.append("Connection: close")
        origin_reader, origin_writer = await asyncio.open_connection(url.hostname, url.port or 80)
        origin_writer.write(("\r\n".join(forwarded) + "\r\n\r\n").encode("latin-1"))
        await _pipe_both_ways(reader, writer, origin_reader, origin_writer)

    async def _tunnel(
        self, authority: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self.refuse_connect is not None:
            writer.write(
                f"HTTP/1.1 {self.refuse_connect} Refused\r\n"
                'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'.encode()
            )
            await writer.drain()
            return
        host, _, port = authority.rpartition(":")
        origin_reader, origin_writer = await asyncio.open_connection(host, int(port))
        self.tunnels += 1
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await _pipe_both_ways(reader, writer, origin_reader, origin_writer)


@contextlib.contextmanager
def running_proxy(*, refuse_connect: int | None = None) -> Iterator[HttpProxy]:
    """An ``HttpProxy`` served from a thread of its own, for callers on other loops or threads."""
    proxy = HttpProxy(refuse_connect=refuse_connect)
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(proxy.__aenter__())
        started.set()
        loop.run_forever()
        loop.run_until_complete(proxy.__aexit__(None, None, None))
        loop.close()

    thread = threading.Thread(target=run, name="test-http-proxy", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the test proxy did not start")
    try:
        yield proxy
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


async def _pipe_both_ways(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    origin_reader: asyncio.StreamReader,
    origin_writer: asyncio.StreamWriter,
) -> None:
    """Copy bytes each way until either side ends (all it sent is passed on), then close both."""
    up = asyncio.create_task(_copy(client_reader, origin_writer))
    down = asyncio.create_task(_copy(origin_reader, client_writer))
    try:
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        up.cancel()
        down.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
        origin_writer.close()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
