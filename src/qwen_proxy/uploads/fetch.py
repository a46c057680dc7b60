"""Fetching an image URL a client sent, safely: size limit, timeout, content type, and never
from a private, loopback, link-local or metadata address.

The address is checked after the name is resolved, and the connection goes to the address
that was checked (the name is kept for ``Host`` and TLS), so a name that resolves differently
the second time cannot slip past. Redirects are followed by hand, each hop checked the same
way. ``QWEN_PROXY_FETCH_PRIVATE=1`` switches the address check off (a gateway on a private
network serving its own images).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable
from urllib.parse import urljoin, urlsplit, urlunsplit

import aiohttp

from qwen_proxy.errors import InvalidRequest
from qwen_proxy.uploads.addresses import address_allowed, ip_literal

#: how a host name becomes addresses (tests map names to local addresses)
Resolve = Callable[[str, int], Awaitable[list[str]]]

MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: content types a remote image may be served with (the bytes then decide the format)
IMAGE_CONTENT_TYPES = ("image/", "application/octet-stream", "binary/octet-stream")
CHUNK = 64 * 1024


class Refused(Exception):
    """Why a URL is not fetched; the message completes "the gateway could not fetch it: ..."."""


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host``."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class RemoteFetcher:
    """Fetches client URLs under the limits and the address rule (module docstring)."""

    def __init__(
        self,
        *,
        timeout: float,
        max_bytes: int,
        allow_private: bool = False,
        resolve: Resolve = system_resolve,
        allowed: Callable[[str], bool] = address_allowed,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._allow_private = allow_private
        self._resolve = resolve
        self._allowed = allowed
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        """Close the connections (the fetcher opens new ones when used again)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch_image(self, url: str, param: str) -> bytes:
        """The bytes at ``url``; a 400 naming ``param`` when they cannot be had."""
        try:
            async with asyncio.timeout(self._timeout):
                return await self._follow(url)
        except TimeoutError:
            reason = f"no answer within {self._timeout:g} s"
        except Refused as refused:
            reason = str(refused)
        except (aiohttp.ClientError, OSError, ValueError) as error:
            reason = f"the connection failed ({type(error).__name__})"
        raise InvalidRequest(
            f"Invalid '{param}': the gateway could not fetch the image URL: {reason}.",
            param=param,
            code="invalid_image_url",
        )

    async def _follow(self, url: str) -> bytes:
        for _ in range(MAX_REDIRECTS + 1):
            target, host_header, server_name = await self._checked(url)
            session = self._open_session()
            async with session.get(
                target,
                headers={"Host": host_header, "Accept": "image/*"},
                allow_redirects=False,
                server_hostname=server_name,
                ssl=self._tls(),
            ) as response:
                if response.status in REDIRECTS and "Location" in response.headers:
                    url = urljoin(url, response.headers["Location"])
                    continue
                if response.status != 200:
                    raise Refused(f"it answered HTTP {response.status}")
                return await self._body(response)
        raise Refused(f"more than {MAX_REDIRECTS} redirects")

    async def _checked(self, url: str) -> tuple[str, str, str | None]:
        """The URL to connect to (its host replaced by the checked address), the ``Host``
        header, and the TLS server name."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Refused("only http and https URLs with a host are fetched")
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host_header = parts.netloc.rpartition("@")[2]
        literal = ip_literal(host)
        addresses = [literal] if literal is not None else await self._resolve(host, port)
        if not addresses:
            raise Refused(f"{host} has no address")
        if not self._allow_private:
            for address in addresses:
                if not self._allowed(address):
                    raise Refused(
                        f"{host} is a private, loopback, link-local or metadata address "
                        "(QWEN_PROXY_FETCH_PRIVATE=1 allows them)"
                    )
        address = addresses[0]
        shown = f"[{address}]" if ":" in address else address
        netloc = f"{shown}:{port}"
        target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        server_name = host if parts.scheme == "https" and literal is None else None
        return target, host_header, server_name

    async def _body(self, response: aiohttp.ClientResponse) -> bytes:
        kind = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if kind and not kind.startswith(IMAGE_CONTENT_TYPES):
            raise Refused(f"it is served as {kind!r}, not as an image")
        length = response.content_length
        limit = self._max_bytes
        if length is not None and length > limit:
            raise Refused(f"it is over the limit of {limit // (1024 * 1024)} MB")
        parts: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(CHUNK):
            size += len(chunk)
            if size > limit:
                raise Refused(f"it is over the limit of {limit // (1024 * 1024)} MB")
            parts.append(chunk)
        return b"".join(parts)

    def _tls(self) -> ssl.SSLContext:
        # made on first use, so the system's trust store (and SSL_CERT_FILE) is read then
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # no proxy from the environment: the address checked must be the one connected to
            self._session = aiohttp.ClientSession(
                trust_env=False, auto_decompress=True, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session
