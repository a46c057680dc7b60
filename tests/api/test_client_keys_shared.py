"""Two gateways on one Redis enforce one key's limits together and see its revocation."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from gateway_support import MODEL, running_gateway, session_settings
from qwen_proxy.keys import add_key, revoke_key
from qwen_proxy.keys.redis import RedisKeyStore

pytestmark = [pytest.mark.integration, pytest.mark.redis]

CHAT = "/v1/chat/completions"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "echo: hi"}]}


@pytest.fixture
async def prefix(raw: aioredis.Redis) -> AsyncIterator[str]:
    name = f"qwen-proxy-test:{uuid.uuid4().hex}:"
    yield name
    keys = [key async for key in raw.scan_iter(match=f"{name}*", count=1000)]
    if keys:
        await raw.delete(*keys)


async def test_two_instances_share_a_keys_rpm_concurrency_and_revocation(
    emulator: Any, tmp_path: Path, redis_url: str, prefix: str
) -> None:
    store = RedisKeyStore(redis_url, prefix=prefix)
    _, secret = await add_key(store, "team", now=time.time(), rpm=4, concurrency=1)
    headers = {"Authorization": f"Bearer {secret}"}
    emulator.set_knobs(event_delay=0.05, answer_length=120)

    def settings(name: str) -> Any:
        return session_settings(
            emulator,
            tmp_path / name,
            store=redis_url,
            redis_prefix=prefix,
            api_keys=("k-env",),
        )

    with running_gateway(settings("a")) as one, running_gateway(settings("b")) as two:
        async with httpx.AsyncClient(timeout=30) as client:
            # one slot between both instances: of two requests at once, one is refused
            both = await asyncio.gather(
                client.post(one.url + CHAT, json=BODY, headers=headers),
                client.post(two.url + CHAT, json=BODY, headers=headers),
            )
            assert sorted(a.status_code for a in both) == [200, 429]
            emulator.set_knobs(event_delay=0.0)
            # four requests a minute between both: the one admitted above and three more
            later = [
                await client.post(url + CHAT, json=BODY, headers=headers)
                for url in (one.url, two.url, one.url, two.url)
            ]
            assert [a.status_code for a in later] == [200, 200, 200, 429]
            assert later[2].headers["x-ratelimit-remaining-requests"] == "0"
            await revoke_key(store, "team", now=time.time())
            started = time.monotonic()
            while (await client.get(two.url + "/v1/models", headers=headers)).status_code != 401:
                assert time.monotonic() - started < 2.0, "instance b did not follow the revoke"
                await asyncio.sleep(0.05)
    await store.close()
