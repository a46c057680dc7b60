"""Shared fixtures: an emulator, a gateway in front of it, official clients, a Redis.

Every test module says what kind of test it is (``pytestmark = pytest.mark.unit``,
``integration`` or ``e2e``); collection fails for one that does not.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import openai
import pytest
import redis.asyncio as aioredis

from gateway_support import running_gateway, session_settings
from qwen_proxy.emulator.config import EmulatorConfig
from qwen_proxy.emulator.testing import EmulatorHandle, running_emulator
from qwen_proxy.server.run import BackgroundGateway
from redis_support import RedisServer, running_redis, unavailable

KINDS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a test whose module does not say its kind: the markers select suites."""
    unmarked = sorted(
        {str(item.path) for item in items if not any(item.get_closest_marker(k) for k in KINDS)}
    )
    if unmarked:
        raise pytest.UsageError(
            "test modules without a kind marker (pytestmark = pytest.mark.unit, integration "
            "or e2e): " + ", ".join(unmarked)
        )


# --- emulator (owner: emulator) -------------------------------------------------------------
# A fresh offline Qwen service per test on a free port (start-up measured at ~5 ms), speaking
# today's upstream (2026-10 era: browser sessions, 15-minute tokens, the firewall's gates).
# The old upstream (2026-06: a token alone opens every route) stays for the tests of accounts
# that are still a single token.


@pytest.fixture
def emulator() -> Iterator[EmulatorHandle]:
    """A running emulator of today's upstream with the default sample account; see
    qwen_proxy.emulator.testing."""
    with running_emulator(EmulatorConfig.default()) as handle:
        yield handle


@pytest.fixture
def emulator_now(emulator: EmulatorHandle) -> EmulatorHandle:
    """The same as ``emulator`` (the name says the era where it matters to the test)."""
    return emulator


@pytest.fixture
def emulator_2026_06() -> Iterator[EmulatorHandle]:
    """A running emulator of the upstream before browser sessions (a long-lived token alone
    opens every route), for the accounts that are still a single token."""
    with running_emulator(EmulatorConfig.default(auth_era="2026-06")) as handle:
        yield handle


# --- end emulator ---------------------------------------------------------------------------


# --- gateway (owner: gateway) ---------------------------------------------------------------
# The gateway on a free port against the test's emulator, and official openai clients for it.


@pytest.fixture
def gateway(emulator: EmulatorHandle, tmp_path: Path) -> Iterator[BackgroundGateway]:
    """A gateway using the emulator's sample account (its browser session), memory store."""
    with running_gateway(session_settings(emulator, tmp_path)) as running:
        yield running


@pytest.fixture
def slow_gateway(emulator: EmulatorHandle, tmp_path: Path) -> Iterator[BackgroundGateway]:
    """A gateway with a 1 s first-byte timeout and no retries (timeout tests)."""
    settings = session_settings(emulator, tmp_path, first_byte_timeout=1.0, retries=0)
    with running_gateway(settings) as running:
        yield running


@pytest.fixture
def client(gateway: BackgroundGateway) -> openai.OpenAI:
    """The official sync client pointed at the gateway (SDK retries off: tests see each answer)."""
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="test", max_retries=0)


@pytest.fixture
def aclient(gateway: BackgroundGateway) -> openai.AsyncOpenAI:
    """The official async client pointed at the gateway."""
    return openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key="test", max_retries=0)


# --- end gateway ----------------------------------------------------------------------------


# --- redis ---------------------------------------------------------------------------------


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
