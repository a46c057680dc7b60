"""What the operator sees about accounts: status rows and the "why not" of a refusal.

Nothing here holds a secret: emails are masked, tokens and cookies never enter.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from qwen_proxy.accounts.credentials import Credentials
from qwen_proxy.accounts.state import AccountState, CooldownReason, Health

#: the account built from QWEN_PROXY_TOKEN: it lives in memory only, never in the file
ENV_ACCOUNT = "env"
#: the "model" the model-list fetch leases an account for
MODEL_LIST = "*models*"


@dataclass(frozen=True)
class AccountStatus:
    """One account as the operator sees it (``accounts list``, the admin route, logs)."""

    name: str
    #: "active", "cooling", "quarantined", "disabled", "renewing" or "needs_session"
    state: str
    email: str | None
    #: Unix time the token expires, when it says so
    expires_at: float | None
    #: the token expires soon (renewed ahead of time when a password is stored)
    expiring_soon: bool
    can_sign_in: bool
    requests: int
    failures: int
    in_flight: int
    #: Unix time the longest current rest ends, if any
    cooldown_until: float | None
    #: Unix time each model's rest ends
    model_cooldowns: Mapping[str, float] = field(default_factory=dict)
    verify_url: str | None = None
    message: str | None = None
    #: the token can be renewed from the browser session's cookie jar
    can_refresh: bool = False
    #: Qwen's memory and built-in tools for this browser session: "off" (switched off),
    #: "pending" (switched off before the account's first request) or "failed"
    memory: str = "pending"
    #: why switching them off failed
    memory_message: str | None = None

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["model_cooldowns"] = dict(self.model_cooldowns)
        return data


def memory_label(state: AccountState) -> str:
    """Whether Qwen's memory and tools are off for the account's current browser session."""
    if state.is_private:
        return "off"
    return "failed" if state.private_error else "pending"


def state_label(state: AccountState, now: float) -> str:
    """The one-word state: health, or "cooling" when healthy but resting."""
    if state.health is not Health.ACTIVE:
        return str(state.health)
    resting = state.cooldown is not None and state.cooldown.until > now
    resting = resting or any(c.until > now for c in state.model_cooldowns.values())
    return "cooling" if resting else "active"


def format_time(unix: float, now_unix: float | None = None) -> str:
    """``14:05 UTC`` within a day of now, ``2026-07-01 14:05 UTC`` further away."""
    now_unix = time.time() if now_unix is None else now_unix
    pattern = "%H:%M UTC" if abs(unix - now_unix) < 20 * 3600 else "%Y-%m-%d %H:%M UTC"
    return time.strftime(pattern, time.gmtime(unix))


#: how each kind of rest reads in a sentence
REST_WORDS = {
    CooldownReason.RATE_LIMIT: "rate-limited",
    CooldownReason.EMPTY: "resting after empty replies",
    CooldownReason.TRANSIENT: "resting after network or server errors",
}


def explain_unavailable(
    model: str,
    states: Mapping[str, AccountState],
    *,
    now: float,
    wall_now: float,
    excluded: frozenset[str],
    busy_hint: float,
    renew_hint: float,
    refreshing: frozenset[str] = frozenset(),
) -> tuple[str, float | None]:
    """Why no account serves ``model`` (the model list: ``MODEL_LIST``), grouped by cause, and
    when the first may be back; ``refreshing`` renew their token from their browser session.

    Returns the message and ``retry_after`` in seconds (None when none comes back by itself).
    """
    if not states:
        return (
            "No Qwen account is configured: add one with `qwen-proxy accounts import-curl NAME` "
            "(a request copied from your browser) or set QWEN_PROXY_TOKEN.",
            None,
        )
    groups: dict[str, list[float | None]] = {}
    waits: list[float] = []
    for name, state in states.items():
        rest = state.cooldown_for(model, now)
        if name in excluded:
            groups.setdefault("already tried for this request", []).append(None)
        elif state.health is Health.DISABLED:
            groups.setdefault("disabled (token must be replaced)", []).append(None)
        elif state.health is Health.QUARANTINED:
            groups.setdefault("needs captcha verification", []).append(None)
        elif state.health is Health.NEEDS_SESSION:
            groups.setdefault("need a new browser session", []).append(None)
        elif state.health is Health.RENEWING:
            words = "renewing its token" if name in refreshing else "signing in again"
            groups.setdefault(words, []).append(None)
            waits.append(renew_hint)
        elif rest is not None:
            groups.setdefault(REST_WORDS[rest.reason], []).append(rest.until)
            waits.append(rest.until - now)
        else:
            groups.setdefault("busy", []).append(None)
            waits.append(busy_hint)
    parts = []
    for words, untils in groups.items():
        times = [u for u in untils if u is not None]
        until = f" until {format_time(min(times) - now + wall_now, wall_now)}" if times else ""
        parts.append(f"{len(untils)} {words}{until}")
    what = "requests" if model == MODEL_LIST else model
    message = f"No Qwen account can serve {what} now: {', '.join(parts)}."
    retry_after = max(1.0, min(waits)) if waits else None
    if retry_after is None:
        message += " An operator must act; see `qwen-proxy accounts list`."
    return message, retry_after


def session_fix(name: str) -> str:
    """What the operator does to give account ``name`` a new browser session."""
    if name == ENV_ACCOUNT:
        return (
            "set a fresh QWEN_PROXY_TOKEN (and QWEN_PROXY_COOKIES) and restart, or unset it "
            "and add the account with `qwen-proxy accounts import-curl NAME`"
        )
    return (
        f"run `qwen-proxy accounts import-curl {name}` with a request copied (Copy as cURL) "
        "from a browser signed in to chat.qwen.ai"
    )


def auth_message(
    credentials: Credentials, expires: float | None, wall_now: float, *, renewal: str | None
) -> str:
    """What the operator reads when a token stops working: what happened and the fix;
    ``renewal`` says how the gateway renews it ("refresh", "sign-in"), None when it cannot."""
    if not credentials.token:
        what = "no token yet"
    elif expires is not None and expires <= wall_now + 60:
        # always with the date: "expired on" reads wrong with a bare time
        what = f"token expired on {format_time(expires, wall_now + 86400)}"
    else:
        what = "token rejected by Qwen (revoked or signed out)"
    if renewal == "refresh":
        return f"{what}; renewing it from the browser session"
    if renewal is not None:
        return f"{what}; signing in again with the stored password"
    return f"{what}; {session_fix(credentials.name)}"
