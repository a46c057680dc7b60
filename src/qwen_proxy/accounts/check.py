"""``check``: ask the upstream's auth route whether an account's token works, in one word.

Shared by ``qwen-proxy accounts check`` and ``POST /admin/accounts/{name}/check``. The
upstream's answer echoes the token, so only a masked email and the expiry are kept from it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from qwen_proxy.accounts.credentials import Credentials, mask_email
from qwen_proxy.accounts.jwt import token_expiry
from qwen_proxy.qwen.classify import classify_answer
from qwen_proxy.qwen.errors import AccountFault, UpstreamError

Verify = Callable[[Credentials], Awaitable[dict[str, Any]]]

#: what each kind of failure means for the account, in the word ``check`` prints
_RESULTS = {
    AccountFault.AUTH: "expired",
    AccountFault.CAPTCHA: "captcha",
    AccountFault.RATE_LIMIT: "rate_limited",
    AccountFault.TRANSIENT: "unreachable",
    AccountFault.EMPTY: "unreachable",
}


@dataclass(frozen=True)
class CheckResult:
    """One account's check: ``result`` is valid, expired, captcha, rate_limited,
    unreachable or error; nothing here is a secret."""

    name: str
    result: str
    message: str
    email: str | None = None
    expires_at: float | None = None
    verify_url: str | None = None

    @property
    def ok(self) -> bool:
        """True when the upstream accepted the token."""
        return self.result == "valid"

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return asdict(self)


async def check_account(verify: Verify, credentials: Credentials) -> CheckResult:
    """Call the upstream's auth verify route with the account's token and classify the answer."""
    name = credentials.name
    expires = token_expiry(credentials.token) if credentials.token else None
    if not credentials.token:
        return CheckResult(name, "expired", "no token stored yet (it signs in on first use)")
    try:
        user = await verify(credentials)
        if not isinstance(user.get("id") or user.get("email"), str):
            # a 200 JSON that names no user is a gateway answer (the WAF's mtop form, say)
            raise classify_answer(200, "application/json", orjson.dumps(user))
    except UpstreamError as error:
        fault = error.account_fault
        result = _RESULTS[fault] if fault is not None else "error"
        return CheckResult(
            name,
            result,
            error.message,
            mask_email(credentials.email),
            expires,
            getattr(error, "verify_url", None),
        )
    email = user.get("email")
    shown = mask_email(email if isinstance(email, str) else credentials.email)
    return CheckResult(name, "valid", "the upstream accepts the token", shown, expires)
