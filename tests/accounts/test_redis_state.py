"""Account state in Redis: what one gateway instance learns about an account (rate limit,
captcha, load, pacing) holds for every instance, and a dead instance's load ages out."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from qwen_proxy.accounts import (
    AccountPool,
    AccountState,
    Cooldown,
    Credentials,
    Health,
    NoAccountAvailable,
    Outcome,
    OwnerUnavailable,
)
from qwen_proxy.accounts.redis_state import RedisStateStore, decode_state, encode_state
from qwen_proxy.accounts.state import CooldownReason
from qwen_proxy.errors import ServiceUnavailable
from redis_support import RedisServer, assert_fails_fast

pytestmark = [pytest.mark.integration, pytest.mark.redis]

T0 = 1_700_000_000.0
MODEL = "qwen3-max"


class Clock:
    """A settable wall clock, so lease expiry is tested without waiting."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


StoreFactory = Callable[..., RedisStateStore]


@pytest.fixture
async def prefix(raw: aioredis.Redis) -> AsyncIterator[str]:
    """This test's own key prefix; its keys are deleted afterwards."""
    value = f"qwen-proxy-test:{uuid.uuid4().hex}:"
    yield value
    keys = [key async for key in raw.scan_iter(match=f"{value}*", count=1000)]
    if keys:
        await raw.delete(*keys)


@pytest.fixture
async def make_store(redis_url: str, prefix: str) -> AsyncIterator[StoreFactory]:
    """Stores standing for separate gateway instances that share one Redis and prefix."""
    stores: list[RedisStateStore] = []

    def make(**kwargs: Any) -> RedisStateStore:
        kwargs.setdefault("prefix", prefix)
        store = RedisStateStore(redis_url, **kwargs)
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.aclose()


def pool(store: RedisStateStore, **kwargs: Any) -> AccountPool:
    """One instance's pool over the shared account "a" (wall clock, as the gateway wires it)."""
    kwargs.setdefault("clock", time.time)
    return AccountPool([Credentials(name="a", token="tok-a")], store=store, **kwargs)


# --- the state itself ---------------------------------------------------------------------


async def test_every_field_of_a_state_survives_the_round_trip(make_store: StoreFactory) -> None:
    state = AccountState(
        health=Health.QUARANTINED,
        generation=3,
        last_started=T0 - 5,
        requests=17,
        failures=4,
        transient_streak=2,
        cooldown=Cooldown(T0 + 30, CooldownReason.TRANSIENT),
        model_cooldowns={MODEL: Cooldown(T0 + 60, CooldownReason.RATE_LIMIT)},
        strikes={f"rate_limit:{MODEL}": 2},
        verify_url="https://example.test/verify",
        message="needs captcha verification",
        last_sign_in=T0 - 100,
        session=2,
        private_session=1,
        private_error="settings route failed",
        private_tried=T0 - 50,
    )
    writer, reader = make_store(), make_store()
    await writer.update("a", lambda _: state)
    assert (await reader.load(["a"]))["a"] == state
    assert decode_state(encode_state(state)) == state


async def test_an_account_never_seen_loads_as_a_fresh_state(make_store: StoreFactory) -> None:
    assert await make_store().load(["new"]) == {"new": AccountState()}


async def test_a_change_that_declines_writes_nothing(
    make_store: StoreFactory, raw: aioredis.Redis, prefix: str
) -> None:
    store = make_store()
    assert await store.update("a", lambda _: None) is None
    assert await raw.exists(f"{prefix}account:a") == 0


async def test_a_state_nobody_writes_expires_after_the_state_ttl(
    make_store: StoreFactory, raw: aioredis.Redis, prefix: str
) -> None:
    store = make_store(state_ttl=120.0)
    await store.update("a", lambda s: s.warned("hello"))
    assert 0 < await raw.pttl(f"{prefix}account:a") <= 120_000


async def test_forget_drops_the_state_and_the_leases(
    make_store: StoreFactory, raw: aioredis.Redis, prefix: str
) -> None:
    store = make_store()
    await store.update("a", lambda s: s.start(MODEL, time.time(), 4, 0.0))
    await store.forget("a")
    assert await raw.exists(f"{prefix}account:a", f"{prefix}inflight:a") == 0
    assert store.held() == {}


async def test_concurrent_changes_from_two_instances_are_never_lost(
    make_store: StoreFactory,
) -> None:
    one, two = make_store(), make_store()

    def count(state: AccountState) -> AccountState:
        return state.warned(str(int(state.message or "0") + 1))

    await asyncio.gather(*(store.update("a", count) for store in [one, two] * 25))
    assert (await one.load(["a"]))["a"].message == "50"


# --- what instances share through their pools ---------------------------------------------


async def test_a_rate_limit_seen_by_one_instance_keeps_the_other_away(
    make_store: StoreFactory,
) -> None:
    first, second = pool(make_store()), pool(make_store())
    lease = await first.acquire(MODEL)
    await lease.release(Outcome.rate_limit(120))

    with pytest.raises(NoAccountAvailable) as caught:
        await second.acquire(MODEL, max_wait=0)
    assert caught.value.retry_after is not None
    assert 100 < caught.value.retry_after <= 120
    # other models are not affected
    other = await second.acquire("qwen-other")
    await other.release(Outcome.ok())


async def test_a_captcha_quarantine_seen_by_one_instance_holds_for_the_other(
    make_store: StoreFactory,
) -> None:
    first, second = pool(make_store()), pool(make_store())
    lease = await first.acquire(MODEL)
    await lease.release(Outcome.captcha("https://example.test/verify"))
    with pytest.raises(OwnerUnavailable, match="quarantined"):
        await second.acquire(MODEL, owner="a", max_wait=0)


async def test_the_concurrency_cap_counts_requests_of_every_instance(
    make_store: StoreFactory,
) -> None:
    first, second = pool(make_store(), max_concurrent=1), pool(make_store(), max_concurrent=1)
    lease = await first.acquire(MODEL)
    with pytest.raises(NoAccountAvailable):
        await second.acquire(MODEL, max_wait=0)
    await lease.release(Outcome.ok())
    again = await second.acquire(MODEL, max_wait=0)
    await again.release(Outcome.ok())


async def test_pacing_spaces_starts_across_instances(make_store: StoreFactory) -> None:
    first = pool(make_store(), min_interval=30.0)
    second = pool(make_store(), min_interval=30.0)
    lease = await first.acquire(MODEL)
    await lease.release(Outcome.ok())
    with pytest.raises(NoAccountAvailable):
        await second.acquire(MODEL, max_wait=0)


# --- in-flight leases: released at once, or aged out when their instance died -------------


async def test_a_released_request_frees_its_slot_at_once(make_store: StoreFactory) -> None:
    store, observer = make_store(), make_store()
    first = pool(store)
    lease = await first.acquire(MODEL)
    assert (await observer.load(["a"]))["a"].in_flight == 1
    assert store.held() == {"a": 1}
    await lease.release(Outcome.ok())
    assert (await observer.load(["a"]))["a"].in_flight == 0
    assert store.held() == {}


async def test_the_leases_of_a_dead_instance_age_out(make_store: StoreFactory) -> None:
    clock = Clock()
    dead, survivor = make_store(clock=clock, lease_ttl=60.0), make_store(clock=clock)
    await dead.update("a", lambda s: s.start(MODEL, clock.now, 4, 0.0))
    await dead.update("a", lambda s: s.start(MODEL, clock.now, 4, 0.0))
    assert (await survivor.load(["a"]))["a"].in_flight == 2

    clock.now += 61  # the dead instance renewed nothing meanwhile
    assert (await survivor.load(["a"]))["a"].in_flight == 0
    started = await survivor.update("a", lambda s: s.start(MODEL, clock.now, 1, 0.0))
    assert started is not None
    assert started.in_flight == 1


async def test_a_living_instance_keeps_its_long_requests_counted(make_store: StoreFactory) -> None:
    clock = Clock()
    living, observer = make_store(clock=clock, lease_ttl=60.0), make_store(clock=clock)
    await living.update("a", lambda s: s.start(MODEL, clock.now, 4, 0.0))
    clock.now += 50
    await living.renew_leases()
    clock.now += 50  # 100 s after the start, 50 s after the renewal
    assert (await observer.load(["a"]))["a"].in_flight == 1


async def test_a_lease_that_lapsed_is_not_renewed_back_to_life(make_store: StoreFactory) -> None:
    clock = Clock()
    slow, other = make_store(clock=clock, lease_ttl=60.0), make_store(clock=clock)
    await slow.update("a", lambda s: s.start(MODEL, clock.now, 4, 0.0))
    clock.now += 61
    await other.update("a", lambda s: s.warned(None))  # any write sweeps lapsed leases
    await slow.renew_leases()
    assert slow.held() == {}
    assert (await other.load(["a"]))["a"].in_flight == 0


async def test_closing_an_instance_gives_its_leases_back(make_store: StoreFactory) -> None:
    closing, observer = make_store(), make_store()
    await closing.update("a", lambda s: s.start(MODEL, time.time(), 4, 0.0))
    await closing.aclose()
    assert (await observer.load(["a"]))["a"].in_flight == 0


# --- Redis down: fail fast with a 503, heal by itself ---------------------------------------


async def test_a_stopped_redis_fails_fast_and_the_store_recovers_when_it_returns(
    private_redis: RedisServer,
) -> None:
    store = RedisStateStore(private_redis.url, prefix="t:")
    where = f"127.0.0.1:{private_redis.port}"
    try:
        await store.update("a", lambda s: s.warned("before"))
        private_redis.stop()
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: store.load(["a"]),
            lambda: store.update("a", lambda s: s.warned("during")),
            lambda: store.forget("a"),
        ]
        for call in calls:
            await assert_fails_fast(call, where)
        assert await store.ping() is False
        with pytest.raises(ServiceUnavailable, match="does not answer"):
            await pool(store).acquire(MODEL)

        private_redis.start()
        assert await store.ping() is True
        await store.update("a", lambda s: s.warned("after"))
        assert (await store.load(["a"]))["a"].message == "after"
    finally:
        await store.aclose()


def test_invalid_ttls_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        RedisStateStore("redis://127.0.0.1:1/0", lease_ttl=0)
