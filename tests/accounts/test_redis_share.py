"""Renewed browser sessions shared through Redis: what one instance stores the others read,
and the renewal lock is held by one instance at a time and given back only by its holder."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from qwen_proxy.accounts.redis_share import RedisSessionShare
from qwen_proxy.accounts.shared import SharedSession

pytestmark = [pytest.mark.integration, pytest.mark.redis]


@pytest.fixture
async def shares(redis_url: str, raw: aioredis.Redis) -> AsyncIterator[list[RedisSessionShare]]:
    """Two instances' shares under one prefix of this test's own (its keys are deleted)."""
    prefix = f"qwen-proxy-test:{uuid.uuid4().hex}:"
    made = [RedisSessionShare(redis_url, prefix=prefix) for _ in range(2)]
    yield made
    for share in made:
        await share.aclose()
    keys = [key async for key in raw.scan_iter(match=f"{prefix}*", count=1000)]
    if keys:
        await raw.delete(*keys)


async def test_a_session_one_instance_stores_is_what_the_other_reads(
    shares: list[RedisSessionShare],
) -> None:
    one, other = shares
    session = SharedSession("at-2", "acw_tc=w; refresh_token=rt-2", 1_790_000_000.5)

    assert await other.get("a") is None
    await one.put("a", session)
    assert await other.get("a") == session
    await other.forget("a")
    assert await one.get("a") is None


async def test_the_renewal_lock_is_one_instances_at_a_time_and_only_its_holder_frees_it(
    shares: list[RedisSessionShare],
) -> None:
    one, other = shares
    key = await one.lock("a", 30)

    assert key is not None
    assert await other.lock("a", 30) is None
    await other.unlock("a", "not-the-key")
    assert await other.lock("a", 30) is None
    await one.unlock("a", key)
    assert await other.lock("a", 30) is not None


async def test_a_lock_of_an_instance_that_died_lapses(shares: list[RedisSessionShare]) -> None:
    one, other = shares
    assert await one.lock("a", 0.05) is not None
    await asyncio.sleep(0.1)
    assert await other.lock("a", 30) is not None
