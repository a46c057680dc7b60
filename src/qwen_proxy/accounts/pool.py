"""The account pool: which account serves a request, and what each outcome does to it.

Selection: a healthy account not resting for the model, least requests in flight first, then
least recently used; at most ``max_concurrent`` requests per account and ``min_interval``
seconds between two starts on one account (a request waits, bounded, rather than fail).
All run-time state goes through an ``AccountStateStore``; credentials stay in this process
(and, renewed, in the ``SessionShare`` of the instances). Token renewal is the pool's other
half, in ``renewing.py``. Before an account first serves in a browser session, Qwen's memory
and built-in tools are switched off for it (``make_private``), once, remembered in its state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import replace
from typing import Any

from qwen_proxy.accounts.credentials import Credentials, CredentialsError, mask_email
from qwen_proxy.accounts.errors import NoAccountAvailable, OwnerUnavailable
from qwen_proxy.accounts.jwt import token_expiry
from qwen_proxy.accounts.lease import Finish, Lease
from qwen_proxy.accounts.outcome import Outcome, OutcomeKind
from qwen_proxy.accounts.renewal import Refresh, SignIn, SignInPacer, token_lifetime
from qwen_proxy.accounts.renewing import Renewing
from qwen_proxy.accounts.shared import LocalShare, SessionShare, SharedSession
from qwen_proxy.accounts.state import AccountState, CooldownPolicy, Health
from qwen_proxy.accounts.status import (
    REST_WORDS,
    AccountStatus,
    explain_unavailable,
    format_time,
    memory_label,
    state_label,
)
from qwen_proxy.accounts.store import AccountStateStore, InMemoryStateStore
from qwen_proxy.errors import ServiceUnavailable

log = logging.getLogger("qwen_proxy.accounts")

OnChange = Callable[[Sequence[Credentials]], None]
#: switches Qwen's memory and built-in tools off for an account (raises when it cannot)
MakePrivate = Callable[[Credentials], Awaitable[None]]

#: what a client is told to wait when the only obstacle is load or a sign-in under way
_BUSY_HINT = 1.0
_RENEW_HINT = 10.0
#: after switching memory and tools off failed, the next attempt waits this long
PRIVATE_RETRY = 600.0


class AccountPool(Renewing):
    """Qwen accounts, their health and their load; hands out leases for requests.

    ``renew`` signs in with the stored password and ``refresh`` renews a browser session's
    token from its cookie jar (see ``renewing``); ``share`` is where instances leave renewed
    sessions; ``signin_interval`` paces password sign-ins across accounts; ``make_private``
    switches memory and tools off before an account's first request of a browser session.
    """

    def __init__(
        self,
        accounts: Sequence[Credentials],
        *,
        max_concurrent: int = 4,
        min_interval: float = 0.0,
        renew: SignIn | None = None,
        refresh: Refresh | None = None,
        share: SessionShare | None = None,
        signin_interval: float = 0.0,
        make_private: MakePrivate | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        policy: CooldownPolicy | None = None,
        store: AccountStateStore | None = None,
        acquire_timeout: float = 30.0,
        renew_ahead: float = 6 * 3600.0,
        renew_min_interval: float = 600.0,
        poll_interval: float = 1.0,
        on_change: OnChange | None = None,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        if min_interval < 0:
            raise ValueError("min_interval must not be negative")
        self._max_concurrent = max_concurrent
        self._min_interval = min_interval
        self._renew = renew
        self._refresh = refresh
        self._share = share or LocalShare()
        self._make_private = make_private
        self._clock = clock
        self._wall = wall_clock
        self._sleep = sleep
        self._policy = policy or CooldownPolicy()
        self._store: AccountStateStore = store or InMemoryStateStore()
        self._acquire_timeout = acquire_timeout
        self._renew_ahead = renew_ahead
        self._renew_min_interval = renew_min_interval
        self._poll_interval = poll_interval
        self._on_change = on_change
        # one bound method shared by every lease, not one per open request
        self._finish_lease: Finish = self._finish
        self._credentials: dict[str, Credentials] = {}
        self._expiry: dict[str, float | None] = {}
        self._lifetimes: dict[str, float | None] = {}
        #: the last state read or written per account: what snapshot() and usable() show
        self._seen: dict[str, AccountState] = {}
        for account in accounts:
            if account.name in self._credentials:
                raise CredentialsError(f"account name {account.name!r} appears twice")
            self._set_credentials(account)
            self._seen[account.name] = AccountState()
        self._changed = asyncio.Event()
        self._pacer = SignInPacer(signin_interval, clock=clock, sleep=sleep)
        self._renewals: dict[str, asyncio.Task[bool]] = {}
        self._retry_at: dict[str, float] = {}
        self._warned_expiry: set[tuple[str, float]] = set()
        self._privacy: dict[str, asyncio.Task[None]] = {}

    # -- selection ---------------------------------------------------------------------

    async def acquire(
        self,
        model: str,
        *,
        owner: str | None = None,
        exclude: Collection[str] = (),
        max_wait: float | None = None,
    ) -> Lease:
        """A lease on the best account for ``model``, waiting (bounded) for capacity or pacing.

        ``max_wait`` (pool clock) bounds the wait; the pool's ``acquire_timeout`` by default.
        With ``owner``, only that account: ``OwnerUnavailable`` when it cannot serve.
        Otherwise ``NoAccountAvailable`` when none can, saying why.
        """
        limit = self._acquire_timeout if max_wait is None else max_wait
        deadline = self._clock() + limit
        excluded = frozenset(exclude)
        while True:
            changed = self._changed
            waiting = await self._check_tokens()
            now = self._clock()
            if owner is not None:
                self._check_owner_known(owner, excluded)
                names = [owner]
            else:
                names = [name for name in self._credentials if name not in excluded]
            states = await self._load(names)
            # a token being renewed serves again in a moment: wait for it rather than refuse
            renewing = {
                name
                for name in names
                if name in waiting
                or (states[name].health is Health.RENEWING and self._renewing(name))
            }
            if (
                owner is not None
                and owner not in renewing
                and not states[owner].can_serve(model, now)
            ):
                raise OwnerUnavailable(owner, self._why_not(owner, states[owner], model, now))
            candidates = [
                name
                for name in names
                if name not in renewing and states[name].can_serve(model, now)
            ]
            if not candidates and not renewing:
                # every account rests: one resting only after network trouble is tried again
                # (one request at a time) rather than refusing every client until it ends
                for name in names:
                    if states[name].can_probe(model, now):
                        lease = await self._try_start(name, model, now, probe=True)
                        if lease is not None:
                            return await self._ready(lease)
                raise self._no_account(model, now, excluded)
            ready, wake_at = self._rank(candidates, states, now)
            for name in ready:
                lease = await self._try_start(name, model, now)
                if lease is not None:
                    return await self._ready(lease)
            remaining = deadline - now
            if not ready and remaining <= 0:
                if owner is not None:
                    why = "its token is being renewed" if renewing else "busy with other requests"
                    raise OwnerUnavailable(owner, why)
                raise self._no_account(model, now, excluded)
            # a lost race (ready but taken meanwhile) retries at once
            delay = 0.0 if ready else min(remaining, self._poll_interval, wake_at - now)
            await self._wait_for_change(changed, delay)

    def _rank(
        self, candidates: list[str], states: dict[str, AccountState], now: float
    ) -> tuple[list[str], float]:
        """Accounts that can start now, best first, and when the next paced one can."""
        order = {name: index for index, name in enumerate(self._credentials)}
        ready: list[str] = []
        wake_at = math.inf
        for name in candidates:
            at = states[name].ready_at(now, self._max_concurrent, self._min_interval)
            if at is None:
                continue
            if at <= now:
                ready.append(name)
            else:
                wake_at = min(wake_at, at)

        def preference(name: str) -> tuple[int, float, int]:
            state = states[name]
            last = -math.inf if state.last_started is None else state.last_started
            return (state.in_flight, last, order[name])

        ready.sort(key=preference)
        return ready, wake_at

    async def _try_start(
        self, name: str, model: str, now: float, *, probe: bool = False
    ) -> Lease | None:
        cap, interval = self._max_concurrent, self._min_interval
        new = await self._store.update(
            name, lambda s: s.start(model, now, cap, interval, probe=probe)
        )
        if new is None:
            return None
        self._seen[name] = new
        return Lease(self._finish_lease, self._credentials[name], model, new.generation)

    async def _wait_for_change(self, changed: asyncio.Event, delay: float) -> None:
        waiter = asyncio.ensure_future(changed.wait())
        sleeper = asyncio.ensure_future(self._sleep(max(0.0, delay)))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()

    def _notify(self) -> None:
        """Wake every waiting acquire: something was released or came back."""
        self._changed.set()
        self._changed = asyncio.Event()

    def _check_owner_known(self, owner: str, excluded: frozenset[str]) -> None:
        if owner not in self._credentials:
            raise OwnerUnavailable(owner, "it is no longer configured")
        if owner in excluded:
            raise OwnerUnavailable(owner, "it already failed this request")

    def _why_not(self, name: str, state: AccountState, model: str, now: float) -> str:
        if state.health is not Health.ACTIVE:
            return f"{state.health}: {state.message}" if state.message else str(state.health)
        rest = state.cooldown_for(model, now)
        if rest is None:
            return "unavailable"
        return f"{REST_WORDS[rest.reason]} until {format_time(rest.until - now + self._wall())}"

    def _no_account(self, model: str, now: float, excluded: frozenset[str]) -> NoAccountAvailable:
        message, retry_after = explain_unavailable(
            model,
            {name: self._seen[name] for name in self._credentials},
            now=now,
            wall_now=self._wall(),
            excluded=excluded,
            busy_hint=_BUSY_HINT,
            renew_hint=_RENEW_HINT,
            refreshing=frozenset(
                name for name, c in self._credentials.items() if self._renewal_kind(c) == "refresh"
            ),
        )
        return NoAccountAvailable(message, retry_after=retry_after)

    async def _load(self, names: Collection[str]) -> dict[str, AccountState]:
        states = await self._store.load(names)
        self._seen.update(states)
        return states

    # -- outcomes ----------------------------------------------------------------------

    async def _finish(self, lease: Lease, outcome: Outcome) -> None:
        name = lease.name
        credentials = self._credentials.get(name)
        if credentials is None:
            return  # removed while the request ran
        now = self._clock()
        kind = self._renewal_kind(credentials)
        renewable = kind is not None
        auth_message = self._auth_message(credentials, kind)

        def change(state: AccountState) -> AccountState:
            return state.finish(
                lease.model,
                outcome,
                now,
                self._policy,
                generation=lease.generation,
                renewable=renewable,
                auth_message=auth_message,
            )

        new = await self._store.update(name, change)
        if new is not None:
            before = self._seen.get(name)
            self._seen[name] = new
            self._log_outcome(name, lease.model, outcome, before, new, now)
            if new.health is Health.RENEWING and self._may_start(name):
                self._schedule_renewal(name)
        self._notify()

    def _log_outcome(
        self,
        name: str,
        model: str,
        outcome: Outcome,
        before: AccountState | None,
        after: AccountState,
        now: float,
    ) -> None:
        kind = outcome.kind
        if kind in (OutcomeKind.OK, OutcomeKind.ABANDONED):
            return
        changed_health = before is None or before.health is not after.health
        if kind in (OutcomeKind.AUTH, OutcomeKind.CAPTCHA) and changed_health:
            log.warning("account %s: %s", name, after.message)
            return
        rest = after.cooldown_for(model, now)
        if kind in (OutcomeKind.RATE_LIMIT, OutcomeKind.EMPTY) and rest is not None:
            log.info(
                "account %s: %s on %s, resting until %s",
                name,
                kind,
                model,
                format_time(rest.until - now + self._wall(), self._wall()),
            )
        elif (
            kind is OutcomeKind.TRANSIENT
            and rest is not None
            and (before is None or before.cooldown != after.cooldown)
        ):
            log.warning(
                "account %s: %d failures in a row, resting %.0f s",
                name,
                self._policy.transient_threshold,
                self._policy.transient_cooldown,
            )

    # -- memory and tools off before a browser session's first request -------------------

    async def _ready(self, lease: Lease) -> Lease:
        """The lease, once its account is safe to share (see ``_ensure_private``)."""
        try:
            await self._ensure_private(lease.name)
        except BaseException:
            await lease.release(Outcome.abandoned())
            raise
        return lease

    async def _ensure_private(self, name: str) -> None:
        """Switch Qwen's memory and built-in tools off for the account's browser session, once
        (every instance reads the result from the shared state). A failure is reported in the
        account's status, retried later, and does not keep the account from serving."""
        state = self._seen[name]
        if self._make_private is None or state.is_private:
            return
        tried = state.private_tried
        if tried is not None and self._clock() - tried < PRIVATE_RETRY:
            return
        task = self._privacy.get(name)
        if task is None or task.done():
            task = asyncio.ensure_future(self._switch_off(name, state.session))
            self._privacy[name] = task
        await asyncio.shield(task)

    async def _switch_off(self, name: str, session: int) -> None:
        credentials = self._credentials.get(name)
        if credentials is None or self._make_private is None:
            return
        try:
            await self._make_private(credentials)
        except Exception as exc:  # reported in the account's status, never raised to a request
            reason = _scrub(getattr(exc, "message", "") or str(exc), credentials, exc)
            now = self._clock()
            change = lambda s: s.private_failed(reason, now)  # noqa: E731
            log.warning(
                "account %s: could not switch Qwen's memory and tools off: %s", name, reason
            )
        else:
            change = lambda s: s.made_private(session)  # noqa: E731
            log.info("account %s: Qwen's memory and built-in tools switched off", name)
        with contextlib.suppress(ServiceUnavailable):
            self._remember(name, await self._store.update(name, change))

    # -- the operator's side -----------------------------------------------------------

    async def update_credentials(
        self, name: str, *, token: str | None = None, cookies: str | None = None
    ) -> None:
        """New token and/or cookies for an account (cookie import, admin route): it returns to
        service, captcha quarantine and earlier failures forgotten."""
        credentials = self._credentials.get(name)
        if credentials is None:
            raise KeyError(name)
        changes: dict[str, Any] = {"renewed_at": None}
        if token is not None:
            changes["token"] = token
        if cookies is not None:
            changes["cookies"] = cookies
        self._set_credentials(replace(credentials, **changes))
        self._remember(name, await self._store.update(name, lambda s: s.credentials_replaced()))
        await self._publish(name)
        log.info("account %s: credentials updated, back in service", name)
        self._changed_credentials()
        self._notify()

    async def add(self, credentials: Credentials) -> None:
        """Add an account (or replace one of the same name, as new credentials).

        Credentials that only renew the account's token (another worker renewed it and saved
        the file) are taken quietly: the account keeps its state and its browser session.
        """
        name = credentials.name
        current = self._credentials.get(name)
        if current is not None and _renews(current, credentials):
            self._set_credentials(credentials)
            log.info("account %s: took the token renewed by another process", name)
            self._changed_credentials()
            self._notify()
            return
        self._set_credentials(credentials)
        if current is not None:
            new = await self._store.update(name, lambda s: s.credentials_replaced())
            self._remember(name, new)
            await self._publish(name)
        else:
            await self._load([name])
        log.info("account %s: added", name)
        self._changed_credentials()
        self._notify()

    async def _publish(self, name: str) -> None:
        """Share the operator's new session with the other instances (best effort)."""
        credentials = self._credentials[name]
        session = SharedSession(credentials.token, credentials.cookies, self._wall())
        with contextlib.suppress(ServiceUnavailable):
            await self._share.put(name, session)

    async def remove(self, name: str) -> None:
        """Take an account out of the pool; its requests in flight finish unaffected."""
        if self._credentials.pop(name, None) is None:
            raise KeyError(name)
        self._expiry.pop(name, None)
        self._lifetimes.pop(name, None)
        self._seen.pop(name, None)
        self._retry_at.pop(name, None)
        task = self._renewals.pop(name, None)
        if task is not None:
            task.cancel()
        await self._store.forget(name)
        with contextlib.suppress(ServiceUnavailable):
            await self._share.forget(name)
        log.info("account %s: removed", name)
        self._changed_credentials()
        self._notify()

    def accounts(self) -> list[Credentials]:
        """The current credentials of every account (renewed tokens included)."""
        return list(self._credentials.values())

    def snapshot(self) -> list[AccountStatus]:
        """Every account's state for the operator; holds no secret."""
        now, wall = self._clock(), self._wall()
        rows = []
        for name, credentials in self._credentials.items():
            state = self._seen[name]
            rests = {
                m: c.until - now + wall for m, c in state.model_cooldowns.items() if c.until > now
            }
            untils = list(rests.values())
            if state.cooldown is not None and state.cooldown.until > now:
                untils.append(state.cooldown.until - now + wall)
            rows.append(
                AccountStatus(
                    name=name,
                    state=state_label(state, now),
                    email=mask_email(credentials.email),
                    expires_at=self._expiry.get(name),
                    expiring_soon=self._expiring(name, wall),
                    can_sign_in=self._renew is not None and credentials.can_sign_in,
                    requests=state.requests,
                    failures=state.failures,
                    in_flight=state.in_flight,
                    cooldown_until=max(untils) if untils else None,
                    model_cooldowns=rests,
                    verify_url=state.verify_url,
                    message=state.message,
                    can_refresh=self._renewal_kind(credentials) == "refresh",
                    memory=memory_label(state),
                    memory_message=state.private_error,
                )
            )
        return rows

    def usable(self) -> bool:
        """True when at least one account is healthy and not resting as a whole."""
        now = self._clock()
        return any(
            state.health is Health.ACTIVE
            and (state.cooldown is None or state.cooldown.until <= now)
            for state in (self._seen[name] for name in self._credentials)
        )

    async def refresh(self) -> None:
        """Re-read every account's state from the store (shared stores change underneath)."""
        await self._load(list(self._credentials))

    async def aclose(self) -> None:
        """Stop renewals and settings changes under way."""
        await self._stop_renewals()
        tasks = list(self._privacy.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- helpers -----------------------------------------------------------------------

    def _set_credentials(self, credentials: Credentials) -> None:
        name = credentials.name
        expires = token_expiry(credentials.token) if credentials.token else None
        self._credentials[name] = credentials
        self._expiry[name] = expires
        # read once here, not on every request
        self._lifetimes[name] = token_lifetime(credentials, expires)

    def _remember(self, name: str, state: AccountState | None) -> None:
        if state is not None and name in self._credentials:
            self._seen[name] = state

    def _changed_credentials(self) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(self.accounts())
        except OSError as exc:
            log.error("could not save the accounts: %s", type(exc).__name__)


def _renews(current: Credentials, new: Credentials) -> bool:
    """True when ``new`` is ``current`` with a later renewal of its token, nothing else."""
    if new.renewed_at is None or (
        current.renewed_at is not None and new.renewed_at <= current.renewed_at
    ):
        return False
    same = replace(new, token=current.token, cookies=current.cookies, renewed_at=current.renewed_at)
    return same == current


def _scrub(text: str, credentials: Credentials, exc: BaseException) -> str:
    """An error text fit for logs: any secret of the account in it is cut out."""
    text = text or type(exc).__name__
    for secret in (credentials.token, credentials.password, credentials.cookies):
        if secret:
            text = text.replace(secret, "<redacted>")
    return text[:200]
