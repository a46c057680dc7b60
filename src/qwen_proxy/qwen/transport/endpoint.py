"""Where an upstream call goes, and the bytes of its request head (pure).

An ``Endpoint`` is the origin (scheme, host, port) and the account's optional ``http://``
proxy; connections are pooled per endpoint. ``request_head`` writes the request line and
headers: absolute-form through a plain-http proxy, with its ``Proxy-Authorization``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where one origin is reached, directly or through an HTTP proxy."""

    scheme: str
    host: str
    port: int
    proxy_host: str | None = None
    proxy_port: int = 0
    proxy_auth: bytes | None = field(default=None, repr=False)  # a secret: never in a repr
    #: whose connections these are (an account name): endpoints that differ only here still
    #: keep separate idle connections
    pool_key: str = ""

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


def parse_endpoint(base_url: str, proxy: str | None = None, *, pool_key: str = "") -> Endpoint:
    """The ``Endpoint`` for ``base_url`` (http or https), through ``proxy`` when given."""
    url = urlsplit(base_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError("the upstream URL must be http:// or https:// with a host")
    port = url.port or (443 if url.scheme == "https" else 80)
    if not proxy:
        return Endpoint(url.scheme, url.hostname, port, pool_key=pool_key)
    via = urlsplit(proxy)
    if via.scheme != "http" or not via.hostname:
        raise ValueError("an account's proxy must be an http:// URL with a host")
    auth = None
    if via.username is not None:
        pair = f"{unquote(via.username)}:{unquote(via.password or '')}".encode()
        auth = b"Basic " + base64.b64encode(pair)
    return Endpoint(
        url.scheme, url.hostname, port, via.hostname, via.port or 80, auth, pool_key=pool_key
    )


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
