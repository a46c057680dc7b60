"""What each upstream error means for the account that got it: one mapping, used everywhere."""

from __future__ import annotations

import pytest

from qwen_proxy.accounts import Outcome
from qwen_proxy.qwen import errors
from qwen_proxy.qwen.errors import AccountFault, UpstreamError
from qwen_proxy.service.outcomes import outcome_for, rules_out_account

pytestmark = pytest.mark.unit

URL = "https://chat.qwen.ai/punish?x5secdata=abc"


@pytest.mark.parametrize(
    ("error", "outcome", "try_another_account"),
    [
        (errors.UpstreamAuthFailed(), Outcome.auth(), True),
        (errors.UpstreamRateLimited(retry_after=7200), Outcome.rate_limit(7200), True),
        (errors.QuotaExceeded(), Outcome.rate_limit(None), True),
        (errors.UpstreamCaptcha(verify_url=URL), Outcome.captcha(URL), True),
        (errors.EmptyReply(), Outcome.empty(), False),
        (errors.UpstreamServerError(), Outcome.transient(), False),
        (errors.UpstreamConnectionError(), Outcome.transient(), False),
        (errors.UpstreamTimeout(), Outcome.transient(), False),
        (errors.StreamCut(), Outcome.transient(), False),
        (errors.ContentFiltered(), Outcome.ok(), False),
        (errors.ChatInProgress(), Outcome.ok(), False),
        (errors.ParentNotFound(), Outcome.ok(), False),
        (errors.UpstreamBadRequest(), Outcome.ok(), False),
        (errors.UpstreamModelNotFound(), Outcome.ok(), False),
        (errors.UpstreamMalformed(), Outcome.ok(), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, UpstreamError) else None,
)
def test_each_upstream_error_reports_its_outcome_for_the_account(
    error: UpstreamError, outcome: Outcome, try_another_account: bool
) -> None:
    assert outcome_for(error) == outcome
    assert rules_out_account(error) is try_another_account


def test_every_upstream_error_names_its_fault_with_the_one_enum() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type)]
    for cls in classes:
        if issubclass(cls, UpstreamError):
            assert cls.account_fault is None or isinstance(cls.account_fault, AccountFault)
