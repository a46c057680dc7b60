"""The pool's renewal half: keeping every account's access token fresh, once for all instances.

``AccountPool`` (``pool.py``) inherits ``Renewing``; the two halves share the credential table
and the account states. Here:

- when a renewal is due (``renewal.py`` says when): ahead of ``exp`` in the background, and
  before a token with too little time left may serve (the request waits for the renewal);
- one renewal per account at a time in this process (a task), and across instances through
  ``SessionShare``: the instance holding the account's lock renews and stores the result; the
  others wait for it and take it instead of renewing themselves;
- what a renewal's result does: new credentials (stored atomically, saved, shared), or a state
  the operator can act on (needs a new browser session, captcha, sign-in refused), or a retry
  a little later after network trouble;
- password sign-ins are paced across accounts (``SignInPacer``) and per account.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from qwen_proxy.accounts.credentials import Credentials
from qwen_proxy.accounts.jwt import token_expiry
from qwen_proxy.accounts.renewal import (
    Failure,
    Refresh,
    Renewal,
    RenewalFailed,
    Renewed,
    SignIn,
    SignInPacer,
    attempt_renewal,
    min_validity,
    renew_ahead,
)
from qwen_proxy.accounts.shared import SessionShare, SharedSession
from qwen_proxy.accounts.state import AccountState, Health
from qwen_proxy.accounts.status import auth_message, format_time, session_fix
from qwen_proxy.accounts.store import AccountStateStore, StateChange
from qwen_proxy.errors import ServiceUnavailable

log = logging.getLogger("qwen_proxy.accounts")

#: how long one instance may hold an account's renewal lock
LOCK_TTL = 30.0
#: how often an instance waiting for another's renewal looks for its result
LOCK_POLL = 0.1
#: after a renewal failed for network trouble, the next attempt waits this long
RETRY_AFTER = 30.0


class Renewing:
    """Token renewal for ``AccountPool``; see the module docstring. Not used on its own."""

    # set by AccountPool.__init__
    _credentials: dict[str, Credentials]
    _expiry: dict[str, float | None]
    _lifetimes: dict[str, float | None]
    _seen: dict[str, AccountState]
    _store: AccountStateStore
    _clock: Callable[[], float]
    _wall: Callable[[], float]
    _sleep: Callable[[float], Awaitable[None]]
    _renew: SignIn | None
    _refresh: Refresh | None
    _share: SessionShare
    _pacer: SignInPacer
    _renew_ahead: float
    _renew_min_interval: float
    _renewals: dict[str, asyncio.Task[bool]]
    _retry_at: dict[str, float]
    _warned_expiry: set[tuple[str, float]]

    if TYPE_CHECKING:  # provided by AccountPool

        def _notify(self) -> None: ...
        def _set_credentials(self, credentials: Credentials) -> None: ...
        def _changed_credentials(self) -> None: ...
        def _remember(self, name: str, state: AccountState | None) -> None: ...
        async def _load(self, names: Collection[str]) -> dict[str, AccountState]: ...

    # -- what can be renewed, and when -------------------------------------------------

    def _renewal_kind(self, credentials: Credentials) -> str | None:
        """How the account's token is renewed: "refresh", "sign-in", or None (it cannot)."""
        if self._refresh is not None and credentials.can_refresh:
            return "refresh"
        if self._renew is not None and credentials.can_sign_in:
            return "sign-in"
        return None

    def _can_renew(self, credentials: Credentials) -> bool:
        return self._renewal_kind(credentials) is not None

    def _lifetime(self, name: str) -> float | None:
        return self._lifetimes.get(name)

    def _expiring(self, name: str, wall: float) -> bool:
        """No token, or its renewal should start (a third of its lifetime left, or less)."""
        expires = self._expiry.get(name)
        ahead = renew_ahead(self._lifetime(name), self._renew_ahead)
        return not self._credentials[name].token or (expires is not None and expires - wall < ahead)

    def _too_close(self, name: str, wall: float) -> bool:
        """No token, or too little of it left to serve a request."""
        expires = self._expiry.get(name)
        return not self._credentials[name].token or (
            expires is not None and expires - wall < min_validity(self._lifetime(name))
        )

    def _renewing(self, name: str) -> bool:
        task = self._renewals.get(name)
        return task is not None and not task.done()

    def _may_start(self, name: str) -> bool:
        """No renewal runs for the account, and none failed just now."""
        return not self._renewing(name) and self._retry_at.get(name, 0.0) <= self._clock()

    async def _check_tokens(self) -> frozenset[str]:
        """Before selection: start the renewals that are due; take tokens that ran out and
        cannot be renewed out of service. Returns the accounts that must wait for their
        renewal before they serve."""
        wall = self._wall()
        waiting = set()
        for name, credentials in list(self._credentials.items()):
            health = self._seen[name].health
            renewable = self._can_renew(credentials)
            if health is Health.RENEWING:
                # also when another instance started it: the lock makes it one renewal
                if renewable and self._may_start(name):
                    self._schedule_renewal(name)
                continue
            if health is not Health.ACTIVE:
                continue
            expires = self._expiry.get(name)
            ran_out = not credentials.token or (expires is not None and expires <= wall)
            if not renewable:
                if ran_out:
                    await self._reject(name, credentials)
                continue
            too_close = self._too_close(name, wall)
            # a refresh is cheap; a sign-in ahead of time is left to the periodic renewal
            early = self._expiring(name, wall) and self._renewal_kind(credentials) == "refresh"
            if (early or too_close) and self._may_start(name):
                self._schedule_renewal(name)
            if too_close:
                if self._renewing(name):
                    waiting.add(name)
                elif ran_out:
                    await self._reject(name, credentials)
        return frozenset(waiting)

    async def _reject(self, name: str, credentials: Credentials) -> None:
        kind = self._renewal_kind(credentials)
        message = self._auth_message(credentials, kind)
        new = await self._store.update(
            name, lambda s: s.rejected(message, renewable=kind is not None)
        )
        if new is None:
            return
        self._seen[name] = new
        log.warning("account %s: %s", name, new.message)
        if new.health is Health.RENEWING and self._may_start(name):
            self._schedule_renewal(name)

    def _auth_message(self, credentials: Credentials, kind: str | None) -> str:
        expires = self._expiry.get(credentials.name)
        return auth_message(credentials, expires, self._wall(), renewal=kind)

    # -- the operator's and the gateway's view ---------------------------------------------

    def due_for_renewal(self, now: float | None = None) -> list[str]:
        """Accounts a renewal should start for now (``now`` is Unix time): token near its
        end, or rejected earlier, and renewable; no renewal under way or failed just now, no
        recent sign-in of a password-only account."""
        wall = self._wall() if now is None else now
        mono = self._clock()
        due = []
        for name, credentials in self._credentials.items():
            kind = self._renewal_kind(credentials)
            if kind is None or not self._may_start(name):
                continue
            state = self._seen[name]
            recent = (
                kind == "sign-in"
                and state.last_sign_in is not None
                and mono - state.last_sign_in < self._renew_min_interval
            )
            if recent or state.health in (Health.QUARANTINED, Health.NEEDS_SESSION):
                continue
            if state.health in (Health.DISABLED, Health.RENEWING) or self._expiring(name, wall):
                due.append(name)
        return due

    async def renew_due(self, now: float | None = None) -> list[str]:
        """Renew where ``due_for_renewal`` says so, and warn once about tokens coming to their
        end that cannot be renewed. Returns the accounts renewed."""
        wall = self._wall() if now is None else now
        for name, credentials in self._credentials.items():
            expires = self._expiry.get(name)
            if expires is None or self._can_renew(credentials) or not self._expiring(name, wall):
                continue
            if expires <= wall:
                continue  # already out of service, with its own message
            if (name, expires) not in self._warned_expiry:
                self._warned_expiry.add((name, expires))
                log.warning(
                    "account %s: token expires on %s and cannot be renewed automatically; "
                    "before then, %s",
                    name,
                    format_time(expires, wall + 86400),
                    session_fix(name),
                )
        # all at once: a sign-in waiting for its turn holds up no other account's renewal
        tasks = {name: self._schedule_renewal(name) for name in self.due_for_renewal(wall)}
        if tasks:
            await asyncio.wait(tasks.values())
        return [name for name, task in tasks.items() if not task.cancelled() and task.result()]

    def next_renewal_in(self, limit: float) -> float:
        """Seconds until the next renewal should start (at most ``limit``)."""
        wall, mono = self._wall(), self._clock()
        soonest = limit
        for name, credentials in self._credentials.items():
            health = self._seen[name].health
            if not self._can_renew(credentials) or health not in (Health.ACTIVE, Health.RENEWING):
                continue
            expires = self._expiry.get(name)
            if expires is not None and not self._renewing(name):
                ahead = renew_ahead(self._lifetime(name), self._renew_ahead)
                soonest = min(soonest, expires - ahead - wall)
            retry = self._retry_at.get(name)
            if retry is not None:
                soonest = min(soonest, retry - mono)
        return max(0.0, soonest)

    async def renewals_done(self) -> None:
        """Wait for the renewals under way to finish."""
        while pending := [t for t in self._renewals.values() if not t.done()]:
            await asyncio.wait(pending)

    async def wait_for_renewal(self, name: str) -> None:
        """Wait for the account's renewal under way, if any (it is not cancelled with us)."""
        task = self._renewals.get(name)
        if task is not None and not task.done():
            await asyncio.wait({task})

    # -- one renewal -------------------------------------------------------------------

    def _schedule_renewal(self, name: str) -> asyncio.Task[bool]:
        task = self._renewals.get(name)
        if task is None or task.done():
            task = asyncio.ensure_future(self._renewal(name))
            self._renewals[name] = task
        return task

    async def _renewal(self, name: str) -> bool:
        """Renew one account's token, unless another instance does it: then take its result.
        A shared store that is down (its outage is logged where it is used) puts the next
        attempt off a little."""
        try:
            key, adopted = await self._take_turn(name)
        except ServiceUnavailable:
            key, adopted = None, False  # the shared store is down: renew here, unshared
        if adopted:
            return True
        try:
            return await self._renew_upstream(name)
        except ServiceUnavailable:
            self._retry_at[name] = self._clock() + RETRY_AFTER
            return False
        finally:
            if key is not None:
                with contextlib.suppress(ServiceUnavailable):
                    await self._share.unlock(name, key)

    async def _take_turn(self, name: str) -> tuple[str | None, bool]:
        """The account's renewal lock (its key), or ``(None, True)`` once another instance's
        fresh renewal was taken instead. Waits at most two lock lifetimes for the other."""
        deadline = self._clock() + 2 * LOCK_TTL
        while True:
            if await self._adopt_shared(name):
                return None, True
            key = await self._share.lock(name, LOCK_TTL)
            if key is not None:
                # someone may have renewed between the look and the lock
                if await self._adopt_shared(name):
                    await self._share.unlock(name, key)
                    return None, True
                return key, False
            if self._clock() >= deadline:
                return None, False
            await self._sleep(LOCK_POLL)

    async def _adopt_shared(self, name: str) -> bool:
        """Take the session another instance renewed when it is newer than this one's and
        fresh enough; True when the account needs no renewal of its own any more."""
        shared = await self._share.get(name)
        credentials = self._credentials.get(name)
        if shared is None or credentials is None or shared.token == credentials.token:
            return False
        if credentials.renewed_at is not None and shared.renewed_at <= credentials.renewed_at:
            return False
        ours, theirs = self._expiry.get(name), token_expiry(shared.token)
        if ours is not None and (theirs is None or theirs <= ours):
            return False
        self._set_credentials(
            replace(
                credentials,
                token=shared.token,
                cookies=shared.cookies,
                renewed_at=shared.renewed_at,
            )
        )
        if self._expiring(name, self._wall()):
            return False  # newer, but due all the same: renew it (with its jar)
        self._retry_at.pop(name, None)
        self._remember(name, await self._store.update(name, _back_in_service))
        log.info("account %s: took the token another instance renewed", name)
        self._changed_credentials()
        self._notify()
        return True

    async def _renew_upstream(self, name: str) -> bool:
        credentials = self._credentials.get(name)
        if credentials is None or not self._can_renew(credentials):
            return False
        sign_in = self._paced_sign_in if self._renew is not None else None
        result = await attempt_renewal(credentials, refresh=self._refresh, sign_in=sign_in)
        if self._credentials.get(name) != credentials:
            return False  # the operator replaced the credentials meanwhile; theirs win
        if isinstance(result, RenewalFailed):
            await self._renewal_failed(name, result)
            return False
        await self._renewed(name, credentials, result)
        return True

    async def _paced_sign_in(self, credentials: Credentials) -> str | Renewal:
        """The injected sign-in, spaced per account and paced across the pool."""
        assert self._renew is not None
        name = credentials.name
        state = (await self._load([name]))[name]
        if state.last_sign_in is not None:
            wait = state.last_sign_in + self._renew_min_interval - self._clock()
            if wait > 0:
                log.info("account %s: next sign-in allowed in %.0f s", name, wait)
                await self._sleep(wait)
        async with self._pacer.lock:
            await self._pacer.turn()
            now = self._clock()
            self._remember(name, await self._store.update(name, lambda s: s.signing_in(now)))
            return await self._renew(credentials)

    async def _renewed(self, name: str, before: Credentials, result: Renewed) -> None:
        wall = self._wall()
        new = result.renewal.applied_to(before, wall)
        self._set_credentials(new)
        self._retry_at.pop(name, None)
        self._remember(name, await self._store.update(name, lambda s: s.renewed()))
        with contextlib.suppress(ServiceUnavailable):
            await self._share.put(name, SharedSession(new.token, new.cookies, wall))
        expires = self._expiry.get(name)
        until = f"; valid until {format_time(expires, wall)}" if expires else ""
        log.info("account %s: token renewed by %s%s", name, result.via, until)
        self._changed_credentials()
        self._notify()

    async def _renewal_failed(self, name: str, failed: RenewalFailed) -> None:
        change: StateChange
        if failed.kind is Failure.SESSION_ENDED:
            message = f"the browser session ended ({failed.reason}); {session_fix(name)}"
            change = lambda s: s.session_ended(message)  # noqa: E731
        elif failed.kind is Failure.CAPTCHA:
            url = failed.verify_url
            change = lambda s: s.quarantined(url)  # noqa: E731
        elif failed.kind is Failure.RETRY:
            self._retry_at[name] = self._clock() + RETRY_AFTER
            message = f"token renewal failed ({failed.reason}); trying again in {RETRY_AFTER:.0f} s"
            change = lambda s: s.warned(message)  # noqa: E731
        else:
            fix = f"fix the password or {session_fix(name)}"
            message = f"automatic sign-in failed ({failed.reason}); {fix}"
            change = lambda s: s.renewal_failed(message)  # noqa: E731
        if name not in self._credentials:
            return  # removed meanwhile: leave no state behind
        new = await self._store.update(name, change)
        self._remember(name, new)
        if new is not None:
            log.warning("account %s: %s", name, new.message)
        self._notify()

    async def _stop_renewals(self, names: Sequence[str] | None = None) -> None:
        """Cancel the renewals under way (of ``names``, or all)."""
        tasks = [t for n, t in self._renewals.items() if names is None or n in names]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _back_in_service(state: AccountState) -> AccountState:
    """An account whose token another instance renewed: serving again if it waited for it."""
    return state.renewed() if state.health is Health.RENEWING else state
