"""Browser sessions renew their own token: ahead of its end, once for every instance, and an
account whose session ended says so; memory and tools go off before a session first serves."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import replace

import pytest

from accounts_support import pool_on
from qwen_proxy.accounts import (
    AccountPool,
    Credentials,
    InMemoryStateStore,
    ManualClock,
    NoAccountAvailable,
    Outcome,
)
from qwen_proxy.accounts.renewal import (
    Renewal,
    min_validity,
    renew_ahead,
    token_lifetime,
)
from qwen_proxy.accounts.renewing import RETRY_AFTER
from qwen_proxy.accounts.shared import SharedSession
from qwen_proxy.qwen.auth import SessionAnswer
from qwen_proxy.qwen.errors import UpstreamAuthFailed, UpstreamCaptcha, UpstreamConnectionError

pytestmark = pytest.mark.unit

MODEL = "qwen3.7-plus"
WALL_START = 1_780_000_000.0
LIFETIME = 900.0
URL = "https://chat.qwen.ai/_____tmd_____/punish?x5secdata=abc"


def make_jwt(exp: float, user: str = "u") -> str:
    claims = json.dumps({"id": user, "exp": int(exp)}).encode()
    payload = base64.urlsafe_b64encode(claims).rstrip(b"=").decode()
    return f"eyJhbGciOiJIUzI1NiJ9.{payload}.sig-{user}-{int(exp)}"


def session(name: str, clock: ManualClock, left: float = LIFETIME, **extra: str) -> Credentials:
    """A browser session whose token was renewed ``LIFETIME - left`` seconds ago."""
    token = make_jwt(clock.wall() + left, name)
    return Credentials(
        name=name,
        token=token,
        cookies=f"acw_tc=waf-{name}; token={token}; refresh_token=rt-{name}",
        bx_ua="231!ua",
        bx_umidtoken="T2gA-umid",
        renewed_at=clock.wall() + left - LIFETIME,
        **extra,
    )


class FakeRefresh:
    """Stands in for the auth host's renewal: a 15-minute token per call."""

    def __init__(self, clock: ManualClock, *, fail_with: Exception | None = None) -> None:
        self.clock = clock
        self.calls: list[str] = []
        self.fail_with = fail_with
        self.gate: asyncio.Event | None = None
        self.cookies: dict[str, str | None] = {}

    async def __call__(self, credentials: Credentials) -> Renewal:
        self.calls.append(credentials.name)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        token = make_jwt(self.clock.wall() + LIFETIME, f"{credentials.name}-{len(self.calls)}")
        return Renewal(token, dict(self.cookies))


def make_pool(
    clock: ManualClock, accounts: list[Credentials], refresh: FakeRefresh, **options: object
) -> AccountPool:
    return pool_on(clock, accounts, refresh=refresh, **options)


# -- when a token is renewed ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("lifetime", "ahead", "least"),
    [(900.0, 300.0, 60.0), (3.0, 1.0, 0.75), (30 * 86400.0, 6 * 3600.0, 60.0), (None, 21600, 60)],
)
def test_renewal_starts_a_third_ahead_and_a_request_needs_a_quarter_left(
    lifetime: float | None, ahead: float, least: float
) -> None:
    assert renew_ahead(lifetime, 6 * 3600.0) == ahead
    assert min_validity(lifetime) == least


def test_a_browser_sessions_token_of_unknown_age_counts_as_a_fifteen_minute_one() -> None:
    token = make_jwt(WALL_START + 600)
    imported = Credentials(name="a", token=token, cookies="refresh_token=rt")
    assert token_lifetime(imported, WALL_START + 600) == LIFETIME
    assert token_lifetime(Credentials(name="b", token=token), WALL_START + 600) is None
    renewed = replace(imported, renewed_at=WALL_START + 597)
    assert token_lifetime(renewed, WALL_START + 600) == 3.0


async def test_a_token_is_renewed_ahead_of_its_end_while_it_keeps_serving() -> None:
    clock = ManualClock(wall_start=WALL_START)
    refresh = FakeRefresh(clock)
    first = session("a", clock)
    pool = make_pool(clock, [first], refresh)
    await (await pool.acquire(MODEL)).release(Outcome.ok())
    assert refresh.calls == []

    clock.advance(650)  # 250 s left: renew now, but the token still serves
    lease = await pool.acquire(MODEL)
    assert lease.credentials.token == first.token
    await lease.release(Outcome.ok())
    await pool.renewals_done()

    fresh = await pool.acquire(MODEL)
    assert refresh.calls == ["a"]
    assert fresh.credentials.token != first.token
    assert pool.snapshot()[0].state == "active"


async def test_no_request_is_served_with_a_token_ending_within_a_minute() -> None:
    clock = ManualClock(wall_start=WALL_START)
    refresh = FakeRefresh(clock)
    refresh.gate = asyncio.Event()
    pool = make_pool(clock, [session("a", clock, left=50)], refresh)

    waiting = asyncio.ensure_future(pool.acquire(MODEL))
    await asyncio.sleep(0.01)
    assert not waiting.done()  # the request waits for the renewal
    refresh.gate.set()
    lease = await waiting

    assert refresh.calls == ["a"]
    assert lease.credentials.token.endswith("-a-1-" + str(int(clock.wall() + LIFETIME)))


async def test_the_renewed_token_and_cookies_are_stored_together_and_saved() -> None:
    clock = ManualClock(wall_start=WALL_START)
    refresh = FakeRefresh(clock)
    refresh.cookies = {"refresh_token": "rt-rotated", "xlly_s": None}
    saved: list[list[Credentials]] = []
    old = replace(session("a", clock, left=30), cookies=None)
    old = replace(old, cookies=f"acw_tc=w; xlly_s=1; token={old.token}; refresh_token=rt-a")
    pool = make_pool(clock, [old], refresh, on_change=lambda a: saved.append(list(a)))

    lease = await pool.acquire(MODEL)

    new = lease.credentials
    assert new.cookies == f"acw_tc=w; token={new.token}; refresh_token=rt-rotated"
    assert new.renewed_at == clock.wall()
    assert saved == [[new]]
    assert pool.accounts() == [new]


def test_what_the_auth_host_answers_is_what_the_session_keeps() -> None:
    answer = SessionAnswer(
        "at-2",
        refresh_token="rt-body",
        set_cookies=("token=at-2; Path=/; HttpOnly", "ssxmod=; Max-Age=0"),
    )
    renewal = Renewal.from_answer(answer)
    before = Credentials(name="a", token="at-1", cookies="ssxmod=x; token=at-1; refresh_token=rt")
    after = renewal.applied_to(before, WALL_START)
    assert after.token == "at-2"
    assert after.cookies == "token=at-2; refresh_token=rt-body"
    assert "at-2" not in repr(renewal)


# -- when a renewal fails -------------------------------------------------------------------


async def test_a_refused_renewal_says_the_account_needs_a_new_browser_session() -> None:
    clock = ManualClock(wall_start=WALL_START)
    refresh = FakeRefresh(clock, fail_with=UpstreamAuthFailed("The refresh token has expired."))
    pool = make_pool(clock, [session("a", clock, left=30)], refresh)

    with pytest.raises(NoAccountAvailable) as refused:
        await pool.acquire(MODEL)
    status = pool.snapshot()[0]

    assert status.state == "needs_session"
    assert "the browser session ended" in (status.message or "")
    assert "refresh token has expired" in (status.message or "")
    assert "qwen-proxy accounts import-curl a" in (status.message or "")
    assert "1 need a new browser session" in refused.value.message
    assert refused.value.retry_after is None
    clock.advance(3600)
    assert await pool.renew_due() == []
    assert refresh.calls == ["a"]


async def test_a_refused_renewal_falls_back_to_the_stored_password() -> None:
    clock = ManualClock(wall_start=WALL_START)
    refresh = FakeRefresh(clock, fail_with=UpstreamAuthFailed())
    signed: list[str] = []

    async def sign_in(credentials: Credentials) -> Renewal:
        signed.append(credentials.name)
        return Renewal(make_jwt(clock.wall() + LIFETIME, "signed"), {"refresh_token": "rt-new"})

    account = session("a", clock, left=30, email="a@example.com", password="pw")
    pool = make_pool(clock, [account], refresh, renew=sign_in)
    lease = await pool.acquire(MODEL)

    assert (refresh.calls, signed) == (["a"], ["a"])
    assert "refresh_token=rt-new" in (lease.credentials.cookies or "")


async def test_network_trouble_in_a_renewal_is_retried_later_not_blamed_on_the_session() -> None:
    clock = ManualClock(wall_start=WALL_START)
    refresh = FakeRefresh(clock, fail_with=UpstreamConnectionError())
    pool = make_pool(clock, [session("a", clock, left=200)], refresh)

    await (await pool.acquire(MODEL)).release(Outcome.ok())  # renewal starts, fails
    await pool.renewals_done()
    status = pool.snapshot()[0]
    assert status.state == "active"
    assert "token renewal failed" in (status.message or "")
    assert pool.due_for_renewal() == []
    clock.advance(RETRY_AFTER)
    assert pool.due_for_renewal() == ["a"]


async def test_a_challenge_during_a_renewal_quarantines_the_account_with_its_link() -> None:
    clock = ManualClock(wall_start=WALL_START)
    refresh = FakeRefresh(clock, fail_with=UpstreamCaptcha(verify_url=URL))
    pool = make_pool(clock, [session("a", clock, left=30)], refresh)
    with pytest.raises(NoAccountAvailable):
        await pool.acquire(MODEL)
    status = pool.snapshot()[0]
    assert (status.state, status.verify_url) == ("quarantined", URL)


async def test_a_rejected_token_is_renewed_and_the_request_can_wait_for_it() -> None:
    clock = ManualClock(wall_start=WALL_START)
    refresh = FakeRefresh(clock)
    refresh.gate = asyncio.Event()
    first = session("a", clock)
    pool = make_pool(clock, [first], refresh)
    await (await pool.acquire(MODEL)).release(Outcome.auth())
    assert pool.snapshot()[0].state == "renewing"

    retry = asyncio.ensure_future(pool.acquire(MODEL, owner="a"))
    await asyncio.sleep(0.01)
    assert not retry.done()  # the chat's owner is waited for, not given up on
    refresh.gate.set()
    await pool.wait_for_renewal("a")
    lease = await retry
    assert lease.credentials.token != first.token


async def test_password_sign_ins_are_paced_across_accounts() -> None:
    clock = ManualClock(wall_start=WALL_START)
    signed: list[str] = []

    async def sign_in(credentials: Credentials) -> str:
        signed.append(credentials.name)
        return make_jwt(clock.wall() + 30 * 86400, credentials.name + "-new")

    accounts = [
        Credentials(name=n, token=make_jwt(WALL_START + 86400, n), email=f"{n}@x", password="p")
        for n in "ab"
    ]
    pool = pool_on(clock, accounts, renew=sign_in, signin_interval=45)
    for _ in "ab":
        await (await pool.acquire(MODEL)).release(Outcome.auth())
    await clock.sleeping()
    assert len(signed) == 1
    clock.advance(44)
    await asyncio.sleep(0)
    assert len(signed) == 1
    clock.advance(1)
    await pool.renewals_done()
    assert sorted(signed) == ["a", "b"]


# -- several instances --------------------------------------------------------------------


class MemoryShare:
    """A ``SessionShare`` two pools of one test share (as two instances share a Redis)."""

    def __init__(self) -> None:
        self.sessions: dict[str, SharedSession] = {}
        self.locks: dict[str, str] = {}

    async def get(self, name: str) -> SharedSession | None:
        return self.sessions.get(name)

    async def put(self, name: str, session: SharedSession) -> None:
        self.sessions[name] = session

    async def lock(self, name: str, ttl: float) -> str | None:
        if name in self.locks:
            return None
        self.locks[name] = key = f"key-{len(self.sessions)}-{time.monotonic()}"
        return key

    async def unlock(self, name: str, key: str) -> None:
        if self.locks.get(name) == key:
            del self.locks[name]

    async def forget(self, name: str) -> None:
        self.sessions.pop(name, None)


async def test_two_instances_renew_a_token_once_and_both_use_the_new_one() -> None:
    clock = ManualClock(wall_start=time.time())
    share, states = MemoryShare(), InMemoryStateStore()
    upstream = FakeRefresh(clock)
    upstream.gate = asyncio.Event()
    old = session("a", clock, left=30)
    pools = [
        AccountPool([old], refresh=upstream, share=share, store=states, wall_clock=clock.wall)
        for _ in range(2)
    ]

    waiting = [asyncio.ensure_future(pool.acquire(MODEL)) for pool in pools]
    await asyncio.sleep(0.05)
    upstream.gate.set()
    leases = await asyncio.gather(*waiting)

    assert upstream.calls == ["a"]  # one renewal for both
    assert leases[0].credentials.token == leases[1].credentials.token != old.token
    assert share.sessions["a"].token == leases[0].credentials.token


async def test_a_token_another_process_renewed_is_taken_without_resetting_the_account() -> None:
    clock = ManualClock(wall_start=WALL_START)
    first = session("a", clock)
    pool = make_pool(clock, [first], FakeRefresh(clock))
    await (await pool.acquire(MODEL)).release(Outcome.rate_limit(3600))
    renewed = replace(first, token=make_jwt(WALL_START + 2000, "b"), renewed_at=WALL_START + 5)

    await pool.add(renewed)

    assert pool.accounts() == [renewed]
    assert pool.snapshot()[0].state == "cooling"  # the rest it earned stays


# -- memory and tools off, once per browser session ---------------------------------------


class FakeSettings:
    def __init__(self, *, fail_with: Exception | None = None) -> None:
        self.calls: list[str] = []
        self.fail_with = fail_with

    async def __call__(self, credentials: Credentials) -> None:
        self.calls.append(credentials.name)
        if self.fail_with is not None:
            raise self.fail_with


async def test_memory_and_tools_go_off_once_before_a_sessions_first_request() -> None:
    clock = ManualClock(wall_start=WALL_START)
    switch = FakeSettings()
    pool = make_pool(clock, [session("a", clock)], FakeRefresh(clock), make_private=switch)
    assert pool.snapshot()[0].memory == "pending"
    for _ in range(3):
        await (await pool.acquire(MODEL)).release(Outcome.ok())
    assert switch.calls == ["a"]
    assert pool.snapshot()[0].memory == "off"

    await pool.update_credentials("a", token=make_jwt(WALL_START + 900, "new"))  # a new session
    await (await pool.acquire(MODEL)).release(Outcome.ok())
    assert switch.calls == ["a", "a"]


async def test_an_account_whose_memory_could_not_go_off_still_serves_and_says_so() -> None:
    clock = ManualClock(wall_start=WALL_START)
    switch = FakeSettings(fail_with=UpstreamConnectionError("Could not reach Qwen."))
    pool = make_pool(clock, [session("a", clock)], FakeRefresh(clock), make_private=switch)

    await (await pool.acquire(MODEL)).release(Outcome.ok())
    await (await pool.acquire(MODEL)).release(Outcome.ok())
    status = pool.snapshot()[0]

    assert (status.memory, status.memory_message) == ("failed", "Could not reach Qwen.")
    assert switch.calls == ["a"]  # not tried again on every request
    clock.advance(600)
    await (await pool.acquire(MODEL)).release(Outcome.ok())
    assert switch.calls == ["a", "a"]
