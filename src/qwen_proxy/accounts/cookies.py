"""An account's cookie jar: the cookies of one browser session, in the order it sent them.

The jar is kept as an ordered ``name -> value`` mapping, written in ``Cookie`` header form
(``a=1; b=2``) wherever it is stored. The standard library's ``http.cookiejar`` was not used:
what a user hands over (a copied request, a ``Cookie`` header) carries names and values only,
no domain, path or expiry for it to apply; its jars are mutable and compare by identity, while
an account must be a frozen value that compares equal to its copy (the accounts file is
merged by comparing them); and it works on ``urllib`` request objects, which the gateway's
own transport does not use. Every cookie here goes to the Qwen hosts, so a plain mapping is
the whole model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from qwen_proxy.accounts.errors import CredentialsError

_REDACTED = "<redacted>"
#: the session cookie holding the long-lived refresh token (set by the auth host)
REFRESH_COOKIE = "refresh_token"
#: the cookie holding the access token (the web app keeps it equal to its bearer token)
TOKEN_COOKIE = "token"


def parse_cookie_string(header: str) -> dict[str, str]:
    """``"a=1; token=xyz"`` (optionally starting ``Cookie:``) -> ``{"a": "1", "token": "xyz"}``."""
    text = header.strip()
    if text[:7].lower() == "cookie:":
        text = text[7:]
    cookies: dict[str, str] = {}
    for part in text.split(";"):
        name, eq, value = part.strip().partition("=")
        if eq and name.strip():
            cookies[name.strip()] = value.strip().strip('"')
    return cookies


def format_cookie_header(cookies: Mapping[str, str]) -> str:
    """The inverse of ``parse_cookie_string``: ``name=value; ...``."""
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def token_from_cookies(cookies: str) -> str | None:
    """The Qwen JWT carried in the ``token`` cookie, if there is one."""
    return parse_cookie_string(cookies).get(TOKEN_COOKIE) or None


def update_jar(cookies: str | None, changes: Mapping[str, str | None]) -> str:
    """The jar with each named cookie set (in place, or appended) or, for None, removed."""
    jar = parse_cookie_string(cookies or "")
    for name, value in changes.items():
        if value is None:
            jar.pop(name, None)
        else:
            jar[name] = value
    return format_cookie_header(jar)


def set_cookie_changes(headers: Iterable[str]) -> dict[str, str | None]:
    """What ``Set-Cookie`` header values do to a jar: name -> new value, or None when the
    cookie is deleted (``Max-Age=0`` or an empty value). Attributes are otherwise ignored:
    every cookie of a Qwen host goes back to the Qwen hosts."""
    changes: dict[str, str | None] = {}
    for header in headers:
        first, *attributes = header.split(";")
        name, eq, value = first.strip().partition("=")
        if not eq or not name.strip():
            continue
        deleted = not value.strip() or any(
            a.strip().lower().replace(" ", "") in ("max-age=0", "max-age=-1") for a in attributes
        )
        changes[name.strip()] = None if deleted else value.strip().strip('"')
    return changes


# -- imports from a browser --------------------------------------------------------------------


@dataclass(frozen=True)
class BrowserCookies:
    """Cookies imported from a browser: a ``Cookie`` header value and the JWT found in it."""

    header: str
    token: str | None

    def __repr__(self) -> str:
        return (
            f"BrowserCookies(header=<redacted {len(self.header)} chars>, "
            f"token={_REDACTED if self.token else None})"
        )


def import_cookies(text: str, *, host: str = "chat.qwen.ai") -> BrowserCookies:
    """Read cookies exported from a browser: a ``Cookie`` header, a JSON export from a
    cookie extension (a list of ``{name, value, domain}``), or a Netscape ``cookies.txt``.

    Cookies set for other sites than ``host`` are dropped.
    """
    stripped = text.strip()
    if not stripped:
        raise CredentialsError("no cookies given")
    if stripped[0] in "[{":
        try:
            data = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            raise CredentialsError("the cookie export looks like JSON but cannot be read") from None
        cookies = _cookies_from_json(data, host)
    elif "\t" in stripped:
        cookies = _cookies_from_netscape(stripped, host)
    else:
        cookies = parse_cookie_string(stripped)
    if not cookies:
        raise CredentialsError(f"the export holds no cookies for {host}")
    header = format_cookie_header(cookies)
    return BrowserCookies(header=header, token=cookies.get(TOKEN_COOKIE) or None)


def _cookies_from_json(data: Any, host: str) -> dict[str, str]:
    if isinstance(data, dict) and isinstance(data.get("cookies"), list):
        data = data["cookies"]
    if isinstance(data, dict):
        # a plain {name: value} object
        return {str(k): v for k, v in data.items() if isinstance(v, str)}
    if not isinstance(data, list):
        raise CredentialsError("the cookie export must be a list of cookies")
    cookies: dict[str, str] = {}
    for item in data:
        if not isinstance(item, dict):
            continue
        name, value, domain = item.get("name"), item.get("value"), item.get("domain")
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        if isinstance(domain, str) and domain and not _domain_matches(host, domain):
            continue
        cookies[name] = value
    return cookies


def _cookies_from_netscape(text: str, host: str) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("#HttpOnly_"):
            line = line[len("#HttpOnly_") :]
        elif not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 7:
            continue
        domain, name, value = fields[0], fields[5], fields[6]
        if _domain_matches(host, domain):
            cookies[name] = value
    return cookies


def _domain_matches(host: str, domain: str) -> bool:
    domain = domain.lstrip(".").lower()
    host = host.lower()
    return host == domain or host.endswith("." + domain)
