"""The retry policy: what to do after an attempt failed, given what the request tried so far.

Pure: no I/O, no clock, and the only randomness (the backoff's jitter) is passed in, so every
branch is one row of a table test. ``CompletionService.open`` executes the decisions: it
reports the outcome, excludes the account, forgets the node, waits, folds or raises.

Everything here happens before the client saw a byte: a failure after that ends the reply.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from qwen_proxy.accounts import NoAccountAvailable, Outcome, OwnerUnavailable
from qwen_proxy.errors import GatewayError
from qwen_proxy.qwen.errors import (
    AccountFault,
    ChatInProgress,
    EmptyReply,
    ParentNotFound,
    UpstreamCaptcha,
    UpstreamError,
)
from qwen_proxy.service.outcomes import outcome_for, rules_out_account

#: waits before retrying a chat that is busy upstream, then the request forks into a new chat
BUSY_CHAT_WAITS = (0.25, 0.5, 1.0)


class Then(StrEnum):
    """What the request does next."""

    #: try again with the same plan (same chat, or a new chat again), after ``wait``
    RETRY = "retry"
    #: start over as a new chat with the whole history folded into its first message
    FOLD = "fold"
    #: raise ``Decision.error``
    GIVE_UP = "give_up"


class Why(StrEnum):
    """The rule that decided (for logs, counters and the table test)."""

    OWNER_UNAVAILABLE = "owner_unavailable"
    NO_ACCOUNT = "no_account"
    PARENT_LOST = "parent_lost"
    CHAT_BUSY = "chat_busy"
    CHAT_BUSY_TOO_LONG = "chat_busy_too_long"
    EMPTY_CONTINUATION = "empty_continuation"
    EMPTY_ONCE = "empty_once"
    EMPTY_AGAIN = "empty_again"
    TOKEN_RENEWED = "token_renewed"
    ACCOUNT_FAULT = "account_fault"
    NOT_RETRYABLE = "not_retryable"
    RETRIES_SPENT = "retries_spent"
    TRANSIENT = "transient"


@dataclass(frozen=True, slots=True)
class Attempts:
    """What one request has tried so far."""

    #: the current plan continues a known chat (False once the request folded)
    continued: bool
    #: failures counted against the retry budget (transient and not-retryable ones)
    failures: int = 0
    #: waits on a continued chat that was busy upstream
    busy_waits: int = 0
    #: empty replies of new chats
    empties: int = 0
    #: tokens rejected and renewed for this request (once: a second rejection rules it out)
    renewals: int = 0
    #: the last upstream error: what the client gets when no account is left to try
    last_error: UpstreamError | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do after a failure, and the attempts to decide the next failure with."""

    then: Then
    why: Why
    attempts: Attempts
    #: what to report for the account that failed (None: no account was held)
    outcome: Outcome | None = None
    #: seconds to wait before the next attempt
    wait: float = 0.0
    #: do not try that account again for this request
    exclude: bool = False
    #: the continued node is gone upstream: drop it from the store
    forget: bool = False
    #: the account's token was rejected: wait for its renewal, then try again
    renew: bool = False
    #: what to raise when giving up
    error: GatewayError | None = None
    #: giving up after the gateway itself retried: the client's SDK retrying too would
    #: multiply the upstream calls (sent as ``x-should-retry: false``)
    stop_client_retries: bool = False


def _jitter() -> float:
    return random.uniform(0.5, 1.5)


class RetryPolicy:
    """Decides retries: fold, exclude the account, wait on a busy chat, back off, or give up."""

    __slots__ = ("backoff_base", "backoff_max", "busy_waits", "jitter", "retries")

    def __init__(
        self,
        *,
        retries: int = 2,
        backoff_base: float = 0.25,
        backoff_max: float = 4.0,
        busy_waits: tuple[float, ...] = BUSY_CHAT_WAITS,
        jitter: Callable[[], float] = _jitter,
    ) -> None:
        #: transient failures retried before giving up (each after a growing backoff)
        self.retries = retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.busy_waits = busy_waits
        #: a factor around 1 that spreads the retries of many requests failing at once
        self.jitter = jitter

    def start(self, *, continued: bool) -> Attempts:
        """The attempts of a request that has tried nothing yet."""
        return Attempts(continued=continued)

    def backoff(self, failures: int) -> float:
        """The wait after the ``failures``-th transient failure: doubling, capped, jittered."""
        base = min(self.backoff_max, self.backoff_base * (2 ** (failures - 1)))
        return float(base * self.jitter())

    def decide(
        self, error: UpstreamError | OwnerUnavailable | NoAccountAvailable, tried: Attempts
    ) -> Decision:
        """What to do after ``error``: the pool refused an account, or the upstream failed."""
        if isinstance(error, OwnerUnavailable):
            # the chat's owner cannot serve now: any account can take the history folded
            return Decision(Then.FOLD, Why.OWNER_UNAVAILABLE, replace(tried, continued=False))
        if isinstance(error, NoAccountAvailable):
            # no account left: the upstream's last word says more than "no account"
            failure: GatewayError = tried.last_error if tried.last_error is not None else error
            if isinstance(failure, UpstreamCaptcha):
                failure = _captcha_answer(failure, error)
            return Decision(Then.GIVE_UP, Why.NO_ACCOUNT, tried, error=failure)
        return self._after_upstream(error, replace(tried, last_error=error))

    def _after_upstream(self, error: UpstreamError, tried: Attempts) -> Decision:
        outcome = outcome_for(error)
        fold = replace(tried, continued=False)
        if tried.continued and isinstance(error, ParentNotFound):
            return Decision(Then.FOLD, Why.PARENT_LOST, fold, outcome, forget=True)
        if tried.continued and isinstance(error, ChatInProgress):
            return self._busy_chat(tried, outcome)
        if isinstance(error, EmptyReply):
            return self._empty(tried, outcome)
        if error.account_fault is AccountFault.AUTH and tried.renewals == 0:
            # "unauthorized", even inside a 200: renew the token, then try once more
            renewed = replace(tried, renewals=1)
            return Decision(Then.RETRY, Why.TOKEN_RENEWED, renewed, outcome, renew=True)
        if rules_out_account(error):
            then = Then.FOLD if tried.continued else Then.RETRY
            return Decision(then, Why.ACCOUNT_FAULT, fold, outcome, exclude=True)
        tried = replace(tried, failures=tried.failures + 1)
        if tried.failures > 1 and error.retryable:
            # the account's health counts requests, not attempts: one failing request retried
            # twice is one strike, not the three in a row that rest the account
            outcome = Outcome.abandoned()
        if not error.retryable:
            return Decision(Then.GIVE_UP, Why.NOT_RETRYABLE, tried, outcome, error=error)
        if tried.failures > self.retries:
            return Decision(
                Then.GIVE_UP,
                Why.RETRIES_SPENT,
                tried,
                outcome,
                error=error,
                stop_client_retries=True,
            )
        wait = self.backoff(tried.failures)
        return Decision(Then.RETRY, Why.TRANSIENT, tried, outcome, wait=wait)

    def _busy_chat(self, tried: Attempts, outcome: Outcome) -> Decision:
        """Another reply still runs in the continued chat: wait for it a little, then fork."""
        if tried.busy_waits < len(self.busy_waits):
            wait = self.busy_waits[tried.busy_waits]
            waited = replace(tried, busy_waits=tried.busy_waits + 1)
            return Decision(Then.RETRY, Why.CHAT_BUSY, waited, outcome, wait=wait)
        fold = replace(tried, continued=False)
        return Decision(Then.FOLD, Why.CHAT_BUSY_TOO_LONG, fold, outcome)

    def _empty(self, tried: Attempts, outcome: Outcome) -> Decision:
        """An empty reply: retried before it counts against the account."""
        if tried.continued:
            # the known failure of reused chats: a folded new chat recovers it
            fold = replace(tried, continued=False)
            return Decision(Then.FOLD, Why.EMPTY_CONTINUATION, fold, Outcome.transient())
        empties = replace(tried, empties=tried.empties + 1)
        if tried.empties == 0:
            return Decision(Then.RETRY, Why.EMPTY_ONCE, empties, Outcome.transient())
        return Decision(Then.RETRY, Why.EMPTY_AGAIN, empties, outcome, exclude=True)


def _captcha_answer(captcha: UpstreamCaptcha, refusal: NoAccountAvailable) -> UpstreamCaptcha:
    """A challenge with no other account to take the request: a 429 with the wait when
    another account will be free by itself, else a 503 that no client retry can help."""
    if refusal.retry_after is not None:
        return captcha.wait_for_another_account(refusal.retry_after)
    captcha.should_retry = False
    return captcha
