"""The retry policy as a table: what a request does after each failure, given what it tried.

Each row is one branch: the error, the attempts so far, and the decision. The service loop only
executes decisions (tests/service/test_completion.py runs it over a fake upstream).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from qwen_proxy.accounts import NoAccountAvailable, Outcome, OwnerUnavailable
from qwen_proxy.qwen import errors
from qwen_proxy.qwen.errors import UpstreamError
from qwen_proxy.service.retry import (
    BUSY_CHAT_WAITS,
    Attempts,
    Decision,
    RetryPolicy,
    Then,
    Why,
)

pytestmark = pytest.mark.unit

#: today's defaults (two retries, backoff 0.25 s doubling up to 4 s), jitter fixed at 1
POLICY = RetryPolicy(retries=2, backoff_base=0.25, backoff_max=4.0, jitter=lambda: 1.0)

NEW = Attempts(continued=False)
CONTINUED = Attempts(continued=True)
EARLIER = errors.UpstreamCaptcha()
URL = "https://chat.qwen.ai/punish?x5secdata=abc"

Failure = UpstreamError | OwnerUnavailable | NoAccountAvailable


@dataclass(frozen=True)
class Row:
    """One branch: after ``error`` with ``tried``, the decision's fields (``after`` is the next
    attempts without ``last_error``; ``raises`` is "error" or "earlier" when it gives up)."""

    error: Failure
    tried: Attempts
    then: Then
    why: Why
    outcome: Outcome | None
    after: Attempts
    wait: float = 0.0
    exclude: bool = False
    forget: bool = False
    raises: str | None = None
    stop_client_retries: bool = False
    renew: bool = False


def busy(waits: int) -> Attempts:
    return replace(CONTINUED, busy_waits=waits)


TABLE = {
    # -- the pool refused an account -----------------------------------------------------------
    "owner unavailable: fold onto any account": Row(
        OwnerUnavailable("a", "resting"), CONTINUED, Then.FOLD, Why.OWNER_UNAVAILABLE, None, NEW
    ),
    "no account, nothing tried: the pool's refusal": Row(
        NoAccountAvailable("none", retry_after=None),
        NEW,
        Then.GIVE_UP,
        Why.NO_ACCOUNT,
        None,
        NEW,
        raises="error",
    ),
    "no account left after failures: the last upstream error": Row(
        NoAccountAvailable("none", retry_after=None),
        replace(NEW, last_error=EARLIER),
        Then.GIVE_UP,
        Why.NO_ACCOUNT,
        None,
        NEW,
        raises="earlier",
    ),
    # -- a continued chat ----------------------------------------------------------------------
    "continued chat lost its parent: forget the node, fold": Row(
        errors.ParentNotFound(),
        CONTINUED,
        Then.FOLD,
        Why.PARENT_LOST,
        Outcome.ok(),
        NEW,
        forget=True,
    ),
    "continued chat busy: first wait": Row(
        errors.ChatInProgress(),
        busy(0),
        Then.RETRY,
        Why.CHAT_BUSY,
        Outcome.ok(),
        busy(1),
        wait=BUSY_CHAT_WAITS[0],
    ),
    "continued chat busy: second wait": Row(
        errors.ChatInProgress(),
        busy(1),
        Then.RETRY,
        Why.CHAT_BUSY,
        Outcome.ok(),
        busy(2),
        wait=BUSY_CHAT_WAITS[1],
    ),
    "continued chat busy: third wait": Row(
        errors.ChatInProgress(),
        busy(2),
        Then.RETRY,
        Why.CHAT_BUSY,
        Outcome.ok(),
        busy(3),
        wait=BUSY_CHAT_WAITS[2],
    ),
    "continued chat busy after every wait: fork a folded chat": Row(
        errors.ChatInProgress(),
        busy(3),
        Then.FOLD,
        Why.CHAT_BUSY_TOO_LONG,
        Outcome.ok(),
        replace(NEW, busy_waits=3),
    ),
    "continued chat empty: recovered by a folded chat, not held against the account": Row(
        errors.EmptyReply(),
        CONTINUED,
        Then.FOLD,
        Why.EMPTY_CONTINUATION,
        Outcome.transient(),
        NEW,
    ),
    "continued chat's owner token rejected: renew it, continue the same chat": Row(
        errors.UpstreamAuthFailed(),
        CONTINUED,
        Then.RETRY,
        Why.TOKEN_RENEWED,
        Outcome.auth(),
        replace(CONTINUED, renewals=1),
        renew=True,
    ),
    "continued chat's owner token rejected again after its renewal: exclude it, fold": Row(
        errors.UpstreamAuthFailed(),
        replace(CONTINUED, renewals=1),
        Then.FOLD,
        Why.ACCOUNT_FAULT,
        Outcome.auth(),
        replace(NEW, renewals=1),
        exclude=True,
    ),
    "continued chat's owner rate-limited: exclude it, fold": Row(
        errors.UpstreamRateLimited(retry_after=3600),
        CONTINUED,
        Then.FOLD,
        Why.ACCOUNT_FAULT,
        Outcome.rate_limit(3600),
        NEW,
        exclude=True,
    ),
    "continued chat, server error: back off, same chat": Row(
        errors.UpstreamServerError(),
        CONTINUED,
        Then.RETRY,
        Why.TRANSIENT,
        Outcome.transient(),
        replace(CONTINUED, failures=1),
        wait=0.25,
    ),
    # -- a new chat: the account's own faults --------------------------------------------------
    "empty new chat: retry once, not held against the account": Row(
        errors.EmptyReply(),
        NEW,
        Then.RETRY,
        Why.EMPTY_ONCE,
        Outcome.transient(),
        replace(NEW, empties=1),
    ),
    "empty new chat again: the account rests, try another": Row(
        errors.EmptyReply(),
        replace(NEW, empties=1),
        Then.RETRY,
        Why.EMPTY_AGAIN,
        Outcome.empty(),
        replace(NEW, empties=2),
        exclude=True,
    ),
    "empty new chat a third time: that account rests too": Row(
        errors.EmptyReply(),
        replace(NEW, empties=2),
        Then.RETRY,
        Why.EMPTY_AGAIN,
        Outcome.empty(),
        replace(NEW, empties=3),
        exclude=True,
    ),
    "token rejected: renew it, then try once more": Row(
        errors.UpstreamAuthFailed(),
        NEW,
        Then.RETRY,
        Why.TOKEN_RENEWED,
        Outcome.auth(),
        replace(NEW, renewals=1),
        renew=True,
    ),
    "token rejected again after its renewal: try another account": Row(
        errors.UpstreamAuthFailed(),
        replace(NEW, renewals=1),
        Then.RETRY,
        Why.ACCOUNT_FAULT,
        Outcome.auth(),
        replace(NEW, renewals=1),
        exclude=True,
    ),
    "rate-limited with a wait: the account rests that long, try another": Row(
        errors.UpstreamRateLimited(retry_after=7200),
        NEW,
        Then.RETRY,
        Why.ACCOUNT_FAULT,
        Outcome.rate_limit(7200),
        NEW,
        exclude=True,
    ),
    "quota used up: try another account": Row(
        errors.QuotaExceeded(),
        NEW,
        Then.RETRY,
        Why.ACCOUNT_FAULT,
        Outcome.rate_limit(None),
        NEW,
        exclude=True,
    ),
    "captcha: quarantine with its link, try another account": Row(
        errors.UpstreamCaptcha(verify_url=URL),
        NEW,
        Then.RETRY,
        Why.ACCOUNT_FAULT,
        Outcome.captcha(URL),
        NEW,
        exclude=True,
    ),
    # -- a new chat: transient trouble ---------------------------------------------------------
    "server error: back off 0.25 s": Row(
        errors.UpstreamServerError(),
        NEW,
        Then.RETRY,
        Why.TRANSIENT,
        Outcome.transient(),
        replace(NEW, failures=1),
        wait=0.25,
    ),
    "second transient failure: back off 0.5 s, no second strike for the account": Row(
        errors.UpstreamConnectionError(),
        replace(NEW, failures=1),
        Then.RETRY,
        Why.TRANSIENT,
        Outcome.abandoned(),
        replace(NEW, failures=2),
        wait=0.5,
    ),
    "timeout: back off": Row(
        errors.UpstreamTimeout(),
        NEW,
        Then.RETRY,
        Why.TRANSIENT,
        Outcome.transient(),
        replace(NEW, failures=1),
        wait=0.25,
    ),
    "stream cut before any text: back off": Row(
        errors.StreamCut(),
        NEW,
        Then.RETRY,
        Why.TRANSIENT,
        Outcome.transient(),
        replace(NEW, failures=1),
        wait=0.25,
    ),
    "the risk engine's 'crowded' challenge (RGV587): quarantine, never back off on it": Row(
        errors.UpstreamCaptcha(),
        NEW,
        Then.RETRY,
        Why.ACCOUNT_FAULT,
        Outcome.captcha(None),
        NEW,
        exclude=True,
    ),
    "retryable bad request ('Internal error'): back off, the account is fine": Row(
        errors.UpstreamBadRequest(retryable=True),
        NEW,
        Then.RETRY,
        Why.TRANSIENT,
        Outcome.ok(),
        replace(NEW, failures=1),
        wait=0.25,
    ),
    "retries spent: give up, and tell the client not to retry either": Row(
        errors.UpstreamServerError(),
        replace(NEW, failures=2),
        Then.GIVE_UP,
        Why.RETRIES_SPENT,
        Outcome.abandoned(),
        replace(NEW, failures=3),
        raises="error",
        stop_client_retries=True,
    ),
    # -- a new chat: nothing to retry ----------------------------------------------------------
    "content filtered before any text: give up": Row(
        errors.ContentFiltered(),
        NEW,
        Then.GIVE_UP,
        Why.NOT_RETRYABLE,
        Outcome.ok(),
        replace(NEW, failures=1),
        raises="error",
    ),
    "not retryable after earlier retries: give up, the client may retry": Row(
        errors.ContentFiltered(),
        replace(NEW, failures=2),
        Then.GIVE_UP,
        Why.NOT_RETRYABLE,
        Outcome.ok(),
        replace(NEW, failures=3),
        raises="error",
    ),
    "new chat busy: give up (409)": Row(
        errors.ChatInProgress(),
        NEW,
        Then.GIVE_UP,
        Why.NOT_RETRYABLE,
        Outcome.ok(),
        replace(NEW, failures=1),
        raises="error",
    ),
    "new chat's parent unknown: give up": Row(
        errors.ParentNotFound(),
        NEW,
        Then.GIVE_UP,
        Why.NOT_RETRYABLE,
        Outcome.ok(),
        replace(NEW, failures=1),
        raises="error",
    ),
    "unknown model: give up": Row(
        errors.UpstreamModelNotFound(),
        NEW,
        Then.GIVE_UP,
        Why.NOT_RETRYABLE,
        Outcome.ok(),
        replace(NEW, failures=1),
        raises="error",
    ),
    "unreadable answer: give up": Row(
        errors.UpstreamMalformed(),
        NEW,
        Then.GIVE_UP,
        Why.NOT_RETRYABLE,
        Outcome.ok(),
        replace(NEW, failures=1),
        raises="error",
    ),
}


@pytest.mark.parametrize("row", TABLE.values(), ids=TABLE.keys())
def test_each_failure_before_the_first_text_gets_its_decision(row: Row) -> None:
    upstream = isinstance(row.error, UpstreamError)
    last_error = row.error if upstream else row.tried.last_error
    raises = {"error": row.error, "earlier": EARLIER, None: None}[row.raises]
    assert POLICY.decide(row.error, row.tried) == Decision(
        then=row.then,
        why=row.why,
        attempts=replace(row.after, last_error=last_error),
        outcome=row.outcome,
        wait=row.wait,
        exclude=row.exclude,
        forget=row.forget,
        error=raises,
        stop_client_retries=row.stop_client_retries,
        renew=row.renew,
    )


def test_the_table_covers_every_rule() -> None:
    assert {row.why for row in TABLE.values()} == set(Why)


def test_backoff_doubles_up_to_its_cap_and_jitter_scales_it() -> None:
    steady = RetryPolicy(retries=9, backoff_base=0.25, backoff_max=4.0, jitter=lambda: 1.0)
    assert [steady.backoff(n) for n in range(1, 8)] == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    late = RetryPolicy(backoff_base=0.25, backoff_max=4.0, jitter=lambda: 1.5)
    assert late.backoff(2) == 0.75


def test_default_jitter_spreads_backoffs_between_half_and_one_and_a_half() -> None:
    waits = {RetryPolicy(backoff_base=1.0).backoff(1) for _ in range(200)}
    assert len(waits) > 1
    assert all(0.5 <= wait <= 1.5 for wait in waits)


def test_with_no_retries_the_first_transient_failure_gives_up() -> None:
    decision = RetryPolicy(retries=0).decide(errors.UpstreamServerError(), NEW)
    assert (decision.then, decision.why, decision.stop_client_retries) == (
        Then.GIVE_UP,
        Why.RETRIES_SPENT,
        True,
    )


def test_an_earlier_upstream_error_outlives_a_fold() -> None:
    # the owner could not serve after an upstream failure: the error stays for the end
    tried = replace(CONTINUED, last_error=EARLIER)
    decision = POLICY.decide(OwnerUnavailable("a", "resting"), tried)
    assert decision.attempts.last_error is EARLIER


def test_a_challenge_with_another_account_free_soon_is_a_429_with_that_wait() -> None:
    tried = replace(NEW, last_error=errors.UpstreamCaptcha(verify_url=URL))
    decision = POLICY.decide(NoAccountAvailable("busy", retry_after=20), tried)
    error = decision.error
    assert isinstance(error, errors.UpstreamCaptcha)
    assert (error.status, error.type, error.code) == (429, "rate_limit_error", "upstream_captcha")
    assert (error.retry_after, error.verify_url) == (20, URL)


def test_a_challenge_with_no_account_coming_back_is_a_503_not_worth_a_client_retry() -> None:
    tried = replace(NEW, last_error=errors.UpstreamCaptcha(verify_url=URL))
    decision = POLICY.decide(NoAccountAvailable("none", retry_after=None), tried)
    error = decision.error
    assert isinstance(error, errors.UpstreamCaptcha)
    assert (error.status, error.code, error.should_retry) == (503, "upstream_captcha", False)
