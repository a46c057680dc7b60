"""Account credentials, their storage in ``accounts.json``, and cookie import from browsers.

Secrets (token, cookies, password, proxy user info) never leave this module in a repr, a str,
an error message or a log line: ``Credentials`` redacts itself, and errors name the file or
the field, never the value.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

log = logging.getLogger("qwen_proxy.accounts")

ACCOUNTS_FILE = "accounts.json"
#: the fields of an account entry (accounts.json, the admin routes)
CREDENTIAL_FIELDS = ("name", "token", "cookies", "email", "password", "proxy")
_REDACTED = "<redacted>"


class CredentialsError(ValueError):
    """Credentials or an accounts file cannot be used; the message never holds a secret."""


@dataclass(frozen=True)
class Credentials:
    """One Qwen web account: its JWT, and optionally cookies, sign-in data and an HTTP proxy."""

    name: str
    token: str
    cookies: str | None = None
    email: str | None = None
    password: str | None = None
    proxy: str | None = None

    def __post_init__(self) -> None:
        if not self.name or any(ch.isspace() for ch in self.name):
            raise CredentialsError("an account name must be non-empty and without spaces")
        if not self.token and not (self.email and self.password):
            raise CredentialsError(
                f"account {self.name!r} needs a token, or an email and password to sign in"
            )
        for field_name in ("token", "cookies"):
            value = getattr(self, field_name)
            if value and ("\r" in value or "\n" in value):  # it goes into a request header
                raise CredentialsError(f"account {self.name!r}: its {field_name} has a line break")
        if self.proxy is not None and not _is_http_proxy(self.proxy):
            raise CredentialsError(
                f"account {self.name!r}: the proxy must be an http://host:port URL "
                "(https and socks proxies are not supported)"
            )

    @property
    def can_sign_in(self) -> bool:
        """True when an email and password are stored, so the token can be renewed."""
        return bool(self.email and self.password)

    def __repr__(self) -> str:
        return (
            f"Credentials(name={self.name!r}, token={_REDACTED if self.token else ''!r}, "
            f"cookies={_REDACTED if self.cookies else None}, "
            f"email={mask_email(self.email)!r}, "
            f"password={_REDACTED if self.password else None}, "
            f"proxy={redact_proxy(self.proxy)!r})"
        )

    def __str__(self) -> str:
        return self.name


def _is_http_proxy(proxy: str) -> bool:
    parts = urlsplit(proxy)
    try:
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        return False
    return parts.scheme == "http" and bool(parts.hostname)


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


# -- storage -------------------------------------------------------------------------------


def accounts_path(data_dir: Path) -> Path:
    """Where the account list lives inside the data directory."""
    return data_dir / ACCOUNTS_FILE


def load_accounts(path: Path) -> list[Credentials]:
    """Read the accounts file; a missing file is an empty list."""
    try:
        raw = path.read_bytes()
        mode = path.stat().st_mode
    except FileNotFoundError:
        return []
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "accounts file %s is accessible by other users (mode %o); run `chmod 600 %s`",
            path,
            stat.S_IMODE(mode),
            path,
        )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise CredentialsError(f"{path} is not valid JSON") from None
    entries = data.get("accounts") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise CredentialsError(f"{path} must hold a list of accounts")
    accounts = [_from_entry(entry, path, index) for index, entry in enumerate(entries)]
    _check_unique(accounts, path)
    return accounts


def save_accounts(path: Path, accounts: Sequence[Credentials]) -> None:
    """Write the accounts file atomically, owner-only (0600) from the moment it exists."""
    _check_unique(accounts, path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = orjson.dumps(
        {"version": 1, "accounts": [_to_entry(account) for account in accounts]},
        option=orjson.OPT_INDENT_2,
    )
    # mkstemp opens with O_EXCL and mode 0600, so no reader ever sees a wider file
    fd, tmp_name = tempfile.mkstemp(prefix=".accounts.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            os.fchmod(tmp.fileno(), 0o600)
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # makes the rename durable; some filesystems refuse to open a directory, which is harmless
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _to_entry(account: Credentials) -> dict[str, str]:
    return {key: value for key in CREDENTIAL_FIELDS if (value := getattr(account, key)) is not None}


def _from_entry(entry: Any, path: Path, index: int) -> Credentials:
    if not isinstance(entry, dict):
        raise CredentialsError(f"{path}: account #{index + 1} is not an object")
    values: dict[str, str | None] = {}
    for key in CREDENTIAL_FIELDS:
        value = entry.get(key)
        if value is not None and not isinstance(value, str):
            raise CredentialsError(f"{path}: account #{index + 1}: {key} must be a string")
        values[key] = value or None
    return credentials_from_fields(values)


def credentials_from_fields(values: dict[str, str | None]) -> Credentials:
    """``Credentials`` from string fields already checked to be strings (empty = absent)."""
    return Credentials(
        name=values.get("name") or "",
        token=values.get("token") or "",
        cookies=values.get("cookies") or None,
        email=values.get("email") or None,
        password=values.get("password") or None,
        proxy=values.get("proxy") or None,
    )


def _check_unique(accounts: Iterable[Credentials], path: Path) -> None:
    seen: set[str] = set()
    for account in accounts:
        if account.name in seen:
            raise CredentialsError(f"{path}: account name {account.name!r} appears twice")
        seen.add(account.name)


# -- cookies --------------------------------------------------------------------------------


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
    return parse_cookie_string(cookies).get("token") or None


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
    return BrowserCookies(header=header, token=cookies.get("token") or None)


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
