"""Account credentials: what the gateway needs to act as one Qwen web account.

An account is a browser session: its access token, its cookie jar (which holds the refresh
token), and what the browser sends besides (``BrowserProfile``: anti-bot values, User-Agent,
client hints). Old accounts hold a token only, and keep working where the upstream still
takes one. Secrets (token, cookies, anti-bot values, password, proxy user info) never leave
this package in a repr, a str, an error message or a log line: ``Credentials`` redacts
itself, and errors name the field, never the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from qwen_proxy.accounts.cookies import REFRESH_COOKIE, parse_cookie_string
from qwen_proxy.accounts.errors import CredentialsError
from qwen_proxy.qwen.browser import BrowserProfile, profile_field_names

#: the string fields of an account entry (accounts.json, the admin routes)
CREDENTIAL_FIELDS = ("name", "token", "cookies", "email", "password", "proxy")
#: the entry key holding the browser profile (an object of ``BROWSER_FIELDS``)
BROWSER_FIELD = "browser"
BROWSER_FIELDS = profile_field_names()
_REDACTED = "<redacted>"

__all__ = [
    "BROWSER_FIELD",
    "BROWSER_FIELDS",
    "CREDENTIAL_FIELDS",
    "Credentials",
    "CredentialsError",
    "browser_fields",
    "credentials_from_fields",
    "mask_email",
    "mask_secret",
    "redact_proxy",
]


@dataclass(frozen=True)
class Credentials:
    """One Qwen web account: its access token and, optionally, the rest of the browser session
    it came from (cookie jar, browser profile), sign-in data and an HTTP proxy.

    The browser profile's values are fields of their own (strings, like the secrets);
    ``browser`` gathers them. ``renewed_at`` is the gateway's own note, not a secret.
    """

    name: str
    token: str
    #: the browser's cookie jar in ``Cookie`` header form, in the order the browser sent it
    cookies: str | None = None
    email: str | None = None
    password: str | None = None
    proxy: str | None = None
    # -- the browser profile (see ``BrowserProfile``); None = not captured
    user_agent: str | None = None
    sec_ch_ua: str | None = None
    sec_ch_ua_mobile: str | None = None
    sec_ch_ua_platform: str | None = None
    accept_language: str | None = None
    timezone: str | None = None
    bx_ua: str | None = None
    bx_umidtoken: str | None = None
    bx_v: str | None = None
    web_version: str | None = None
    #: Unix time the gateway renewed this token (None: the token came from the operator);
    #: with the token's ``exp`` it gives the token's lifetime
    renewed_at: float | None = None

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            shown = repr(self.name[:40]) + ("..." if len(self.name) > 40 else "")
            raise CredentialsError(
                f"account name {shown} is not allowed: use 1-64 letters, digits and . _ - + @, "
                "starting with a letter or digit",
                field="name",
            )
        if not self.token and not (self.email and self.password):
            raise CredentialsError(
                f"account {self.name!r} needs a token, or an email and password to sign in",
                field="token",
            )
        for field_name in ("token", "cookies", "proxy", "email", "password", *BROWSER_FIELDS):
            value = getattr(self, field_name)
            if not value:
                continue
            if "\r" in value or "\n" in value or "\x00" in value:  # it goes into a header
                raise CredentialsError(
                    f"account {self.name!r}: its {field_name} has a line break", field=field_name
                )
            limit = _SIZE_LIMITS.get(field_name, _FIELD_LIMIT)
            if len(value) > limit:
                raise CredentialsError(
                    f"account {self.name!r}: its {field_name} is {len(value):,} characters "
                    f"(at most {limit:,})",
                    field=field_name,
                )
        if self.proxy is not None and not _is_http_proxy(self.proxy):
            raise CredentialsError(
                f"account {self.name!r}: the proxy must be an http://host:port URL "
                "(https and socks proxies are not supported)",
                field="proxy",
            )

    @property
    def can_sign_in(self) -> bool:
        """True when an email and password are stored, so the token can be renewed."""
        return bool(self.email and self.password)

    @property
    def can_refresh(self) -> bool:
        """True when the account is a browser session whose jar can renew its token (it holds
        the refresh token, or the browser's own session cookies)."""
        return bool(self.refresh_token) or (self.is_browser_session and bool(self.cookies))

    @cached_property
    def browser(self) -> BrowserProfile | None:
        """What the browser sent besides token and cookies; None for a token-only account."""
        profile = BrowserProfile(**{name: getattr(self, name) for name in BROWSER_FIELDS})
        return None if profile.is_empty else profile

    @property
    def jar(self) -> dict[str, str]:
        """The cookie jar as an ordered ``name -> value`` mapping (a copy)."""
        return parse_cookie_string(self.cookies or "")

    @property
    def refresh_token(self) -> str | None:
        """The refresh token cookie of the browser session, if the jar holds one."""
        return self.jar.get(REFRESH_COOKIE) or None

    @property
    def is_browser_session(self) -> bool:
        """True when the account carries a browser's anti-bot values (write calls need them
        since autumn 2026); False for a token-only account."""
        return bool(self.bx_ua and self.bx_umidtoken)

    def with_browser(self, browser: BrowserProfile | None) -> Credentials:
        """A copy whose browser profile is ``browser`` (None: no profile)."""
        changes: dict[str, Any] = browser_fields(browser)
        return replace(self, **changes)

    def __repr__(self) -> str:
        return (
            f"Credentials(name={self.name!r}, token={_REDACTED if self.token else ''!r}, "
            f"cookies={_REDACTED if self.cookies else None}, "
            f"email={mask_email(self.email)!r}, "
            f"password={_REDACTED if self.password else None}, "
            f"proxy={redact_proxy(self.proxy)!r}, "
            f"browser={self.browser!r})"
        )

    def __str__(self) -> str:
        return self.name


def browser_fields(browser: BrowserProfile | None) -> dict[str, Any]:
    """``Credentials`` keyword arguments setting every browser field from ``browser``."""
    values = browser.to_dict() if browser is not None else {}
    return {name: values.get(name) for name in BROWSER_FIELDS}


def _is_http_proxy(proxy: str) -> bool:
    """``http://[user:password@]host[:port]`` and nothing else (no path, query or spaces)."""
    if any(ch.isspace() for ch in proxy):
        return False
    parts = urlsplit(proxy)
    try:
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        return False
    return (
        parts.scheme == "http"
        and bool(parts.hostname)
        and parts.path in ("", "/")
        and not parts.query
        and not parts.fragment
    )


#: account names: safe in file names, log lines, URLs and Redis keys
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+@-]{0,63}")
#: the longest secret a field may hold (a JWT is ~0.3-2 KB; a whole browser jar a few KB)
_SIZE_LIMITS = {"token": 16_384, "cookies": 65_536, "password": 1_024, "email": 320}
_FIELD_LIMIT = 8_192


def mask_secret(value: str | None) -> str:
    """``eyJh... (209 chars)``: enough to tell two values apart, not to use one."""
    if not value:
        return "(none)"
    if len(value) < 16:
        return f"({len(value)} chars)"
    return f"{value[:4]}... ({len(value)} chars)"


def mask_email(email: str | None) -> str | None:
    """``alice@example.com`` -> ``a***@example.com``: enough to recognise, not to harvest."""
    if not email:
        return None
    local, at, domain = email.partition("@")
    return f"{local[:1]}***{at}{domain}"


def redact_proxy(proxy: str | None) -> str | None:
    """A proxy URL without its user name and password."""
    if not proxy:
        return None
    parts = urlsplit(proxy)
    if parts.username is None and parts.password is None:
        return proxy
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://***@{host}{port}"


def credentials_from_fields(
    values: dict[str, str | None], browser: BrowserProfile | None = None
) -> Credentials:
    """``Credentials`` from string fields already checked to be strings (empty = absent)."""
    return Credentials(
        name=values.get("name") or "",
        token=values.get("token") or "",
        cookies=values.get("cookies") or None,
        email=values.get("email") or None,
        password=values.get("password") or None,
        proxy=values.get("proxy") or None,
        **browser_fields(browser),
    )
