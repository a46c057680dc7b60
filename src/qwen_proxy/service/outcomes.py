"""What an upstream error means for the account that met it: the one mapping of faults to outcomes.

``qwen`` names the fault (``AccountFault``) without knowing accounts; ``accounts`` reacts to an
``Outcome`` without knowing upstream errors. This module is where the two meet, so every caller
(a completion, the model list) reports the same error the same way.
"""

from __future__ import annotations

from qwen_proxy.accounts import Outcome
from qwen_proxy.qwen.errors import AccountFault, UpstreamCaptcha, UpstreamError

#: faults after which the account should not be tried again for the same request
_RULES_OUT = frozenset({AccountFault.AUTH, AccountFault.RATE_LIMIT, AccountFault.CAPTCHA})


def outcome_for(error: UpstreamError) -> Outcome:
    """The outcome to report for the account that got ``error`` (ok when it says nothing)."""
    fault = error.account_fault
    if fault is None:
        # the account answered (a refusal of the request itself): it works
        return Outcome.ok()
    if fault is AccountFault.AUTH:
        return Outcome.auth()
    if fault is AccountFault.RATE_LIMIT:
        return Outcome.rate_limit(error.retry_after)
    if fault is AccountFault.CAPTCHA:
        return Outcome.captcha(error.verify_url if isinstance(error, UpstreamCaptcha) else None)
    if fault is AccountFault.EMPTY:
        return Outcome.empty()
    return Outcome.transient()


def rules_out_account(error: UpstreamError) -> bool:
    """True when the account cannot serve this request now (token, limit, captcha): try another."""
    return error.account_fault in _RULES_OUT
