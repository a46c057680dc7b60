"""The store contract, for every backend, plus what only the SQLite file must survive."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from qwen_proxy.conversations.factory import open_store
from qwen_proxy.conversations.memory import MemoryStore
from qwen_proxy.conversations.sqlite import SqliteStore
from qwen_proxy.conversations.store import ConversationStore
from store_support import T0, insert_many, node

pytestmark = pytest.mark.integration


TTL = 3600.0


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


StoreFactory = Callable[..., ConversationStore]


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    def make(clock: FakeClock, *, max_nodes: int = 1000) -> ConversationStore:
        if request.param == "memory":
            return MemoryStore(ttl=TTL, max_nodes=max_nodes, clock=clock)
        return SqliteStore(
            tmp_path / "c.sqlite3", ttl=TTL, max_nodes=max_nodes, check_every=1, clock=clock
        )

    return make


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(make_store: StoreFactory, clock: FakeClock) -> AsyncIterator[ConversationStore]:
    s = make_store(clock)
    yield s
    await s.close()


async def test_get_first_returns_the_first_stored_key_in_the_order_given(
    store: ConversationStore,
) -> None:
    await store.put(node("short"))
    await store.put(node("long"))
    assert (await store.get_first(["missing", "long", "short"])) == node("long")
    assert (await store.get_first(["short", "long"])) == node("short")
    assert await store.get_first(["missing"]) is None
    assert await store.get_first([]) is None


async def test_put_replaces_a_node_with_the_same_key(store: ConversationStore) -> None:
    await store.put(node("k", chat_id="old"))
    await store.put(node("k", chat_id="new"))
    assert (await store.get_first(["k"])) == node("k", chat_id="new")
    assert await store.count() == 1


async def test_a_node_unused_for_longer_than_the_ttl_is_a_miss(
    store: ConversationStore, clock: FakeClock
) -> None:
    await store.put(node("k"))
    clock.now = T0 + TTL - 1
    assert await store.get_first(["k"]) is not None
    clock.now = T0 + TTL + 1
    assert await store.get_first(["k"]) is None


async def test_touching_a_node_keeps_it_alive(store: ConversationStore, clock: FakeClock) -> None:
    await store.put(node("k"))
    await store.touch("k", T0 + TTL - 1)
    clock.now = T0 + TTL + 1
    found = await store.get_first(["k"])
    assert found is not None
    assert found.last_used_at == T0 + TTL - 1


async def test_size_bound_evicts_the_least_recently_used(
    make_store: StoreFactory, clock: FakeClock
) -> None:
    store = make_store(clock, max_nodes=3)
    for i in range(3):
        await store.put(node(f"k{i}", used=T0 + i))
    await store.touch("k0", T0 + 10)
    await store.put(node("k3", used=T0 + 11))
    assert await store.count() == 3
    assert await store.get_first(["k1"]) is None
    for key in ("k0", "k2", "k3"):
        assert await store.get_first([key]) is not None
    await store.close()


async def test_purge_removes_expired_nodes_by_default_and_everything_with_zero(
    store: ConversationStore, clock: FakeClock
) -> None:
    await store.put(node("old", used=T0))
    await store.put(node("recent", used=T0 + TTL))
    clock.now = T0 + TTL + 1
    assert await store.purge() == 1
    assert [n.key for n in await store.list()] == ["recent"]
    assert await store.purge(older_than=0) == 1
    assert await store.count() == 0


async def test_list_shows_most_recently_used_first_and_filters_by_chat(
    store: ConversationStore,
) -> None:
    await store.put(node("a", used=T0 + 1, chat_id="c1"))
    await store.put(node("b", used=T0 + 2, chat_id="c2"))
    await store.put(node("c", used=T0 + 3, chat_id="c1"))
    assert [n.key for n in await store.list()] == ["c", "b", "a"]
    assert [n.key for n in await store.list(limit=2)] == ["c", "b"]
    assert [n.key for n in await store.list(chat_id="c1")] == ["c", "a"]


async def test_delete_forgets_a_node_and_ping_answers(store: ConversationStore) -> None:
    await store.put(node("k"))
    await store.delete("k")
    await store.delete("never-stored")
    assert await store.get_first(["k"]) is None
    assert await store.ping() is True


async def test_sqlite_store_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    first = SqliteStore(path, ttl=TTL, clock=FakeClock())
    await first.put(node("k"))
    await first.close()
    second = SqliteStore(path, ttl=TTL, clock=FakeClock())
    assert (await second.get_first(["k"])) == node("k")
    await second.close()


async def test_sqlite_lookup_with_more_keys_than_one_statement_allows(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "c.sqlite3", ttl=TTL, clock=FakeClock())
    await store.put(node("k-1999"))
    await store.put(node("k-5"))
    keys = [f"k-{i}" for i in range(2500, -1, -1)]
    assert (await store.get_first(keys)) == node("k-1999")
    await store.close()


def test_two_processes_opening_and_inserting_at_once_lose_no_nodes(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite3")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2, timeout=20)
    workers = [
        ctx.Process(target=insert_many, args=(path, name, 2000, start), daemon=True)
        for name in ("a", "b")
    ]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=30)
        assert [w.exitcode for w in workers] == [0, 0]
    finally:
        for w in workers:
            if w.is_alive():
                w.kill()
    store = SqliteStore(path)
    assert asyncio.run(store.count()) == 4000
    asyncio.run(store.close())


async def test_open_store_opens_the_sqlite_file_in_the_data_directory(tmp_path: Path) -> None:
    store = open_store("sqlite", data_dir=tmp_path / "data", ttl=TTL, max_nodes=10)
    await store.put(node("k", used=time.time()))
    await store.close()
    assert (tmp_path / "data" / "conversations.sqlite3").exists()
    assert isinstance(open_store("memory", data_dir=tmp_path, ttl=TTL, max_nodes=10), MemoryStore)


async def test_open_store_hands_redis_urls_to_the_redis_store(tmp_path: Path) -> None:
    from qwen_proxy.conversations.redis import RedisStore

    store = open_store("redis://127.0.0.1:1/0", data_dir=tmp_path, ttl=TTL, max_nodes=10)
    assert isinstance(store, RedisStore)
    await store.close()


def test_open_store_rejects_unknown_kinds_clearly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="memory"):
        open_store("postgres://x", data_dir=tmp_path, ttl=TTL, max_nodes=10)


def test_the_sqlite_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    async def write_one() -> dict[str, str]:
        store = open_store("sqlite", data_dir=tmp_path, ttl=TTL, max_nodes=10)
        await store.put(node("k", used=time.time()))
        modes = file_modes(tmp_path)
        await store.close()
        return modes

    modes = asyncio.run(write_one())
    assert "conversations.sqlite3-wal" in modes
    assert set(modes.values()) == {"0o600"}, modes


def file_modes(directory: Path) -> dict[str, str]:
    return {
        path.name: oct(path.stat().st_mode & 0o777)
        for path in directory.glob("conversations.sqlite3*")
    }
