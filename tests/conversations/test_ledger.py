"""The ledger of created chats, in every store: what it lists, what counts as in use, claims."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from qwen_proxy.conversations.ledger import LedgerEntry
from qwen_proxy.conversations.memory import MemoryStore
from qwen_proxy.conversations.redis import RedisStore
from qwen_proxy.conversations.sqlite import SqliteStore
from qwen_proxy.conversations.store import ConversationStore
from store_support import T0, node

TTL = 100.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


Factory = Callable[[Clock], ConversationStore]


@pytest.fixture(
    params=[
        pytest.param("memory", marks=pytest.mark.unit),
        pytest.param("sqlite", marks=pytest.mark.unit),
        pytest.param("redis", marks=[pytest.mark.integration, pytest.mark.redis]),
    ]
)
async def make(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    prefix = f"qwen-proxy-test:{uuid.uuid4().hex}:"
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""

    def factory(clock: Clock) -> ConversationStore:
        if request.param == "memory":
            return MemoryStore(ttl=TTL, clock=clock)
        if request.param == "sqlite":
            return SqliteStore(tmp_path / "c.sqlite3", ttl=TTL, clock=clock)
        return RedisStore(url, ttl=TTL, prefix=prefix, clock=clock)

    yield factory
    if url:
        raw = aioredis.Redis.from_url(url)
        keys = [key async for key in raw.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await raw.delete(*keys)
        await raw.aclose()


async def test_the_ledger_lists_old_chats_oldest_first_in_pages(make: Factory) -> None:
    clock = Clock()
    store = make(clock)
    for i in range(5):
        await store.add_chat(f"chat-{i}", "acc", T0 + i)
    old = await store.chats_created_before(T0 + 3)
    assert old == [LedgerEntry(f"chat-{i}", "acc", T0 + i) for i in range(3)]
    assert [e.chat_id for e in await store.chats_created_before(T0 + 9, offset=2, limit=2)] == [
        "chat-2",
        "chat-3",
    ]
    await store.forget_chats(["chat-0", "chat-2"])
    assert [e.chat_id for e in await store.chats_created_before(T0 + 9)] == [
        "chat-1",
        "chat-3",
        "chat-4",
    ]
    await store.close()


async def test_a_chat_is_in_use_while_one_of_its_nodes_lives(make: Factory) -> None:
    clock = Clock()
    store = make(clock)
    clock.now = T0 + 50
    await store.put(node("old", used=T0, chat_id="a"))
    await store.put(node("recent", used=T0 + 50, chat_id="b"))
    await store.put(node("older", used=T0 - 10, chat_id="b"))
    assert await store.chats_in_use(["a", "b", "c"]) == {"a", "b"}
    clock.now = T0 + 120  # "old" expired; "recent" lives on
    assert await store.chats_in_use(["a", "b", "c"]) == {"b"}
    assert await store.chats_in_use([]) == set()
    await store.close()


async def test_one_cleanup_claim_holds_at_a_time(make: Factory) -> None:
    store, other = make(Clock()), make(Clock())
    assert await store.claim_cleanup(T0, 60.0)
    assert not await store.claim_cleanup(T0 + 1, 60.0)
    if not isinstance(store, MemoryStore):  # a memory store is one process's alone
        assert not await other.claim_cleanup(T0 + 1, 60.0)
    await store.close()
    await other.close()
