"""``GET /admin``: the admin page, static files shipped in this package (no build step).

The files hold no data, so they are served without the admin key: the page asks for the key,
keeps it in the tab's session storage and sends it as a bearer header on each data call.
Everything the page loads comes from the gateway; the Content-Security-Policy forbids any other
origin, inline script and style, and framing.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from qwen_proxy.api.http import Send
from qwen_proxy.errors import MethodNotAllowed

#: what the browser may do on the page: nothing from elsewhere, nothing inline, no framing
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    # a new gateway version brings a new page: ask every time (the files are small)
    (b"cache-control", b"no-cache"),
)

#: content types by file suffix: only these files of this package are served
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
PAGE = "index.html"


def _assets() -> dict[str, str]:
    """Path -> file name: the page at ``/admin`` and its files under ``/admin/assets/``."""
    assets = {"/admin": PAGE, "/admin/": PAGE}
    for entry in files(__name__).iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.name != PAGE and suffix in CONTENT_TYPES:
            assets[f"/admin/assets/{entry.name}"] = entry.name
    return assets


ASSETS = _assets()


def is_page_asset(path: str) -> bool:
    """True for the page and its files (served without the admin key)."""
    return path in ASSETS


@cache
def _read(name: str) -> bytes:
    return files(__name__).joinpath(name).read_bytes()


async def send_page_asset(method: str, path: str, send: Send) -> None:
    """Answer GET or HEAD for one of the page's files, with the security headers."""
    if method not in ("GET", "HEAD"):
        raise MethodNotAllowed(f"Method {method} is not allowed here; use GET.")
    name = ASSETS[path]
    content_type = CONTENT_TYPES["." + name.rpartition(".")[2]]
    body = _read(name)
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *SECURITY_HEADERS,
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    # the server sends no body in answer to HEAD
    await send({"type": "http.response.body", "body": body})
