"""Token renewal by sign-in, expiry ahead of time, and keeping secrets out of every output."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Sequence

import pytest

from accounts_support import pool_on
from qwen_proxy.accounts import (
    AccountPool,
    Credentials,
    ManualClock,
    NoAccountAvailable,
    Outcome,
    import_cookies,
)

pytestmark = pytest.mark.unit

MODEL = "qwen3-max"
HOUR = 3600.0
WALL_START = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
PASSWORD = "hunter2-very-secret"


def make_jwt(exp: float, user: str = "u") -> str:
    claims = json.dumps({"id": user, "exp": int(exp)}).encode()
    payload = base64.urlsafe_b64encode(claims).rstrip(b"=").decode()
    return f"eyJhbGciOiJIUzI1NiJ9.{payload}.sig-{user}-{int(exp)}"


def signed_in(name: str, exp: float = WALL_START + 30 * 24 * HOUR) -> Credentials:
    return Credentials(
        name=name, token=make_jwt(exp, name), email=f"{name}@example.com", password=PASSWORD
    )


class FakeSignIn:
    """Stands in for the upstream sign-in; counts calls and overlapping sign-ins."""

    def __init__(self, *, fail_with: Exception | None = None) -> None:
        self.calls: list[str] = []
        self.running = 0
        self.most_at_once = 0
        self.fail_with = fail_with
        self.gate: asyncio.Event | None = None

    async def __call__(self, credentials: Credentials) -> str:
        self.calls.append(credentials.name)
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.fail_with is not None:
                raise self.fail_with
            return make_jwt(WALL_START + 30 * 24 * HOUR, f"{credentials.name}-new")
        finally:
            self.running -= 1


def make_pool(
    clock: ManualClock, accounts: Sequence[Credentials], renew: FakeSignIn | None, **options: object
) -> AccountPool:
    return pool_on(clock, accounts, renew=renew, **options)


async def test_rejected_token_is_renewed_by_sign_in_and_saved() -> None:
    clock = ManualClock(wall_start=WALL_START)
    sign_in = FakeSignIn()
    saved: list[list[Credentials]] = []
    pool = make_pool(clock, [signed_in("a")], sign_in, on_change=lambda a: saved.append(list(a)))
    lease = await pool.acquire(MODEL)
    await lease.release(Outcome.auth())
    await pool.renewals_done()
    assert sign_in.calls == ["a"]
    fresh = await pool.acquire(MODEL, max_wait=0)
    assert fresh.credentials.token == make_jwt(WALL_START + 30 * 24 * HOUR, "a-new")
    assert saved[-1][0].token == fresh.credentials.token
    assert pool.snapshot()[0].state == "active"


async def test_account_signing_in_is_reported_as_coming_back_soon() -> None:
    clock = ManualClock(wall_start=WALL_START)
    sign_in = FakeSignIn()
    sign_in.gate = asyncio.Event()
    pool = make_pool(clock, [signed_in("a")], sign_in)
    await (await pool.acquire(MODEL)).release(Outcome.auth())
    assert pool.snapshot()[0].state == "renewing"
    with pytest.raises(NoAccountAvailable, match="1 signing in again") as caught:
        await pool.acquire(MODEL, max_wait=0)
    assert caught.value.retry_after is not None
    sign_in.gate.set()
    await pool.renewals_done()
    assert pool.usable()


async def test_sign_ins_run_one_at_a_time_across_the_pool() -> None:
    clock = ManualClock(wall_start=WALL_START)
    sign_in = FakeSignIn()
    sign_in.gate = asyncio.Event()
    pool = make_pool(clock, [signed_in(n) for n in "abc"], sign_in)
    leases = [await pool.acquire(MODEL) for _ in range(3)]
    for lease in leases:
        await lease.release(Outcome.auth())
    await asyncio.sleep(0)
    sign_in.gate.set()
    await pool.renewals_done()
    assert sorted(sign_in.calls) == ["a", "b", "c"]
    assert sign_in.most_at_once == 1
    assert [s.state for s in pool.snapshot()] == ["active"] * 3


async def test_repeated_rejection_waits_the_minimum_interval_before_signing_in_again() -> None:
    clock = ManualClock(wall_start=WALL_START)
    sign_in = FakeSignIn()
    pool = make_pool(clock, [signed_in("a")], sign_in, renew_min_interval=600)
    await (await pool.acquire(MODEL)).release(Outcome.auth())
    await pool.renewals_done()
    clock.advance(10)
    await (await pool.acquire(MODEL)).release(Outcome.auth())
    await clock.sleeping()
    assert sign_in.calls == ["a"]
    clock.advance(590)
    await pool.renewals_done()
    assert sign_in.calls == ["a", "a"]


async def test_failed_sign_in_disables_with_the_reason_but_not_the_password() -> None:
    clock = ManualClock(wall_start=WALL_START)
    sign_in = FakeSignIn(fail_with=ValueError(f"wrong password {PASSWORD}"))
    pool = make_pool(clock, [signed_in("a")], sign_in)
    await (await pool.acquire(MODEL)).release(Outcome.auth())
    await pool.renewals_done()
    status = pool.snapshot()[0]
    assert status.state == "disabled"
    assert "automatic sign-in failed (wrong password <redacted>)" in (status.message or "")
    assert PASSWORD not in (status.message or "")


async def test_expired_token_is_taken_out_before_anyone_uses_it() -> None:
    clock = ManualClock(wall_start=WALL_START)
    stale = Credentials(name="old", token=make_jwt(WALL_START - 2 * 24 * HOUR))
    fine = Credentials(name="fine", token=make_jwt(WALL_START + 24 * HOUR))
    pool = make_pool(clock, [stale, fine], None)
    assert (await pool.acquire(MODEL)).name == "fine"
    status = pool.snapshot()[0]
    assert status.state == "disabled"
    assert (status.message or "").startswith("token expired on 2026-05-26 20:26 UTC; run `qwen")


async def test_tokens_near_expiry_are_renewed_ahead_of_time_when_a_password_is_stored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock(wall_start=WALL_START)
    sign_in = FakeSignIn()
    soon = signed_in("soon", exp=WALL_START + 2 * HOUR)
    later = signed_in("later", exp=WALL_START + 10 * 24 * HOUR)
    bare = Credentials(name="bare", token=make_jwt(WALL_START + 3 * HOUR))
    pool = make_pool(clock, [soon, later, bare], sign_in, renew_ahead=6 * HOUR)
    assert pool.due_for_renewal() == ["soon"]
    assert [s.expiring_soon for s in pool.snapshot()] == [True, False, True]
    with caplog.at_level(logging.WARNING, logger="qwen_proxy.accounts"):
        assert await pool.renew_due() == ["soon"]
    assert "account bare: token expires on 2026-05-28 23:26 UTC" in caplog.text
    assert pool.due_for_renewal() == []
    assert [s.expiring_soon for s in pool.snapshot()] == [False, False, True]
    # the account kept serving while it signed in
    assert sign_in.calls == ["soon"]


async def test_due_for_renewal_looks_ahead_from_the_time_given() -> None:
    clock = ManualClock(wall_start=WALL_START)
    pool = make_pool(clock, [signed_in("a", exp=WALL_START + 48 * HOUR)], FakeSignIn())
    assert pool.due_for_renewal(WALL_START) == []
    assert pool.due_for_renewal(WALL_START + 43 * HOUR) == ["a"]


async def test_no_secret_reaches_logs_errors_reprs_or_status_in_a_faulty_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = ManualClock(wall_start=WALL_START)
    cookie_secret = "acw_tc=waf-cookie-secret-42"
    leaked_tokens: list[str] = []

    async def flaky_sign_in(credentials: Credentials) -> str:
        if len(leaked_tokens) == 0:
            leaked_tokens.append(credentials.token)
            raise RuntimeError(f"signin refused for {credentials.password} / {credentials.token}")
        token = make_jwt(WALL_START + 9 * 24 * HOUR, "renewed")
        leaked_tokens.append(token)
        return token

    first = Credentials(
        name="a",
        token=make_jwt(WALL_START + HOUR, "a"),
        cookies=cookie_secret,
        email="alice@example.com",
        password=PASSWORD,
        proxy="http://bob:proxy-pass-77@10.1.1.1:8080",
    )
    second = Credentials(name="b", token=make_jwt(WALL_START + 5 * 24 * HOUR, "b"))
    pool = pool_on(clock, [first, second], renew=flaky_sign_in, renew_min_interval=60)
    outputs: list[str] = [repr(first), str(first), repr(pool.accounts())]

    await (await pool.acquire(MODEL)).release(Outcome.auth())  # a: sign-in fails
    await pool.renewals_done()
    await (await pool.acquire(MODEL)).release(Outcome.captcha("https://chat.qwen.ai/verify"))
    try:
        await pool.acquire(MODEL, max_wait=0)
    except NoAccountAvailable as exc:
        outputs += [str(exc), repr(exc), json.dumps(exc.to_dict())]
    clock.advance(60)
    assert await pool.renew_due() == ["a"]  # a: sign-in succeeds
    imported = import_cookies(
        f"token={make_jwt(WALL_START + 7 * 24 * HOUR, 'b2')}; {cookie_secret}"
    )
    await pool.update_credentials("b", token=imported.token, cookies=imported.header)
    lease = await pool.acquire(MODEL)
    outputs += [repr(lease), repr(imported), repr(lease.credentials)]
    await lease.release(Outcome.ok())
    outputs += [json.dumps(s.to_dict()) for s in pool.snapshot()]
    outputs += [caplog.text]
    outputs += [r.getMessage() for r in caplog.records]

    everything = "\n".join(outputs)
    assert "automatic sign-in failed" in caplog.text  # the faulty paths did run
    assert "needs captcha verification" in caplog.text
    secrets = [PASSWORD, "waf-cookie-secret-42", "proxy-pass-77", "alice@", *leaked_tokens]
    secrets += [first.token, second.token, imported.token or "missing"]
    for secret in secrets:
        assert secret not in everything
