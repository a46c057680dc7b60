"""What each upstream outcome does to an account, and what a refused client is told."""

from __future__ import annotations

import pytest

from accounts_support import pool_on
from qwen_proxy.accounts import (
    AccountPool,
    CooldownPolicy,
    InMemoryStateStore,
    ManualClock,
    NoAccountAvailable,
    Outcome,
)

pytestmark = pytest.mark.unit

MODEL = "qwen3-max"
OTHER_MODEL = "qwen3-coder-plus"
POLICY = CooldownPolicy(
    rate_limit_base=60,
    rate_limit_factor=2,
    rate_limit_cap=300,
    empty_base=10,
    empty_factor=3,
    empty_cap=100,
    transient_threshold=3,
    transient_cooldown=30,
)


def make_pool(
    clock: ManualClock, names: str = "a", store: InMemoryStateStore | None = None
) -> AccountPool:
    return pool_on(clock, names, policy=POLICY, store=store)


async def report(pool: AccountPool, outcome: Outcome, model: str = MODEL) -> str:
    lease = await pool.acquire(model, max_wait=0)
    await lease.release(outcome)
    return lease.name


async def rest_seconds(pool: AccountPool, clock: ManualClock, model: str = MODEL) -> float:
    with pytest.raises(NoAccountAvailable) as caught:
        await pool.acquire(model, max_wait=0)
    assert caught.value.retry_after is not None
    return caught.value.retry_after


async def test_rate_limit_rest_doubles_each_time_up_to_the_cap() -> None:
    clock = ManualClock()
    pool = make_pool(clock)
    seen = []
    for _ in range(5):
        await report(pool, Outcome.rate_limit(None))
        wait = await rest_seconds(pool, clock)
        seen.append(wait)
        clock.advance(wait)
    assert seen == [60, 120, 240, 300, 300]


async def test_rate_limit_honours_the_wait_the_upstream_gives() -> None:
    clock = ManualClock()
    pool = make_pool(clock)
    await report(pool, Outcome.rate_limit(6 * 3600))
    assert await rest_seconds(pool, clock) == 6 * 3600
    clock.advance(6 * 3600 - 1)
    with pytest.raises(NoAccountAvailable):
        await pool.acquire(MODEL, max_wait=0)
    clock.advance(1)
    assert (await pool.acquire(MODEL, max_wait=0)).name == "a"


async def test_success_resets_the_rate_limit_backoff() -> None:
    clock = ManualClock()
    pool = make_pool(clock)
    await report(pool, Outcome.rate_limit(None))
    clock.advance(60)
    await report(pool, Outcome.ok())
    await report(pool, Outcome.rate_limit(None))
    assert await rest_seconds(pool, clock) == 60


async def test_a_request_given_up_by_its_client_keeps_the_strike_and_counts_nothing() -> None:
    clock = ManualClock()
    pool = make_pool(clock)
    await report(pool, Outcome.rate_limit(None))
    clock.advance(60)
    await report(pool, Outcome.abandoned())
    status = pool.snapshot()[0]
    assert (status.requests, status.failures, status.in_flight) == (1, 1, 0)
    await report(pool, Outcome.rate_limit(None))
    assert await rest_seconds(pool, clock) == 120  # still the second strike in a row


async def test_rate_limited_model_does_not_stop_other_models_on_that_account() -> None:
    clock = ManualClock()
    pool = make_pool(clock)
    await report(pool, Outcome.rate_limit(3600))
    assert (await pool.acquire(OTHER_MODEL, max_wait=0)).name == "a"
    with pytest.raises(NoAccountAvailable):
        await pool.acquire(MODEL, max_wait=0)
    status = pool.snapshot()[0]
    assert status.state == "cooling"
    assert set(status.model_cooldowns) == {MODEL}
    assert pool.usable()


async def test_rate_limited_account_is_skipped_for_a_healthy_one() -> None:
    clock = ManualClock()
    pool = make_pool(clock, names="ab")
    await report(pool, Outcome.rate_limit(600))
    assert [await report(pool, Outcome.ok()) for _ in range(3)] == ["b", "b", "b"]


async def test_empty_stream_is_a_short_rest_that_grows_when_repeated() -> None:
    clock = ManualClock()
    pool = make_pool(clock)
    seen = []
    for _ in range(4):
        await report(pool, Outcome.empty())
        wait = await rest_seconds(pool, clock)
        seen.append(wait)
        clock.advance(wait)
    assert seen == [10, 30, 90, 100]


async def test_transient_failures_rest_the_account_only_after_several_in_a_row() -> None:
    clock = ManualClock()
    pool = make_pool(clock)
    await report(pool, Outcome.transient())
    await report(pool, Outcome.transient())
    await report(pool, Outcome.ok())  # success resets the streak
    await report(pool, Outcome.transient())
    await report(pool, Outcome.transient())
    assert pool.usable()
    await report(pool, Outcome.transient())
    assert not pool.usable()
    clock.advance(30)
    assert pool.usable()
    assert pool.snapshot()[0].failures == 5


async def test_the_only_account_resting_after_network_trouble_is_tried_again_one_at_a_time() -> (
    None
):
    clock = ManualClock()
    pool = make_pool(clock)
    for _ in range(3):
        await report(pool, Outcome.transient())
    assert not pool.usable()
    # no client is refused for 30 s on a network blip: one request probes the account ...
    probe = await pool.acquire(MODEL, max_wait=0)
    # ... while the others wait for its verdict
    assert await rest_seconds(pool, clock) == 30
    await probe.release(Outcome.ok())
    assert pool.usable()  # it got through: the rest is over


async def test_a_failed_probe_keeps_the_account_resting() -> None:
    clock = ManualClock()
    pool = make_pool(clock)
    for _ in range(3):
        await report(pool, Outcome.transient())
    probe = await pool.acquire(MODEL, max_wait=0)
    await probe.release(Outcome.transient())
    assert not pool.usable()


async def test_captcha_quarantines_until_new_cookies_are_imported() -> None:
    clock = ManualClock()
    pool = make_pool(clock)
    url = "https://chat.qwen.ai/punish?x5secdata=abc"
    await report(pool, Outcome.captcha(url))
    status = pool.snapshot()[0]
    assert (status.state, status.verify_url) == ("quarantined", url)
    assert url in (status.message or "")
    with pytest.raises(NoAccountAvailable) as caught:
        await pool.acquire(MODEL, max_wait=0)
    assert "1 needs captcha verification" in caught.value.message
    assert caught.value.retry_after is None
    assert caught.value.should_retry is False
    clock.advance(86400)  # time alone does not bring it back
    assert not pool.usable()
    await pool.update_credentials("a", cookies="cna=new; token=fresh", token="fresh")
    lease = await pool.acquire(MODEL, max_wait=0)
    assert lease.credentials.token == "fresh"
    assert lease.credentials.cookies == "cna=new; token=fresh"
    assert pool.snapshot()[0].verify_url is None


async def test_auth_failure_without_password_disables_and_tells_the_operator_the_fix() -> None:
    clock = ManualClock()
    pool = make_pool(clock)
    await report(pool, Outcome.auth())
    status = pool.snapshot()[0]
    assert status.state == "disabled"
    # the fix is a new browser session, pasted as one copied request
    assert "qwen-proxy accounts import-curl a" in (status.message or "")
    assert "accounts add" not in (status.message or "")
    with pytest.raises(NoAccountAvailable, match="1 disabled") as caught:
        await pool.acquire(MODEL, max_wait=0)
    assert caught.value.retry_after is None


async def test_late_auth_failure_of_a_replaced_token_does_not_disable_the_new_one() -> None:
    clock = ManualClock()
    pool = make_pool(clock)
    old = await pool.acquire(MODEL)
    await pool.update_credentials("a", token="new-token")
    await old.release(Outcome.auth())
    assert pool.snapshot()[0].state == "active"


async def test_refusal_message_groups_accounts_by_cause_with_earliest_return() -> None:
    clock = ManualClock(wall_start=1_780_000_000)  # 2026-05-28 20:26:40 UTC
    pool = make_pool(clock, names="abc")
    await report(pool, Outcome.rate_limit(3600))  # a until 21:26
    await report(pool, Outcome.rate_limit(1200))  # b until 20:46
    await report(pool, Outcome.captcha(None))  # c
    with pytest.raises(NoAccountAvailable) as caught:
        await pool.acquire(MODEL, max_wait=0)
    error = caught.value
    assert error.message == (
        "No Qwen account can serve qwen3-max now: "
        "2 rate-limited until 20:46 UTC, 1 needs captcha verification."
    )
    assert error.retry_after == 1200
    assert error.should_retry is None
    assert error.to_dict()["code"] == "no_account_available"


async def test_snapshot_shows_counts_and_rest_end_in_unix_time() -> None:
    clock = ManualClock(wall_start=1_780_000_000)
    pool = make_pool(clock)
    await report(pool, Outcome.ok())
    await report(pool, Outcome.rate_limit(100))
    status = pool.snapshot()[0]
    assert (status.requests, status.failures, status.in_flight) == (2, 1, 0)
    assert status.cooldown_until == 1_780_000_100
    assert status.to_dict()["model_cooldowns"] == {MODEL: 1_780_000_100}


async def test_pools_sharing_a_state_store_see_each_others_cool_downs() -> None:
    # two gateway instances over one store: what one learns, the other respects
    clock = ManualClock()
    store = InMemoryStateStore()
    first, second = make_pool(clock, "ab", store), make_pool(clock, "ab", store)
    assert await report(first, Outcome.rate_limit(600)) == "a"
    assert (await second.acquire(MODEL, max_wait=0)).name == "b"
    await second.refresh()
    assert second.snapshot()[0].state == "cooling"


async def test_refusal_after_repeated_server_errors_says_so() -> None:
    clock = ManualClock()
    pool = make_pool(clock)
    for _ in range(3):
        await report(pool, Outcome.transient())
    probe = await pool.acquire(MODEL, max_wait=0)  # one request tries it again
    with pytest.raises(NoAccountAvailable) as caught:
        await pool.acquire(MODEL, max_wait=0)
    await probe.release(Outcome.transient())
    assert "1 resting after network or server errors until" in caught.value.message
    assert caught.value.retry_after == 30
