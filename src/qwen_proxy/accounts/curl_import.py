"""Read one request copied from a browser's developer tools ("Copy as cURL") (pure).

A request the Qwen web app sent carries the whole browser session: the access token (the
``token`` cookie and ``Authorization: Bearer``), the cookie jar with the refresh token, the
anti-bot values (``bx-ua``, ``bx-umidtoken``, ``bx-v``), the app's ``version`` and the
browser's own headers. ``read_copied_request`` takes the text as Chrome or Firefox copy it, in
the bash form or the Windows ``cmd`` form, and ``session_from_request`` keeps what an account
needs. Errors and warnings never hold a value from the request.

Chrome leaves a header named ``version`` out of its copy (it takes it for an HTTP/2 pseudo
header), so a Chrome copy usually has no app version: the gateway's setting fills in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from qwen_proxy.accounts.cookies import REFRESH_COOKIE, TOKEN_COOKIE, parse_cookie_string
from qwen_proxy.accounts.credentials import Credentials, mask_secret
from qwen_proxy.accounts.errors import CredentialsError
from qwen_proxy.accounts.jwt import token_expiry
from qwen_proxy.accounts.shell_words import ShellSyntaxError, split_bash, split_cmd
from qwen_proxy.qwen.browser import BrowserProfile

#: the web app's host: a request copied from it is always accepted
QWEN_HOST = "chat.qwen.ai"

#: options that take a value, by every spelling curl accepts (what browsers write, and more)
_WITH_VALUE = {
    "-H": "header",
    "--header": "header",
    "-b": "cookie",
    "--cookie": "cookie",
    "-X": "method",
    "--request": "method",
    "--url": "url",
    "-A": "user-agent",
    "--user-agent": "user-agent",
    "-e": "referer",
    "--referer": "referer",
    "-d": "data",
    "--data": "data",
    "--data-raw": "data",
    "--data-binary": "data",
    "--data-ascii": "data",
    "--data-urlencode": "data",
    "-o": "ignored",
    "--output": "ignored",
    "-u": "ignored",
    "--user": "ignored",
    "-x": "ignored",
    "--proxy": "ignored",
    "--connect-timeout": "ignored",
    "-m": "ignored",
    "--max-time": "ignored",
}
_FIRST_QUOTE = re.compile(r"""[ \t]\\\r?\n|\^\r?\n|\^?"|\$?'""")
_ZONE = re.compile(r"\d{2}:\d{2}:\d{2}\s+(GMT[+-]\d{4}.*)$")


class CurlImportError(CredentialsError):
    """The text is not a usable copied request; the message says what to copy instead."""


@dataclass(frozen=True)
class CopiedRequest:
    """The HTTP request a ``curl`` command line describes."""

    url: str
    method: str
    #: every header in the order given, names as written (the ``-b`` cookies as ``cookie``)
    headers: tuple[tuple[str, str], ...]
    body: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        names = ", ".join(name for name, _ in self.headers)
        return f"CopiedRequest({self.method} {urlsplit(self.url).hostname}, headers=[{names}])"

    def header(self, name: str) -> str | None:
        """The value of the last header called ``name`` (any case), or None."""
        wanted = name.lower()
        found = [value for key, value in self.headers if key.lower() == wanted]
        return found[-1] if found else None

    @property
    def cookies(self) -> str:
        """Every ``Cookie`` header and ``-b`` value, joined into one jar in their order."""
        parts = [v.strip() for k, v in self.headers if k.lower() == "cookie" and v.strip()]
        return "; ".join(parts)


@dataclass(frozen=True)
class ImportedSession:
    """What one copied request gives an account: token, cookie jar and browser profile."""

    token: str
    cookies: str
    browser: BrowserProfile
    #: the browser that made the request, as far as its User-Agent tells (for display)
    browser_name: str
    #: the host the request went to
    host: str
    warnings: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (
            f"ImportedSession(token=<redacted {len(self.token)} chars>, "
            f"cookies=<redacted {len(self.cookies)} chars>, browser={self.browser!r}, "
            f"host={self.host!r})"
        )

    @property
    def cookie_names(self) -> list[str]:
        """The names in the jar, in order (names are not secret)."""
        return list(parse_cookie_string(self.cookies))

    @property
    def has_refresh_token(self) -> bool:
        """True when the jar holds the refresh token, so the access token can be renewed."""
        return bool(parse_cookie_string(self.cookies).get(REFRESH_COOKIE))

    def summary(self) -> dict[str, object]:
        """What was found, fit to show: secrets masked to a prefix and a length."""
        b = self.browser
        jar = parse_cookie_string(self.cookies)
        return {
            "browser": self.browser_name,
            "host": self.host,
            "token": mask_secret(self.token),
            "token_expires_at": token_expiry(self.token),
            "cookies": list(jar),
            "refresh_token": mask_secret(jar.get(REFRESH_COOKIE)),
            "bx_ua": mask_secret(b.bx_ua),
            "bx_umidtoken": mask_secret(b.bx_umidtoken),
            "bx_v": b.bx_v,
            "version": b.web_version,
            "user_agent": b.user_agent,
            "sec_ch_ua": b.sec_ch_ua,
            "sec_ch_ua_mobile": b.sec_ch_ua_mobile,
            "sec_ch_ua_platform": b.sec_ch_ua_platform,
            "timezone": b.timezone,
            "warnings": list(self.warnings),
        }

    def credentials(self, name: str, existing: Credentials | None = None) -> Credentials:
        """The account ``name`` as this session; an ``existing`` account of that name keeps
        its sign-in data and proxy (a new browser session replaces only the session)."""
        base = existing or Credentials(name=name, token=self.token)
        account = Credentials(
            name=name,
            token=self.token,
            cookies=self.cookies or None,
            email=base.email,
            password=base.password,
            proxy=base.proxy,
        )
        return account.with_browser(self.browser)


def read_copied_request(text: str) -> CopiedRequest:
    """The request a pasted ``curl`` command describes (bash or Windows ``cmd`` form)."""
    stripped = text.strip()
    if not stripped:
        raise CurlImportError("nothing was pasted: copy a request with Copy as cURL first")
    try:
        words = split_cmd(stripped) if _is_cmd(stripped) else split_bash(stripped)
    except ShellSyntaxError as exc:
        raise CurlImportError(f"{exc}; paste the whole copied command") from None
    if not words or words[0].lower() not in ("curl", "curl.exe"):
        raise CurlImportError(
            "this is not a curl command: in the browser's developer tools, right-click a "
            "request to chat.qwen.ai and choose Copy > Copy as cURL"
        )
    return _request_from_words(words[1:])


def session_from_request(request: CopiedRequest, hosts: tuple[str, ...] = ()) -> ImportedSession:
    """The browser session a copied request carries; ``hosts`` are accepted besides Qwen's."""
    host = (urlsplit(request.url).hostname or "").lower()
    allowed = {QWEN_HOST, *(h.lower() for h in hosts if h)}
    if host not in allowed:
        raise CurlImportError(
            f"the request went to {host or 'no host'}, not to {QWEN_HOST}: copy one the chat "
            "page sends (e.g. chat/completions) while you are signed in"
        )
    cookies = request.cookies
    jar = parse_cookie_string(cookies)
    token = _bearer(request.header("authorization")) or jar.get(TOKEN_COOKIE, "")
    if not token:
        raise CurlImportError(
            "the request carries no token (no token cookie, no Authorization header): copy "
            "a request the chat page sends while you are signed in, such as chat/completions"
        )
    browser = profile_from_request(request)
    return ImportedSession(
        token=token,
        cookies=cookies,
        browser=browser,
        browser_name=browser_name(browser.user_agent or ""),
        host=host,
        warnings=tuple(_warnings(browser, jar)),
    )


def import_curl(text: str, hosts: tuple[str, ...] = ()) -> ImportedSession:
    """``session_from_request(read_copied_request(text), hosts)``."""
    return session_from_request(read_copied_request(text), hosts)


def allowed_hosts(*urls: str) -> tuple[str, ...]:
    """The host names of configured upstream URLs (a copy may come from one of them)."""
    return tuple(h for url in urls if (h := urlsplit(url).hostname))


def profile_from_request(request: CopiedRequest) -> BrowserProfile:
    """The browser's own headers in a copied request."""
    zone = _ZONE.search(request.header("timezone") or "")
    return BrowserProfile(
        user_agent=request.header("user-agent") or None,
        sec_ch_ua=request.header("sec-ch-ua") or None,
        sec_ch_ua_mobile=request.header("sec-ch-ua-mobile") or None,
        sec_ch_ua_platform=request.header("sec-ch-ua-platform") or None,
        accept_language=request.header("accept-language") or None,
        timezone=zone.group(1).strip() if zone else None,
        bx_ua=request.header("bx-ua") or None,
        bx_umidtoken=request.header("bx-umidtoken") or None,
        bx_v=request.header("bx-v") or None,
        web_version=request.header("version") or None,
    )


def browser_name(user_agent: str) -> str:
    """``Chrome``, ``Edge``, ``Firefox``, ``Safari`` or ``a browser`` from a User-Agent."""
    for marker, name in (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome")):
        if marker in user_agent:
            return name
    return "Safari" if "Safari/" in user_agent else "a browser"


def _is_cmd(text: str) -> bool:
    """True for the Windows form: browsers quote with ``'`` for bash and ``"`` for cmd, and
    continue lines with ``\\`` or ``^``; the first of these in the text decides."""
    if text.lower().startswith("curl.exe"):
        return True
    first = _FIRST_QUOTE.search(text)
    return first is not None and first.group(0).lstrip(" \t")[0] in '^"'


def _request_from_words(words: list[str]) -> CopiedRequest:
    url = method = None
    headers: list[tuple[str, str]] = []
    data: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        option, inline = _option(word)
        if option is None:
            if word.startswith("-") and len(word) > 1:
                i += 1  # a flag without a value (--compressed, -k, --http2, ...)
                continue
            url = url or word
            i += 1
            continue
        if inline is None:
            if i + 1 >= len(words):
                raise CurlImportError(f"the option {word} has no value: paste the whole command")
            inline = words[i + 1]
            i += 1
        i += 1
        kind = _WITH_VALUE[option]
        if kind == "header":
            headers.append(_header(inline))
        elif kind == "cookie":
            if "=" not in inline:
                raise CurlImportError("the -b option names a cookie file: paste the cookies")
            headers.append(("cookie", inline))
        elif kind == "method":
            method = inline.upper()
        elif kind == "url":
            url = inline
        elif kind in ("user-agent", "referer"):
            headers.append((kind, inline))
        elif kind == "data":
            data.append(inline)
    if not url:
        raise CurlImportError("the command names no URL: paste the whole copied command")
    body = "&".join(data) if data else None
    return CopiedRequest(
        url=url,
        method=method or ("POST" if body is not None else "GET"),
        headers=tuple(headers),
        body=body,
    )


def _option(word: str) -> tuple[str | None, str | None]:
    """The known option a word is (and its ``--opt=value`` value), or (None, None)."""
    if word in _WITH_VALUE:
        return word, None
    name, eq, value = word.partition("=")
    if eq and name.startswith("--") and name in _WITH_VALUE:
        return name, value
    # short options written together with their value: -H'x: y' is -H 'x: y'
    if len(word) > 2 and word[:2] in _WITH_VALUE and not word.startswith("--"):
        return word[:2], word[2:]
    return None, None


def _header(text: str) -> tuple[str, str]:
    # curl's "name;" form sends the header with an empty value
    if ":" not in text and text.endswith(";"):
        return text[:-1].strip(), ""
    name, _, value = text.partition(":")
    return name.strip(), value.strip()


def _bearer(value: str | None) -> str | None:
    scheme, _, token = (value or "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _warnings(browser: BrowserProfile, jar: dict[str, str]) -> list[str]:
    found = []
    if not browser.has_anti_bot_values:
        found.append(
            "no bx-ua/bx-umidtoken headers: the upstream may answer write calls with a "
            "captcha; copy a chat/completions or chats/new request instead"
        )
    if not jar.get(REFRESH_COOKIE):
        found.append(
            "no refresh_token cookie: the access token cannot be renewed and lasts minutes"
        )
    if not browser.user_agent:
        found.append("no User-Agent: the gateway's setting is sent instead")
    return found
