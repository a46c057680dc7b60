"""Renewing an account's access token: what a renewal gives, when one is due, and one attempt.

Since autumn 2026 an access token lives about 15 minutes. The browser session renews it from
its cookie jar (the refresh token) at the auth host; a password sign-in is the fallback, kept
rare because sign-ins meet an IP rate wall. ``attempt_renewal`` makes one attempt, refresh
first, and says what became of it (``Renewed``, or a ``RenewalFailed`` of a ``kind``) without
touching any state: the pool applies the result.

When is a token due? Renewal starts ahead of ``exp`` by a third of the token's lifetime (at
most ``renew_ahead``), and no request is served with less than a quarter of it (at most a
minute) left. The lifetime is known once the gateway renewed the token itself (``exp`` minus
``renewed_at``) or from an ``iat`` claim; else a browser session's token is taken to live the
usual 15 minutes, and any other token to be a long-lived one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from qwen_proxy.accounts.cookies import REFRESH_COOKIE, TOKEN_COOKIE, set_cookie_changes, update_jar
from qwen_proxy.accounts.credentials import Credentials
from qwen_proxy.accounts.jwt import token_claims
from qwen_proxy.qwen.auth import SessionAnswer
from qwen_proxy.qwen.errors import AccountFault, UpstreamCaptcha, UpstreamError

#: never serve a request with less than this left of a token (or a quarter of its lifetime)
MIN_VALIDITY = 60.0
#: how long the upstream's access tokens live since autumn 2026
SESSION_TOKEN_LIFETIME = 15 * 60.0


@dataclass(frozen=True)
class Renewal:
    """A renewed token and what the renewal did to the cookie jar (name -> value, None =
    deleted). Secrets: never in a repr."""

    token: str = field(repr=False)
    cookies: Mapping[str, str | None] = field(default_factory=dict, repr=False)

    @classmethod
    def from_answer(cls, answer: SessionAnswer) -> Renewal:
        """What an auth-host answer renews: its token, the cookies it set, and the refresh
        token its body names (whichever place the upstream used)."""
        cookies = set_cookie_changes(answer.set_cookies)
        if answer.refresh_token and REFRESH_COOKIE not in cookies:
            cookies[REFRESH_COOKIE] = answer.refresh_token
        return cls(answer.access_token, cookies)

    def applied_to(self, credentials: Credentials, now: float) -> Credentials:
        """``credentials`` with this renewal's token and cookies, renewed at ``now``."""
        changes = dict(self.cookies)
        if credentials.cookies and TOKEN_COOKIE in credentials.jar:
            # the web app keeps its token cookie equal to its bearer token
            changes.setdefault(TOKEN_COOKIE, self.token)
        cookies = update_jar(credentials.cookies, changes) if changes else credentials.cookies
        return replace(credentials, token=self.token, cookies=cookies or None, renewed_at=now)


def token_lifetime(credentials: Credentials, expires: float | None) -> float | None:
    """Seconds the account's token lives in all, when known."""
    if expires is None:
        return None
    if credentials.renewed_at is not None:
        return max(1.0, expires - credentials.renewed_at)
    claims = token_claims(credentials.token) or {}
    issued = claims.get("iat")
    if isinstance(issued, int | float) and not isinstance(issued, bool) and issued < expires:
        return float(expires - issued)
    return SESSION_TOKEN_LIFETIME if credentials.can_refresh else None


def renew_ahead(lifetime: float | None, longest: float) -> float:
    """How long before ``exp`` a renewal starts: a third of the lifetime, at most ``longest``."""
    return longest if lifetime is None else min(longest, lifetime / 3)


def min_validity(lifetime: float | None) -> float:
    """What must be left of a token for it to serve a request."""
    return MIN_VALIDITY if lifetime is None else min(MIN_VALIDITY, lifetime / 4)


class Failure(StrEnum):
    """What a failed renewal means for the account."""

    #: the refresh was refused and no password can sign in: a new browser session is needed
    SESSION_ENDED = "session_ended"
    #: the password sign-in was refused
    SIGN_IN_REFUSED = "sign_in_refused"
    #: a captcha stands in the way
    CAPTCHA = "captcha"
    #: network trouble, a server error, an unexpected answer: try again a little later
    RETRY = "retry"
    #: the account has nothing to renew with
    NOTHING = "nothing"


@dataclass(frozen=True)
class Renewed:
    """A renewal that worked, and how (``refresh`` or ``sign-in``)."""

    renewal: Renewal
    via: str


@dataclass(frozen=True)
class RenewalFailed:
    """A renewal that did not work: its ``kind`` and a reason fit for the operator."""

    kind: Failure
    reason: str
    verify_url: str | None = None


Refresh = Callable[[Credentials], Awaitable[Renewal]]
SignIn = Callable[[Credentials], Awaitable["str | Renewal"]]


class SignInPacer:
    """At most one password sign-in per ``interval`` seconds across every account, one at a
    time: the upstream walls off an address that signs in often."""

    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._last: float | None = None
        self.lock = asyncio.Lock()

    async def turn(self) -> None:
        """Wait for this sign-in's turn (hold ``lock`` around the call)."""
        if self._last is not None:
            wait = self._last + self.interval - self._clock()
            if wait > 0:
                await self._sleep(wait)
        self._last = self._clock()


async def attempt_renewal(
    credentials: Credentials,
    *,
    refresh: Refresh | None,
    sign_in: SignIn | None,
) -> Renewed | RenewalFailed:
    """One renewal of ``credentials``: the refresh from the cookie jar when it can, else (or
    when the refresh is refused) the password sign-in (``sign_in`` paces itself)."""
    refused: str | None = None
    if refresh is not None and credentials.can_refresh:
        try:
            return Renewed(_checked(await refresh(credentials)), "refresh")
        except UpstreamError as error:
            if error.account_fault is not AccountFault.AUTH:
                return _failure(error)
            refused = error.message
        except Exception as error:  # any failure of the injected refresh is reported, not raised
            return RenewalFailed(Failure.RETRY, _reason(error, credentials))
    if sign_in is None or not credentials.can_sign_in:
        if refused is not None:
            return RenewalFailed(Failure.SESSION_ENDED, f"the token renewal was refused: {refused}")
        return RenewalFailed(Failure.NOTHING, "no browser session or password to renew with")
    try:
        got = await sign_in(credentials)
    except UpstreamError as error:
        if error.account_fault is AccountFault.AUTH or error.account_fault is None:
            return RenewalFailed(Failure.SIGN_IN_REFUSED, error.message)
        return _failure(error)
    except Exception as error:  # any failure of the injected sign-in is reported, not raised
        return RenewalFailed(Failure.SIGN_IN_REFUSED, _reason(error, credentials))
    renewal = Renewal(got.strip()) if isinstance(got, str) else got
    if not isinstance(renewal, Renewal) or not renewal.token.strip():
        return RenewalFailed(Failure.SIGN_IN_REFUSED, "the sign-in returned no token")
    return Renewed(renewal, "sign-in")


def _checked(renewal: Renewal) -> Renewal:
    if not isinstance(renewal, Renewal) or not renewal.token.strip():
        raise ValueError("the renewal returned no token")
    return renewal


def _failure(error: UpstreamError) -> RenewalFailed:
    if isinstance(error, UpstreamCaptcha):
        return RenewalFailed(Failure.CAPTCHA, error.message, error.verify_url)
    return RenewalFailed(Failure.RETRY, error.message)


def _reason(error: BaseException, credentials: Credentials) -> str:
    """An error text fit for logs: any secret of the account in it is cut out."""
    text = str(error) or type(error).__name__
    for secret in (credentials.token, credentials.password, credentials.cookies):
        if secret:
            text = text.replace(secret, "<redacted>")
    return text[:200]
