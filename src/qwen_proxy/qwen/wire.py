"""HTTP/1.1 to the upstream, for every call and above all the one that stays open: the stream.

A completion stream may stay open for minutes, so what it holds matters. aiohttp keeps about
10 KB per open response (its C parser's header lists, three deques, a read timer re-armed on
every read); an open stream here is a transport, one ``WireResponse`` with slots and its
``http1.ResponseParser`` (~1.5 KB in all). This module does the I/O: connections (direct or
through an ``http://`` proxy, CONNECT for https), TLS, keep-alive reuse, gzip/deflate bodies,
and the connect, first-byte and idle timeouts. What an answer means is ``classify``'s job.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
import zlib
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from qwen_proxy.qwen.errors import UpstreamConnectionError, UpstreamTimeout
from qwen_proxy.qwen.http1 import ProtocolError, ResponseParser

#: reading pauses while this much of a body waits for the consumer
HIGH_WATER = 256 * 1024
#: idle connections kept per endpoint, and for how long
MAX_IDLE = 32
KEEP_IDLE_SECONDS = 15.0
#: how long a host's looked-up addresses are reused
DNS_TTL = 300.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where one origin is reached, directly or through an HTTP proxy."""

    scheme: str
    host: str
    port: int
    proxy_host: str | None = None
    proxy_port: int = 0
    proxy_auth: bytes | None = field(default=None, repr=False)  # a secret: never in a repr

    @property
    def host_header(self) -> str:
        """The ``Host`` value: the port only when it is not the scheme's default."""
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def authority(self) -> str:
        """``host:port`` as a CONNECT request names it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_endpoint(base_url: str, proxy: str | None = None) -> Endpoint:
    """The ``Endpoint`` for ``base_url`` (http or https), through ``proxy`` when given."""
    url = urlsplit(base_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError("the upstream URL must be http:// or https:// with a host")
    port = url.port or (443 if url.scheme == "https" else 80)
    if not proxy:
        return Endpoint(url.scheme, url.hostname, port)
    via = urlsplit(proxy)
    if via.scheme != "http" or not via.hostname:
        raise ValueError("an account's proxy must be an http:// URL with a host")
    auth = None
    if via.username is not None:
        pair = f"{unquote(via.username)}:{unquote(via.password or '')}".encode()
        auth = b"Basic " + base64.b64encode(pair)
    return Endpoint(url.scheme, url.hostname, port, via.hostname, via.port or 80, auth)


def request_head(
    endpoint: Endpoint, method: str, path: str, headers: dict[str, str], body_length: int | None
) -> bytes:
    """The request line and headers of one call (absolute-form through a plain-http proxy)."""
    target = path
    if endpoint.proxy_host is not None and endpoint.scheme == "http":
        target = f"http://{endpoint.host_header}{path}"
    if any(c in target for c in " \r\n") or not method.isalpha():
        raise ValueError("the upstream request line would be malformed")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {endpoint.host_header}"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"the upstream header {name!r} contains a line break")
        lines.append(f"{name}: {value}")
    lines.append("Accept-Encoding: gzip, deflate")
    if body_length is not None:
        lines.append(f"Content-Length: {body_length}")
    head = ("\r\n".join(lines) + "\r\n").encode()
    if endpoint.proxy_auth is not None and endpoint.scheme == "http":
        head += b"Proxy-Authorization: " + endpoint.proxy_auth + b"\r\n"
    return head + b"\r\n"


class WireResponse(asyncio.Protocol):
    """One connection and the response currently on it: status, content type, body bytes."""

    __slots__ = (
        "_chunks",
        "_complete",
        "_decoder",
        "_error",
        "_headers_done",
        "_idle",
        "_last_read",
        "_loop",
        "_parser",
        "_paused",
        "_size",
        "_waiter",
        "content_type",
        "endpoint",
        "received",
        "status",
        "transport",
    )

    def __init__(self, endpoint: Endpoint, idle_timeout: float) -> None:
        self._loop = asyncio.get_running_loop()
        self.endpoint = endpoint
        self._idle = idle_timeout
        self.transport: asyncio.Transport | None = None
        self._parser: ResponseParser | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._error: Exception | None = None
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.content_type = ""
        self.received = False
        self._headers_done = False
        self._complete = False
        self._decoder: zlib._Decompress | None = None
        self._chunks: list[bytes] = []
        self._size = 0
        self._paused = False
        self._last_read = self._loop.time()

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._last_read = self._loop.time()
        self.received = True
        parser = self._parser
        if parser is None or self._complete:
            self._fail(UpstreamConnectionError("The upstream sent bytes nobody asked for."))
            return
        try:
            body = parser.feed(data)
        except ProtocolError as exc:
            self._fail(UpstreamConnectionError(f"The upstream's HTTP answer is malformed ({exc})."))
            return
        if not self._headers_done and parser.head_done:
            self._head_done(parser)
        if body:
            self._body(body)
        if parser.complete and self._error is None:
            self._finish()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._complete or self._error is not None:
            return
        parser = self._parser
        if parser is not None and parser.reads_to_eof and exc is None:
            parser.eof()
            self._finish()  # a body delimited by the connection's end
            return
        self._fail(
            UpstreamConnectionError("The connection to the upstream broke during the reply.")
            if self._headers_done
            else UpstreamConnectionError("The upstream closed the connection without answering."),
            close=False,
        )

    def pause_writing(self) -> None:  # requests are small: nothing waits on writes
        pass

    def resume_writing(self) -> None:
        pass

    # -- what the parser found ----------------------------------------------------------------

    def _head_done(self, parser: ResponseParser) -> None:
        self.status = parser.status
        self.content_type = parser.content_type
        if parser.content_encoding == "gzip":
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif parser.content_encoding == "deflate":
            self._decoder = zlib.decompressobj()
        self._headers_done = True
        self._wake()

    def _body(self, body: bytes) -> None:
        if self._decoder is not None:
            try:
                body = self._decoder.decompress(body)
            except zlib.error:
                self._fail(UpstreamConnectionError("The upstream's compressed body is corrupt."))
                return
            if not body:
                return
        self._chunks.append(body)
        self._size += len(body)
        if self._size > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    # -- the caller's side --------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Write one request; the next response is parsed fresh."""
        if self.transport is None or self.transport.is_closing():
            raise UpstreamConnectionError("The connection to the upstream is closed.")
        if self._paused:  # the last reply was given back unread while reading was paused
            self.transport.resume_reading()
        self._reset()
        self._parser = ResponseParser()
        self.transport.write(data)

    async def headers(self) -> None:
        """Wait for the response's status and headers (the caller bounds the wait)."""
        while not self._headers_done:
            if self._error is not None:
                raise self._error
            await self._wait()

    async def read(self) -> bytes:
        """The body's next bytes as they arrive; ``b""`` at its end.

        Raises ``UpstreamTimeout`` after ``idle_timeout`` seconds without a byte and
        ``UpstreamConnectionError`` when the connection breaks before the body's end.
        """
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._complete:
                return b""
            await self._wait()
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = []
        self._size = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    async def read_all(self, limit: int = 1 << 20) -> bytes:
        """The rest of the body (at most ``limit`` bytes; an error answer is small)."""
        parts: list[bytes] = []
        size = 0
        while size < limit and (data := await self.read()):
            parts.append(data)
            size += len(data)
        return b"".join(parts)[:limit]

    @property
    def reusable(self) -> bool:
        """The response was read to its end and the connection may carry another."""
        return (
            self._complete
            and self._error is None
            and self.transport is not None
            and not self.transport.is_closing()
            and self._parser is not None
            and self._parser.keep_alive
        )

    @property
    def reading(self) -> bool:
        """A body is still on its way (what the idle watch looks after)."""
        return self._headers_done and not self._complete and self._error is None

    def check_idle(self, now: float) -> None:
        """Fail the read if nothing arrived for ``idle_timeout`` seconds (called by the pool)."""
        if self._paused:  # the consumer is behind, not the upstream
            self._last_read = now
        elif now - self._last_read >= self._idle:
            self._fail(
                UpstreamTimeout(
                    "The upstream stopped sending in the middle of the reply (idle timeout)."
                )
            )

    def abort(self) -> None:
        """Drop the connection now (a reply not read to its end cannot be reused)."""
        if self.transport is not None:
            self.transport.abort()
            self.transport = None
        self._parser = None

    # -- internals ----------------------------------------------------------------------------

    async def _wait(self) -> None:
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _finish(self) -> None:
        decoder = self._decoder
        if decoder is not None:
            self._decoder = None
            tail = decoder.flush()
            if tail:
                self._chunks.append(tail)
            if not decoder.eof:
                self._fail(UpstreamConnectionError("The upstream's compressed body ends early."))
                return
        self._complete = True
        self._wake()

    def _fail(self, error: Exception, *, close: bool = True) -> None:
        if self._error is None:
            self._error = error
        if close and self.transport is not None:
            self.transport.abort()
            self.transport = None
        self._wake()


class WirePool:
    """Opens connections per ``Endpoint`` and keeps the ones a finished response left idle."""

    def __init__(
        self,
        *,
        connect_timeout: float,
        idle_timeout: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._connect_timeout = connect_timeout
        self._idle_timeout = idle_timeout
        self._ssl = ssl_context
        self._idle: dict[Endpoint, list[tuple[float, WireResponse]]] = {}
        # One sweep for all open bodies instead of a timer per stream (a uvloop timer and its
        # callback cost ~550 B per open stream); it fires at most a sweep late.
        self._reading: set[WireResponse] = set()
        self._sweep_every = min(1.0, idle_timeout / 4)
        self._sweep_handle: asyncio.TimerHandle | None = None
        self._addresses: dict[tuple[str, int], tuple[float, list[Any]]] = {}

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    async def request(
        self, endpoint: Endpoint, head: bytes, body: bytes | None = None
    ) -> WireResponse:
        """Send one request (``head`` and ``body``, or the whole message as ``head``) and
        return once its response's headers are in.

        A kept-alive connection the server closed meanwhile is replaced once, transparently:
        it answered nothing, so the request was not taken.
        """
        message = head + body if body else head
        del head, body  # the caller's buffers are not held while the upstream thinks
        while True:
            response = self._take_idle(endpoint)
            reused = response is not None
            if response is None:
                response = await self._connect(endpoint)
            try:
                response.send(message)
                if not reused:
                    message = b""  # only a reused connection may need it sent again
                await response.headers()
            except UpstreamConnectionError:
                response.abort()
                if reused and not response.received:
                    continue
                raise
            except BaseException:
                response.abort()
                raise
            if response.reading:
                self._watch(response)
            return response

    def release(self, response: WireResponse) -> None:
        """Keep the connection for the next call if it can carry one, else close it."""
        self._reading.discard(response)
        if not response.reusable:
            response.abort()
            return
        idle = self._idle.setdefault(response.endpoint, [])
        if len(idle) >= MAX_IDLE:
            response.abort()
            return
        idle.append((asyncio.get_running_loop().time(), response))

    def close(self) -> None:
        """Close every idle connection and stop the idle watch."""
        if self._sweep_handle is not None:
            self._sweep_handle.cancel()
            self._sweep_handle = None
        for idle in self._idle.values():
            for _, response in idle:
                response.abort()
        self._idle.clear()

    def _watch(self, response: WireResponse) -> None:
        self._reading.add(response)
        if self._sweep_handle is None:
            loop = asyncio.get_running_loop()
            self._sweep_handle = loop.call_later(self._sweep_every, self._sweep)

    def _sweep(self) -> None:
        self._sweep_handle = None
        now = asyncio.get_running_loop().time()
        for response in list(self._reading):
            if response.reading:
                response.check_idle(now)
            if not response.reading:
                self._reading.discard(response)
        if self._reading:
            loop = asyncio.get_running_loop()
            self._sweep_handle = loop.call_later(self._sweep_every, self._sweep)

    def _take_idle(self, endpoint: Endpoint) -> WireResponse | None:
        idle = self._idle.get(endpoint)
        if not idle:
            return None
        now = asyncio.get_running_loop().time()
        while idle:
            since, response = idle.pop()
            transport = response.transport
            if now - since < KEEP_IDLE_SECONDS and transport and not transport.is_closing():
                return response
            response.abort()
        return None

    async def _connect(self, endpoint: Endpoint) -> WireResponse:
        loop = asyncio.get_running_loop()
        response = WireResponse(endpoint, self._idle_timeout)
        tls = endpoint.scheme == "https"
        direct = endpoint.proxy_host is None
        try:
            async with asyncio.timeout(self._connect_timeout):
                if endpoint.proxy_host is None:
                    sock = await self._socket(endpoint.host, endpoint.port)
                else:
                    sock = await self._socket(endpoint.proxy_host, endpoint.proxy_port)
                try:
                    if tls and not direct:
                        await _open_tunnel(sock, endpoint)
                    await loop.create_connection(
                        lambda: response,
                        sock=sock,
                        ssl=self._tls() if tls else None,
                        server_hostname=endpoint.host if tls else None,
                    )
                except BaseException:
                    sock.close()
                    raise
        except TimeoutError:
            response.abort()
            raise UpstreamTimeout(
                f"Could not connect to the upstream within {self._connect_timeout:g} s."
            ) from None
        except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            response.abort()
            raise UpstreamConnectionError(
                f"Could not reach the upstream ({type(exc).__name__})."
            ) from None
        return response

    async def _socket(self, host: str, port: int) -> socket.socket:
        """A non-blocking TCP socket connected to ``host:port``, each address tried in turn.

        Addresses are cached for ``DNS_TTL`` seconds (a burst of new connections would
        otherwise queue as many lookups on the resolver's few threads); a host none of whose
        addresses answered is looked up afresh next time.
        """
        loop = asyncio.get_running_loop()
        key = (host, port)
        cached = self._addresses.get(key)
        if cached is not None and cached[0] > loop.time():
            infos = cached[1]
        else:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            self._addresses[key] = (loop.time() + DNS_TTL, infos)
        error: OSError = OSError(f"no address for {host!r}")
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, address)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            except BaseException:
                sock.close()
                raise
            return sock
        self._addresses.pop(key, None)
        raise error


async def _open_tunnel(sock: socket.socket, endpoint: Endpoint) -> None:
    """Ask the proxy on ``sock`` for a tunnel to the origin (CONNECT); TLS goes inside it.

    On a plain socket, not asyncio streams: a StreamWriter closes its socket when collected,
    which would cut the tunnel under the TLS connection.
    """
    loop = asyncio.get_running_loop()
    connect = f"CONNECT {endpoint.authority} HTTP/1.1\r\nHost: {endpoint.authority}\r\n"
    request = connect.encode()
    if endpoint.proxy_auth is not None:
        request += b"Proxy-Authorization: " + endpoint.proxy_auth + b"\r\n"
    await loop.sock_sendall(sock, request + b"\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        data = await loop.sock_recv(sock, 4096)
        if not data or len(answer) > 65536:
            raise UpstreamConnectionError("The proxy closed the tunnel request.")
        answer += data
    status_line = answer.split(b"\r\n", 1)[0].split(b" ", 2)
    if len(status_line) < 2 or status_line[1] != b"200":
        status = status_line[1].decode("latin-1") if len(status_line) > 1 else "?"
        raise UpstreamConnectionError(f"The proxy refused the tunnel (HTTP {status}).")
