"""Keys and limits in Redis: two instances (two clients) share keys, counters and slots."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from qwen_proxy.keys import ClientKey, KeyRegistry, UsageDelta, add_key, key_rows, revoke_key
from qwen_proxy.keys.redis import RedisKeyStore
from qwen_proxy.keys.redis_limits import RedisLimiter

pytestmark = [pytest.mark.integration, pytest.mark.redis]

T0 = 1_800_000_000.0


@pytest.fixture
async def prefix(raw: aioredis.Redis) -> AsyncIterator[str]:
    name = f"qwen-proxy-test:{uuid.uuid4().hex}:"
    yield name
    keys = [key async for key in raw.scan_iter(match=f"{name}*", count=1000)]
    if keys:
        await raw.delete(*keys)


def key(**limits: int) -> ClientKey:
    return ClientKey(name="alice", digest="d", created_at=0.0, **limits)  # type: ignore[arg-type]


async def test_two_instances_admit_no_more_than_the_rpm_between_them(
    redis_url: str, prefix: str
) -> None:
    first, second = RedisLimiter(redis_url, prefix=prefix), RedisLimiter(redis_url, prefix=prefix)
    k = key(rpm=7)
    answers = await asyncio.gather(*(limiter.admit(k, T0 + 1) for limiter in [first, second] * 10))
    assert sum(a.admitted for a in answers) == 7
    assert {a.exceeded for a in answers if not a.admitted} == {"requests"}
    await first.close()
    await second.close()


async def test_two_instances_share_the_concurrency_slots_and_the_tpm(
    redis_url: str, prefix: str
) -> None:
    first, second = RedisLimiter(redis_url, prefix=prefix), RedisLimiter(redis_url, prefix=prefix)
    k = key(concurrency=2, tpm=50)
    answers = await asyncio.gather(*(limiter.admit(k, T0) for limiter in [first, second] * 3))
    held = [a for a in answers if a.admitted]
    assert len(held) == 2
    assert {a.exceeded for a in answers if not a.admitted} == {"concurrency"}
    await first.release(k, held[0].lease, 60, T0 + 1)
    refused = await second.admit(k, T0 + 2)
    assert refused.exceeded == "tokens"
    assert refused.tokens == 60
    assert (await second.admit(k, T0 + 61)).admitted
    await first.close()
    await second.close()


async def test_keys_added_on_one_instance_are_seen_by_the_other(
    redis_url: str, prefix: str
) -> None:
    here, there = RedisKeyStore(redis_url, prefix=prefix), RedisKeyStore(redis_url, prefix=prefix)
    registry = KeyRegistry(there)
    await registry.refresh()
    _, secret = await add_key(here, "alice", now=T0, rpm=3)
    assert await registry.refresh()
    assert registry.lookup(secret) is not None
    await here.add_usage({"alice": UsageDelta(2, 10, 30, T0)}, T0)
    await there.add_usage({"alice": UsageDelta(1, 1, 2, T0 + 1)}, T0 + 1)
    rows = await key_rows(there, now=T0 + 2)
    assert rows[0]["usage"]["requests"] == 3
    assert rows[0]["usage"]["today_output_tokens"] == 32
    assert rows[0]["usage"]["last_used_at"] == T0 + 1
    await revoke_key(here, "alice", now=T0 + 3)
    assert await registry.refresh()
    assert not registry.active
    await here.close()
    await there.close()
