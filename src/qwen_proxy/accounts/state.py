"""The mutable state of one account, and its transitions as pure functions.

All that changes while the gateway runs (health, cool-downs, in-flight count, pacing) lives in
one frozen ``AccountState`` per account. Every change is a method returning a new state, so a
store can apply it atomically (in memory, or in Redis through ``redis_state``) and the
selection logic never touches storage. Times are on the pool's clock (monotonic by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from qwen_proxy.accounts.outcome import Outcome, OutcomeKind


class Health(StrEnum):
    """Whether an account may serve at all (cool-downs come on top, per model)."""

    ACTIVE = "active"
    #: a captcha must be passed; back after a new browser session is imported
    QUARANTINED = "quarantined"
    #: the token is expired or rejected and cannot be renewed automatically (a token-only
    #: account, or a failed password sign-in)
    DISABLED = "disabled"
    #: the token is expired or rejected and a renewal (refresh or sign-in) is under way
    RENEWING = "renewing"
    #: the browser session ended (its renewal was refused): a new one must be imported
    NEEDS_SESSION = "needs_session"


class CooldownReason(StrEnum):
    """Why an account rests for a while."""

    RATE_LIMIT = "rate_limit"
    EMPTY = "empty"
    TRANSIENT = "transient"


@dataclass(frozen=True)
class Cooldown:
    """A rest until ``until`` (pool clock) for ``reason``."""

    until: float
    reason: CooldownReason


@dataclass(frozen=True)
class CooldownPolicy:
    """How long accounts rest after each kind of trouble."""

    #: rate limit without a wait from the upstream: base * factor**(n-1), at most cap
    rate_limit_base: float = 60.0
    rate_limit_factor: float = 2.0
    rate_limit_cap: float = 3600.0
    #: empty streams are a soft rate limit: shorter, growing the same way
    empty_base: float = 10.0
    empty_factor: float = 2.0
    empty_cap: float = 300.0
    #: this many network/5xx failures in a row rest the account for transient_cooldown
    transient_threshold: int = 3
    transient_cooldown: float = 30.0

    def rate_limit_wait(self, strikes: int) -> float:
        """The rest after the ``strikes``-th rate limit in a row."""
        return _grow(self.rate_limit_base, self.rate_limit_factor, self.rate_limit_cap, strikes)

    def empty_wait(self, strikes: int) -> float:
        """The rest after the ``strikes``-th empty stream in a row."""
        return _grow(self.empty_base, self.empty_factor, self.empty_cap, strikes)


def _grow(base: float, factor: float, cap: float, strikes: int) -> float:
    return float(min(cap, base * factor ** max(0, strikes - 1)))


@dataclass(frozen=True)
class AccountState:
    """Everything about one account that changes at run time. Never mutated: see the methods."""

    health: Health = Health.ACTIVE
    #: bumped whenever the credentials change, so a late failure of an old token is not
    #: blamed on the new one
    generation: int = 0
    in_flight: int = 0
    last_started: float | None = None
    requests: int = 0
    failures: int = 0
    transient_streak: int = 0
    #: an account-wide rest (after repeated transient failures)
    cooldown: Cooldown | None = None
    #: rests for one model (rate limits and empty streams are counted per model)
    model_cooldowns: Mapping[str, Cooldown] = field(default_factory=dict)
    #: rate limits / empty streams in a row, keyed "<reason>:<model>"
    strikes: Mapping[str, int] = field(default_factory=dict)
    verify_url: str | None = None
    #: for the operator: why the account is out of service, or a warning
    message: str | None = None
    last_sign_in: float | None = None
    #: bumped whenever the operator gives the account a new browser session
    session: int = 0
    #: the ``session`` for which Qwen's memory and built-in tools were switched off
    private_session: int | None = None
    #: why the last attempt to switch them off failed, and when (pool clock)
    private_error: str | None = None
    private_tried: float | None = None

    # -- questions ---------------------------------------------------------------------

    def cooldown_for(self, model: str, now: float) -> Cooldown | None:
        """The rest that keeps this account from serving ``model`` now (the longest), if any."""
        whole = self.cooldown if self.cooldown is not None and self.cooldown.until > now else None
        one = self.model_cooldowns.get(model) if self.model_cooldowns else None
        if one is None or one.until <= now:
            return whole
        return one if whole is None or one.until >= whole.until else whole

    def can_serve(self, model: str, now: float) -> bool:
        """Healthy and not resting for ``model`` (capacity and pacing not considered)."""
        return self.health is Health.ACTIVE and self.cooldown_for(model, now) is None

    def can_probe(self, model: str, now: float) -> bool:
        """Resting only after network trouble, with nothing in flight: one request may try it.

        A transient rest says the upstream failed for a while, not that the account is bad; when
        no account can serve, trying it again beats refusing every client until the rest ends.
        """
        rest = self.cooldown_for(model, now)
        return (
            self.health is Health.ACTIVE
            and rest is not None
            and rest.reason is CooldownReason.TRANSIENT
            and self.in_flight == 0
        )

    def ready_at(self, now: float, max_concurrent: int, min_interval: float) -> float | None:
        """When capacity and pacing allow a new request: None while at the concurrency cap."""
        if self.in_flight >= max_concurrent:
            return None
        if self.last_started is None:
            return now
        return max(now, self.last_started + min_interval)

    # -- transitions -------------------------------------------------------------------

    def start(
        self,
        model: str,
        now: float,
        max_concurrent: int,
        min_interval: float,
        *,
        probe: bool = False,
    ) -> AccountState | None:
        """One more request in flight, or None when the account cannot take it now.

        ``probe``: the request tries an account resting after network trouble (``can_probe``).
        """
        if not (self.can_probe(model, now) if probe else self.can_serve(model, now)):
            return None
        ready = self.ready_at(now, max_concurrent, min_interval)
        if ready is None or ready > now:
            return None
        return replace(self, in_flight=self.in_flight + 1, last_started=now)

    def finish(
        self,
        model: str,
        outcome: Outcome,
        now: float,
        policy: CooldownPolicy,
        *,
        generation: int,
        renewable: bool,
        auth_message: str,
    ) -> AccountState:
        """One request over: count it and react to its outcome.

        ``generation`` is the one the request started with: auth and captcha results of
        credentials replaced meanwhile change nothing.
        """
        kind = outcome.kind
        if kind is OutcomeKind.ABANDONED:
            return self.abandoned()
        in_flight, requests = max(0, self.in_flight - 1), self.requests + 1
        if kind is OutcomeKind.OK:
            return self._succeeded(model, in_flight, requests)
        s = replace(self, in_flight=in_flight, requests=requests)
        s = replace(s, failures=s.failures + 1)
        current = generation == self.generation
        if kind is OutcomeKind.AUTH:
            return s.rejected(auth_message, renewable=renewable) if current else s
        if kind is OutcomeKind.CAPTCHA:
            return s.quarantined(outcome.verify_url) if current else s
        if kind is OutcomeKind.RATE_LIMIT:
            return s._rest(model, CooldownReason.RATE_LIMIT, now, policy, outcome.retry_after)
        if kind is OutcomeKind.EMPTY:
            return s._rest(model, CooldownReason.EMPTY, now, policy, None)
        return s._failed_transiently(now, policy)

    def rejected(self, message: str, *, renewable: bool) -> AccountState:
        """The token no longer works: sign in again when possible, else wait for the operator."""
        if self.health in (Health.RENEWING, Health.DISABLED):
            return self
        health = Health.RENEWING if renewable else Health.DISABLED
        return replace(self, health=health, message=message)

    def quarantined(self, verify_url: str | None) -> AccountState:
        """A captcha stands in the way: out of service until new credentials arrive."""
        url = verify_url or self.verify_url
        where = f" at {url}" if url else ""
        message = (
            f"needs captcha verification{where}; pass it in a browser signed in to this "
            "account, then give the gateway that browser's session "
            "(`qwen-proxy accounts import-curl NAME`)"
        )
        return replace(self, health=Health.QUARANTINED, verify_url=url, message=message)

    def session_ended(self, message: str) -> AccountState:
        """The browser session cannot be renewed any more: out of service until a new one
        is imported (a captcha found earlier still says more)."""
        if self.health is Health.QUARANTINED:
            return self
        return replace(self, health=Health.NEEDS_SESSION, message=message)

    def abandoned(self) -> AccountState:
        """A request given up by its client: it leaves, nothing is learned about the account."""
        return replace(self, in_flight=max(0, self.in_flight - 1))

    def signing_in(self, now: float) -> AccountState:
        """A sign-in attempt starts now (per-account sign-ins are spaced from this time)."""
        return replace(self, last_sign_in=now)

    def renewed(self) -> AccountState:
        """A fresh token (refresh or sign-in): back in service unless a captcha still stands."""
        health = self.health if self.health is Health.QUARANTINED else Health.ACTIVE
        message = self.message if health is Health.QUARANTINED else None
        return replace(self, health=health, generation=self.generation + 1, message=message)

    def renewal_failed(self, message: str) -> AccountState:
        """Sign-in failed: a rejected account is disabled; a working one keeps working, warned."""
        health = Health.DISABLED if self.health is Health.RENEWING else self.health
        return replace(self, health=health, message=message)

    def credentials_replaced(self) -> AccountState:
        """The operator gave new credentials: back in service, earlier trouble forgotten; a
        new browser session, whose settings are checked again before it serves."""
        return replace(
            self,
            health=Health.ACTIVE,
            generation=self.generation + 1,
            verify_url=None,
            message=None,
            cooldown=None,
            transient_streak=0,
            session=self.session + 1,
            private_error=None,
            private_tried=None,
        )

    @property
    def is_private(self) -> bool:
        """True once memory and built-in tools are off for the current browser session."""
        return self.private_session == self.session

    def made_private(self, session: int) -> AccountState:
        """Memory and built-in tools were switched off for browser session ``session``."""
        return replace(self, private_session=session, private_error=None, private_tried=None)

    def private_failed(self, reason: str, now: float) -> AccountState:
        """Switching memory and tools off failed (the account serves anyway, and says so)."""
        return replace(self, private_error=reason, private_tried=now)

    def warned(self, message: str | None) -> AccountState:
        """Attach or clear an operator message without changing health."""
        return replace(self, message=message)

    # -- helpers -----------------------------------------------------------------------

    def _succeeded(self, model: str, in_flight: int, requests: int) -> AccountState:
        strikes = self.strikes
        if strikes:
            strikes = {k: v for k, v in strikes.items() if k.split(":", 1)[1] != model}
        cooldown = self.cooldown
        if cooldown is not None and cooldown.reason is CooldownReason.TRANSIENT:
            cooldown = None  # a probe got through: the upstream is back
        return replace(
            self,
            in_flight=in_flight,
            requests=requests,
            transient_streak=0,
            strikes=strikes,
            cooldown=cooldown,
        )

    def _rest(
        self,
        model: str,
        reason: CooldownReason,
        now: float,
        policy: CooldownPolicy,
        given_wait: float | None,
    ) -> AccountState:
        key = f"{reason}:{model}"
        strikes = {**self.strikes, key: self.strikes.get(key, 0) + 1}
        if given_wait is not None and given_wait > 0:
            wait = given_wait
        elif reason is CooldownReason.RATE_LIMIT:
            wait = policy.rate_limit_wait(strikes[key])
        else:
            wait = policy.empty_wait(strikes[key])
        rests = {m: c for m, c in self.model_cooldowns.items() if c.until > now}
        previous = rests.get(model)
        # a shorter rest reported by a request started earlier must not cut a longer one
        if previous is None or previous.until < now + wait:
            rests[model] = Cooldown(now + wait, reason)
        return replace(self, strikes=strikes, model_cooldowns=rests)

    def _failed_transiently(self, now: float, policy: CooldownPolicy) -> AccountState:
        streak = self.transient_streak + 1
        if streak < policy.transient_threshold:
            return replace(self, transient_streak=streak)
        rest = Cooldown(now + policy.transient_cooldown, CooldownReason.TRANSIENT)
        return replace(self, transient_streak=0, cooldown=rest)
