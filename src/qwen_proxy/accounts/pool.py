"""The account pool: which account serves a request, and what each outcome does to it.

Selection: a healthy account not resting for the model, least requests in flight first, then
least recently used; at most ``max_concurrent`` requests per account and ``min_interval``
seconds between two starts on one account (a request waits, bounded, rather than fail).
All run-time state goes through an ``AccountStateStore``; credentials stay in this process.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import replace

from qwen_proxy.accounts.credentials import Credentials, CredentialsError, mask_email
from qwen_proxy.accounts.errors import NoAccountAvailable, OwnerUnavailable
from qwen_proxy.accounts.jwt import token_expiry
from qwen_proxy.accounts.lease import Finish, Lease
from qwen_proxy.accounts.outcome import Outcome, OutcomeKind
from qwen_proxy.accounts.state import AccountState, CooldownPolicy, Health
from qwen_proxy.accounts.status import (
    REST_WORDS,
    AccountStatus,
    auth_message,
    explain_unavailable,
    format_time,
    state_label,
)
from qwen_proxy.accounts.store import AccountStateStore, InMemoryStateStore

log = logging.getLogger("qwen_proxy.accounts")

Renew = Callable[[Credentials], Awaitable[str]]
OnChange = Callable[[Sequence[Credentials]], None]

#: what a client is told to wait when the only obstacle is load or a sign-in under way
_BUSY_HINT = 1.0
_RENEW_HINT = 10.0


class AccountPool:
    """Qwen accounts, their health and their load; hands out leases for requests."""

    def __init__(
        self,
        accounts: Sequence[Credentials],
        *,
        max_concurrent: int = 4,
        min_interval: float = 0.0,
        renew: Renew | None = None,
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
        #: the last state read or written per account: what snapshot() and usable() show
        self._seen: dict[str, AccountState] = {}
        for account in accounts:
            if account.name in self._credentials:
                raise CredentialsError(f"account name {account.name!r} appears twice")
            self._set_credentials(account)
            self._seen[account.name] = AccountState()
        self._changed = asyncio.Event()
        self._sign_in_lock = asyncio.Lock()
        self._renewals: dict[str, asyncio.Task[bool]] = {}
        self._warned_expiry: set[tuple[str, float]] = set()

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
            await self._retire_expired_tokens()
            now = self._clock()
            if owner is not None:
                self._check_owner_known(owner, excluded)
                names = [owner]
            else:
                names = [name for name in self._credentials if name not in excluded]
            states = await self._load(names)
            if owner is not None and not states[owner].can_serve(model, now):
                raise OwnerUnavailable(owner, self._why_not(owner, states[owner], model, now))
            candidates = [name for name in names if states[name].can_serve(model, now)]
            if not candidates:
                # every account rests: one resting only after network trouble is tried again
                # (one request at a time) rather than refusing every client until it ends
                for name in names:
                    if states[name].can_probe(model, now):
                        lease = await self._try_start(name, model, now, probe=True)
                        if lease is not None:
                            return lease
                raise self._no_account(model, now, excluded)
            ready, wake_at = self._rank(candidates, states, now)
            for name in ready:
                lease = await self._try_start(name, model, now)
                if lease is not None:
                    return lease
            remaining = deadline - now
            if not ready and remaining <= 0:
                if owner is not None:
                    raise OwnerUnavailable(owner, "busy with other requests")
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
        renewable = self._can_renew(credentials)
        auth_message = self._auth_message(credentials, renewable)

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
            if new.health is Health.RENEWING:
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

    def _auth_message(self, credentials: Credentials, renewable: bool) -> str:
        expires = self._expiry.get(credentials.name)
        return auth_message(credentials, expires, self._wall(), renewable=renewable)

    async def _retire_expired_tokens(self) -> None:
        """Take accounts whose token has run out out of service before anyone tries them."""
        wall = self._wall()
        for name, credentials in list(self._credentials.items()):
            expires = self._expiry.get(name)
            if credentials.token and (expires is None or expires > wall):
                continue
            if self._seen[name].health is not Health.ACTIVE:
                continue
            await self._reject(name, credentials)

    async def _reject(self, name: str, credentials: Credentials) -> None:
        renewable = self._can_renew(credentials)
        message = self._auth_message(credentials, renewable)
        new = await self._store.update(name, lambda s: s.rejected(message, renewable=renewable))
        if new is None:
            return
        self._seen[name] = new
        log.warning("account %s: %s", name, new.message)
        if new.health is Health.RENEWING:
            self._schedule_renewal(name)

    # -- renewal -----------------------------------------------------------------------

    def _can_renew(self, credentials: Credentials) -> bool:
        return self._renew is not None and credentials.can_sign_in

    def _schedule_renewal(self, name: str) -> asyncio.Task[bool]:
        task = self._renewals.get(name)
        if task is None or task.done():
            task = asyncio.ensure_future(self._sign_in(name))
            self._renewals[name] = task
        return task

    async def _sign_in(self, name: str) -> bool:
        """Renew one account's token by signing in; one sign-in at a time across the pool."""
        state = (await self._load([name]))[name]
        if state.last_sign_in is not None:
            wait = state.last_sign_in + self._renew_min_interval - self._clock()
            if wait > 0:
                log.info("account %s: next sign-in allowed in %.0f s", name, wait)
                await self._sleep(wait)
        async with self._sign_in_lock:
            credentials = self._credentials.get(name)
            if credentials is None or self._renew is None or not credentials.can_sign_in:
                return False
            now = self._clock()
            self._remember(name, await self._store.update(name, lambda s: s.signing_in(now)))
            try:
                token = await self._renew(credentials)
            except asyncio.CancelledError:
                await self._sign_in_failed(name, credentials, "the sign-in was interrupted")
                raise
            except Exception as exc:  # any failure of the injected sign-in is reported, not raised
                await self._sign_in_failed(name, credentials, _scrub(str(exc), credentials, exc))
                return False
            if not isinstance(token, str) or not token.strip():
                await self._sign_in_failed(name, credentials, "the sign-in returned no token")
                return False
            if self._credentials.get(name) != credentials:
                return False  # the operator replaced the credentials meanwhile; theirs win
            self._set_credentials(replace(credentials, token=token.strip()))
            self._remember(name, await self._store.update(name, lambda s: s.renewed()))
            expires = self._expiry.get(name)
            until = f"; valid until {format_time(expires, self._wall())}" if expires else ""
            log.info("account %s: token renewed by sign-in%s", name, until)
            self._changed_credentials()
            self._notify()
            return True

    async def _sign_in_failed(self, name: str, credentials: Credentials, reason: str) -> None:
        if name not in self._credentials:
            return  # removed meanwhile: leave no state behind
        fix = f"fix the password or run `qwen-proxy accounts add --name {name} --token ...`"
        message = f"automatic sign-in failed ({reason}); {fix}"
        self._remember(name, await self._store.update(name, lambda s: s.renewal_failed(message)))
        log.warning("account %s: %s", name, message)
        self._notify()

    def due_for_renewal(self, now: float | None = None) -> list[str]:
        """Accounts a sign-in should renew now: token expired or near ``exp`` (``now`` is Unix
        time), or rejected earlier, with a stored password and no recent sign-in attempt."""
        wall = self._wall() if now is None else now
        mono = self._clock()
        due = []
        for name, credentials in self._credentials.items():
            if not self._can_renew(credentials):
                continue
            state = self._seen[name]
            recent = (
                state.last_sign_in is not None
                and mono - state.last_sign_in < self._renew_min_interval
            )
            running = name in self._renewals and not self._renewals[name].done()
            if recent or running or state.health is Health.QUARANTINED:
                continue
            if state.health in (Health.DISABLED, Health.RENEWING) or self._expiring(name, wall):
                due.append(name)
        return due

    async def renew_due(self, now: float | None = None) -> list[str]:
        """Sign in again where ``due_for_renewal`` says so, and warn about tokens near expiry
        that cannot be renewed. Returns the accounts renewed."""
        wall = self._wall() if now is None else now
        for name, credentials in self._credentials.items():
            expires = self._expiry.get(name)
            if expires is None or self._can_renew(credentials) or not self._expiring(name, wall):
                continue
            if (name, expires) not in self._warned_expiry:
                self._warned_expiry.add((name, expires))
                log.warning(
                    "account %s: token expires on %s and no password is stored to renew it; "
                    "run `qwen-proxy accounts add --name %s --token ...` before then",
                    name,
                    format_time(expires, wall + 86400),
                    name,
                )
        renewed = []
        for name in self.due_for_renewal(wall):
            if await self._schedule_renewal(name):
                renewed.append(name)
        return renewed

    async def renewals_done(self) -> None:
        """Wait for the sign-ins under way to finish."""
        while pending := [t for t in self._renewals.values() if not t.done()]:
            await asyncio.wait(pending)

    def _expiring(self, name: str, wall: float) -> bool:
        expires = self._expiry.get(name)
        return not self._credentials[name].token or (
            expires is not None and expires - wall < self._renew_ahead
        )

    # -- the operator's side -----------------------------------------------------------

    async def update_credentials(
        self, name: str, *, token: str | None = None, cookies: str | None = None
    ) -> None:
        """New token and/or cookies for an account (cookie import, admin route): it returns to
        service, captcha quarantine and earlier failures forgotten."""
        credentials = self._credentials.get(name)
        if credentials is None:
            raise KeyError(name)
        changes: dict[str, str] = {}
        if token is not None:
            changes["token"] = token
        if cookies is not None:
            changes["cookies"] = cookies
        self._set_credentials(replace(credentials, **changes))
        self._remember(name, await self._store.update(name, lambda s: s.credentials_replaced()))
        log.info("account %s: credentials updated, back in service", name)
        self._changed_credentials()
        self._notify()

    async def add(self, credentials: Credentials) -> None:
        """Add an account (or replace one of the same name, as new credentials)."""
        known = credentials.name in self._credentials
        self._set_credentials(credentials)
        if known:
            new = await self._store.update(credentials.name, lambda s: s.credentials_replaced())
            self._remember(credentials.name, new)
        else:
            await self._load([credentials.name])
        log.info("account %s: added", credentials.name)
        self._changed_credentials()
        self._notify()

    async def remove(self, name: str) -> None:
        """Take an account out of the pool; its requests in flight finish unaffected."""
        if self._credentials.pop(name, None) is None:
            raise KeyError(name)
        self._expiry.pop(name, None)
        self._seen.pop(name, None)
        task = self._renewals.pop(name, None)
        if task is not None:
            task.cancel()
        await self._store.forget(name)
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
                    can_sign_in=self._can_renew(credentials),
                    requests=state.requests,
                    failures=state.failures,
                    in_flight=state.in_flight,
                    cooldown_until=max(untils) if untils else None,
                    model_cooldowns=rests,
                    verify_url=state.verify_url,
                    message=state.message,
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
        """Stop sign-ins under way."""
        tasks = list(self._renewals.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- helpers -----------------------------------------------------------------------

    def _set_credentials(self, credentials: Credentials) -> None:
        self._credentials[credentials.name] = credentials
        self._expiry[credentials.name] = (
            token_expiry(credentials.token) if credentials.token else None
        )

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


def _scrub(text: str, credentials: Credentials, exc: BaseException) -> str:
    """An error text fit for logs: any secret of the account in it is cut out."""
    text = text or type(exc).__name__
    for secret in (credentials.token, credentials.password, credentials.cookies):
        if secret:
            text = text.replace(secret, "<redacted>")
    return text[:200]
