"""Which account a request gets: load, recency, concurrency cap, pacing, chat ownership."""

from __future__ import annotations

import asyncio

import pytest

from accounts_support import pool_on
from qwen_proxy.accounts import (
    AccountPool,
    Credentials,
    ManualClock,
    NoAccountAvailable,
    Outcome,
    OwnerUnavailable,
)

pytestmark = pytest.mark.unit

MODEL = "qwen3-max"


def make_pool(clock: ManualClock, names: str = "abc", **options: object) -> AccountPool:
    return pool_on(clock, names, **options)


async def test_new_chats_spread_over_idle_accounts_in_order() -> None:
    pool = make_pool(ManualClock())
    leases = [await pool.acquire(MODEL) for _ in range(3)]
    assert [lease.name for lease in leases] == ["a", "b", "c"]


async def test_least_busy_account_is_chosen_first() -> None:
    clock = ManualClock()
    pool = make_pool(clock)
    _a, b, _c = [await pool.acquire(MODEL) for _ in range(3)]
    await b.release(Outcome.ok())
    # b has nothing in flight while a and c still have one each
    assert (await pool.acquire(MODEL)).name == "b"


async def test_among_equally_busy_the_least_recently_used_is_chosen() -> None:
    clock = ManualClock()
    pool = make_pool(clock)
    for name in "abc":
        lease = await pool.acquire(MODEL)
        assert lease.name == name
        await lease.release(Outcome.ok())
        clock.advance(1)
    # all idle again; a was used longest ago
    first = await pool.acquire(MODEL)
    await first.release(Outcome.ok())
    assert first.name == "a"
    assert (await pool.acquire(MODEL)).name == "b"


async def test_request_beyond_the_cap_waits_for_a_release() -> None:
    clock = ManualClock()
    pool = make_pool(clock, names="a", max_concurrent=4)
    leases = [await pool.acquire(MODEL) for _ in range(4)]
    fifth = asyncio.create_task(pool.acquire(MODEL, max_wait=10))
    await clock.sleeping()
    assert not fifth.done()
    await leases[2].release(Outcome.ok())
    lease = await fifth
    assert lease.name == "a"
    assert pool.snapshot()[0].in_flight == 4


async def test_request_beyond_the_cap_fails_after_its_wait_runs_out() -> None:
    clock = ManualClock()
    pool = make_pool(clock, names="a", max_concurrent=1, poll_interval=60)
    await pool.acquire(MODEL)
    fifth = asyncio.create_task(pool.acquire(MODEL, max_wait=5))
    await clock.sleeping()
    clock.advance(5)
    with pytest.raises(NoAccountAvailable) as caught:
        await fifth
    assert "1 busy" in caught.value.message
    assert caught.value.retry_after == 1.0


async def test_account_used_too_recently_is_waited_for_not_refused() -> None:
    clock = ManualClock()
    pool = make_pool(clock, names="a", min_interval=2.0)
    first = await pool.acquire(MODEL)
    await first.release(Outcome.ok())
    clock.advance(0.5)
    second = asyncio.create_task(pool.acquire(MODEL))
    await clock.sleeping()
    clock.advance(1.0)
    await clock.sleeping()  # still 0.5 s too early: waits again
    assert not second.done()
    clock.advance(0.5)
    assert (await second).name == "a"


async def test_pacing_prefers_an_account_that_may_start_now() -> None:
    clock = ManualClock()
    pool = make_pool(clock, names="ab", min_interval=5.0)
    a = await pool.acquire(MODEL)
    await a.release(Outcome.ok())
    # a is idle but paced, b is ready: no waiting
    assert (await pool.acquire(MODEL)).name == "b"
    assert clock.sleepers == 0


async def test_continued_chat_stays_on_its_owner_even_when_busier() -> None:
    clock = ManualClock()
    pool = make_pool(clock)
    await pool.acquire(MODEL)  # a is busy
    lease = await pool.acquire(MODEL, owner="a")
    assert lease.name == "a"


async def test_continued_chat_on_a_rate_limited_owner_is_told_to_move() -> None:
    clock = ManualClock()
    pool = make_pool(clock)
    lease = await pool.acquire(MODEL, owner="b")
    await lease.release(Outcome.rate_limit(600))
    with pytest.raises(OwnerUnavailable) as caught:
        await pool.acquire(MODEL, owner="b")
    assert caught.value.name == "b"
    assert "rate-limited until" in caught.value.reason
    # the caller folds the history into a new chat elsewhere
    assert (await pool.acquire(MODEL, exclude={"b"})).name == "a"


async def test_continued_chat_of_a_removed_account_is_told_to_move() -> None:
    pool = make_pool(ManualClock())
    await pool.remove("c")
    with pytest.raises(OwnerUnavailable, match="no longer configured"):
        await pool.acquire(MODEL, owner="c")


async def test_owner_busy_past_the_wait_is_told_to_move() -> None:
    clock = ManualClock()
    pool = make_pool(clock, names="ab", max_concurrent=1)
    await pool.acquire(MODEL, owner="a")
    waiting = asyncio.create_task(pool.acquire(MODEL, owner="a", max_wait=3))
    await clock.sleeping()
    clock.advance(3)
    with pytest.raises(OwnerUnavailable, match="busy"):
        await waiting


async def test_excluded_accounts_are_not_tried_again() -> None:
    pool = make_pool(ManualClock())
    lease = await pool.acquire(MODEL, exclude={"a", "b"})
    assert lease.name == "c"
    with pytest.raises(NoAccountAvailable, match="3 already tried"):
        await pool.acquire(MODEL, exclude={"a", "b", "c"})


async def test_lease_context_releases_as_failure_when_an_error_escapes() -> None:
    clock = ManualClock()
    pool = make_pool(clock, names="a")
    with pytest.raises(RuntimeError):
        async with await pool.acquire(MODEL):
            raise RuntimeError("boom")
    status = pool.snapshot()[0]
    assert (status.in_flight, status.requests, status.failures) == (0, 1, 1)


async def test_lease_context_after_explicit_release_does_not_release_twice() -> None:
    pool = make_pool(ManualClock(), names="a")
    async with await pool.acquire(MODEL) as lease:
        await lease.release(Outcome.ok())
    with pytest.raises(RuntimeError, match="already released"):
        await lease.release(Outcome.ok())
    assert pool.snapshot()[0].requests == 1


async def test_cancelled_request_frees_its_slot_without_counting_a_failure() -> None:
    pool = make_pool(ManualClock(), names="a", max_concurrent=1)
    started = asyncio.Event()

    async def request() -> None:
        async with await pool.acquire(MODEL):
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(request())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    status = pool.snapshot()[0]
    assert (status.in_flight, status.failures) == (0, 0)
    assert (await pool.acquire(MODEL, max_wait=0)).name == "a"


async def test_no_accounts_configured_says_how_to_add_one() -> None:
    pool = make_pool(ManualClock(), names="")
    with pytest.raises(NoAccountAvailable, match="accounts import-curl NAME") as caught:
        await pool.acquire(MODEL)
    assert caught.value.should_retry is False
    assert caught.value.status == 503
    assert caught.value.code == "no_account_available"


async def test_accounts_added_at_run_time_serve_requests() -> None:
    pool = make_pool(ManualClock(), names="")
    await pool.add(Credentials(name="late", token="t"))
    assert (await pool.acquire(MODEL)).name == "late"
