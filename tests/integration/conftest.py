"""Fixtures for the integration tests: a Redis to run the Redis store against."""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

# the helper modules sit in tests/; make them importable however pytest was invoked
_TESTS = str(Path(__file__).resolve().parent.parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from redis_support import RedisServer, running_redis, unavailable  # noqa: E402


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis URL (shared 127.0.0.1:6379 or a private server); skips, or fails under CI."""
    with running_redis() as url:
        yield url


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which the test may stop and restart."""
    if shutil.which("redis-server") is None:
        unavailable("Redis not available: no redis-server binary to start and stop")
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A plain client of the suite's Redis, for looking at keys directly."""
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()
