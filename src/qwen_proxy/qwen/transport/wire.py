"""The upstream's connections: opened (direct, through an ``http://`` proxy, or tunnelled
with CONNECT for https), TLS, kept alive for reuse, and watched for idle bodies.

``WirePool`` is the client's default transport (``base.Transport``): ``request()`` sends one
request and returns its ``WireResponse`` once the headers are in; ``release()`` (or the
response's own) gives the connection back. What an answer means is ``classify``'s job; bounding
the wait for the first byte is the caller's.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from typing import Any

from qwen_proxy.qwen.errors import UpstreamConnectionError, UpstreamTimeout
from qwen_proxy.qwen.transport.connection import WireResponse
from qwen_proxy.qwen.transport.endpoint import Endpoint

#: idle connections kept per endpoint, and for how long
MAX_IDLE = 32
KEEP_IDLE_SECONDS = 15.0
#: how long a host's looked-up addresses are reused
DNS_TTL = 300.0


def connect_failure(exc: OSError) -> str:
    """What went wrong opening a connection, in words an operator acts on (not a class name)."""
    if isinstance(exc, socket.gaierror):
        return "could not resolve the host name (check the URL and DNS)"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"its TLS certificate was refused ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return "the TLS handshake failed"
    if isinstance(exc, ConnectionRefusedError):
        return "the connection was refused (nothing listens there?)"
    if isinstance(exc, ConnectionResetError):
        return "the connection was reset"
    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "the network or host is unreachable"
    return exc.strerror or str(exc) or type(exc).__name__


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

    async def request(self, endpoint: Endpoint, message: bytes) -> WireResponse:
        """Send one request (head and body in one ``message``) and return once its response's
        headers are in.

        A kept-alive connection the server closed meanwhile is replaced once, transparently:
        it answered nothing, so the request was not taken.
        """
        while True:
            response = self._take_idle(endpoint)
            reused = response is not None
            if response is None:
                response = await self._connect(endpoint)
            try:
                response.send(message)
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
        response = WireResponse(endpoint, self._idle_timeout, self)
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
                f"Could not reach the upstream at {endpoint.host}: {connect_failure(exc)}."
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
