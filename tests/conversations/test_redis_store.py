"""The Redis store against a real Redis: same behaviour as the SQLite store, plus sharing
between gateway instances, atomic concurrent writes, and fast, self-healing failure."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from qwen_proxy.conversations.redis import RedisStore, open_redis_store
from qwen_proxy.conversations.store import ConversationStore, Node
from qwen_proxy.errors import ServiceUnavailable
from redis_support import (
    RedisServer,
    assert_fails_fast,
    free_port,
    redis_answers,
    running_redis,
    unavailable,
)

pytestmark = [pytest.mark.integration, pytest.mark.redis]

T0 = 1_700_000_000.0


class Clock:
    """A settable clock, so TTL semantics are tested without waiting."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def node(key: str, *, used: float = T0, chat_id: str = "chat-1", parent_id: str = "p") -> Node:
    return Node(
        key=key,
        tenant="tenant-hash",
        account="acct-1",
        chat_id=chat_id,
        parent_id=parent_id,
        model="qwen3-max",
        created_at=used,
        last_used_at=used,
        turn=2,
    )


StoreFactory = Callable[..., RedisStore]


@pytest.fixture
async def make_store(redis_url: str, raw: aioredis.Redis) -> AsyncIterator[StoreFactory]:
    """Stores sharing this test's own random prefix; its keys are deleted afterwards."""
    prefix = f"qwen-proxy-test:{uuid.uuid4().hex}:"
    stores: list[RedisStore] = []

    def make(**kwargs: Any) -> RedisStore:
        kwargs.setdefault("prefix", prefix)
        kwargs.setdefault("ttl", 3600.0)
        kwargs.setdefault("max_nodes", 1000)
        store = RedisStore(redis_url, **kwargs)
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.close()
    keys = [key async for key in raw.scan_iter(match=f"{prefix}*", count=1000)]
    if keys:
        await raw.delete(*keys)


# --- the behaviour every store shares (mirrors the SQLite store's) ---


async def test_lookup_returns_the_first_stored_key_in_the_order_asked(
    make_store: StoreFactory,
) -> None:
    store = make_store(clock=Clock())
    await store.put(node("short"))
    await store.put(node("long"))

    assert (await store.get_first(["longest", "long", "short"])) == node("long")
    assert (await store.get_first(["short", "long"])) == node("short")
    assert await store.get_first(["nothing", "here"]) is None
    assert await store.get_first([]) is None


async def test_every_field_of_a_node_survives_the_round_trip(make_store: StoreFactory) -> None:
    store = make_store(clock=Clock())
    stored = Node("k", "t", "a", "chat-é", "parent", "qwen-plus", T0 - 5.25, T0 + 0.125, 7)

    await store.put(stored)

    assert await store.get_first(["k"]) == stored


async def test_put_replaces_the_node_with_the_same_key(make_store: StoreFactory) -> None:
    store = make_store(clock=Clock())
    await store.put(node("k", parent_id="old"))
    await store.put(node("k", parent_id="new"))

    found = await store.get_first(["k"])
    assert found is not None
    assert found.parent_id == "new"
    assert await store.count() == 1


async def test_a_node_unused_for_longer_than_the_ttl_is_a_miss(make_store: StoreFactory) -> None:
    clock = Clock()
    store = make_store(ttl=100.0, clock=clock)
    await store.put(node("k"))

    clock.now = T0 + 99.0
    assert await store.get_first(["k"]) is not None
    clock.now = T0 + 100.0
    assert await store.get_first(["k"]) is None


async def test_touch_keeps_a_node_alive_and_records_when_it_was_used(
    make_store: StoreFactory,
) -> None:
    clock = Clock()
    store = make_store(ttl=100.0, clock=clock)
    await store.put(node("k"))

    clock.now = T0 + 90.0
    await store.touch("k", clock.now)
    clock.now = T0 + 150.0

    found = await store.get_first(["k"])
    assert found == replace(node("k"), last_used_at=T0 + 90.0)
    assert [n.last_used_at for n in await store.list()] == [T0 + 90.0]


async def test_redis_itself_drops_a_node_ttl_after_its_last_use(
    make_store: StoreFactory, raw: aioredis.Redis
) -> None:
    clock = Clock()
    store = make_store(ttl=100.0, clock=clock)
    await store.put(node("k", used=T0 - 40.0))
    name = f"{store.prefix}node:k"

    assert 59_000 < await raw.pttl(name) <= 60_000
    await store.touch("k", T0)
    assert 99_000 < await raw.pttl(name) <= 100_000


async def test_a_node_already_past_its_ttl_is_not_stored(make_store: StoreFactory) -> None:
    store = make_store(ttl=100.0, clock=Clock())

    await store.put(node("k", used=T0 - 100.0))

    assert await store.get_first(["k"]) is None
    assert await store.count() == 0


async def test_touching_an_unknown_key_stores_nothing(make_store: StoreFactory) -> None:
    store = make_store(clock=Clock())

    await store.touch("ghost", T0)

    assert await store.count() == 0
    assert await store.list() == []


async def test_the_size_bound_evicts_the_least_recently_used(make_store: StoreFactory) -> None:
    store = make_store(max_nodes=3, clock=Clock())
    for i, key in enumerate(["a", "b", "c"]):
        await store.put(node(key, used=T0 + i))
    await store.touch("a", T0 + 10)

    await store.put(node("d", used=T0 + 11))

    assert await store.count() == 3
    assert await store.get_first(["b"]) is None
    assert [n.key for n in await store.list()] == ["d", "a", "c"]


async def test_delete_forgets_a_node_and_ignores_unknown_keys(make_store: StoreFactory) -> None:
    store = make_store(clock=Clock())
    await store.put(node("k"))

    await store.delete("k")
    await store.delete("never-stored")

    assert await store.get_first(["k"]) is None
    assert await store.count() == 0


async def test_purge_deletes_nodes_unused_for_the_given_age(make_store: StoreFactory) -> None:
    clock = Clock(T0 + 1000.0)
    store = make_store(ttl=5000.0, clock=clock)
    await store.put(node("old", used=T0 + 400.0))
    await store.put(node("mid", used=T0 + 700.0))
    await store.put(node("new", used=T0 + 990.0))

    assert await store.purge(older_than=500.0) == 1
    assert [n.key for n in await store.list()] == ["new", "mid"]
    assert await store.purge(older_than=0) == 2
    assert await store.count() == 0


async def test_purge_by_default_removes_what_the_ttl_expired(make_store: StoreFactory) -> None:
    clock = Clock()
    store = make_store(ttl=100.0, clock=clock)
    await store.put(node("old"))
    await store.put(node("new", used=T0 + 60.0))

    clock.now = T0 + 120.0
    assert await store.count() == 2
    assert await store.purge() == 1
    assert [n.key for n in await store.list()] == ["new"]


async def test_purge_empties_a_large_store_in_bounded_batches(
    make_store: StoreFactory, raw: aioredis.Redis
) -> None:
    store = make_store(max_nodes=10_000, clock=Clock())
    async with raw.pipeline(transaction=False) as pipe:
        for i in range(2500):
            pipe.set(f"{store.prefix}node:k{i}", b"[]")
            pipe.zadd(f"{store.prefix}used", {f"k{i}": T0})
        await pipe.execute()

    assert await store.purge(older_than=0) == 2500
    assert await store.count() == 0
    assert [key async for key in raw.scan_iter(match=f"{store.prefix}*")] == []


async def test_list_shows_most_recent_first_with_a_limit_and_a_chat_filter(
    make_store: StoreFactory,
) -> None:
    store = make_store(clock=Clock())
    for i in range(6):
        await store.put(node(f"k{i}", used=T0 + i, chat_id="even" if i % 2 == 0 else "odd"))

    assert [n.key for n in await store.list()] == ["k5", "k4", "k3", "k2", "k1", "k0"]
    assert [n.key for n in await store.list(limit=2)] == ["k5", "k4"]
    assert [n.key for n in await store.list(chat_id="even")] == ["k4", "k2", "k0"]
    assert [n.key for n in await store.list(limit=1, chat_id="odd")] == ["k5"]
    assert await store.list(chat_id="unknown") == []


async def test_list_with_a_chat_filter_walks_past_the_first_page(
    make_store: StoreFactory, raw: aioredis.Redis
) -> None:
    store = make_store(max_nodes=10_000, clock=Clock())
    await store.put(node("wanted", used=T0, chat_id="rare"))
    for i in range(1500):
        await store.put(node(f"k{i}", used=T0 + 1 + i, chat_id="common"))

    assert [n.key for n in await store.list(chat_id="rare")] == ["wanted"]


async def test_list_skips_index_entries_whose_node_expired(
    make_store: StoreFactory, raw: aioredis.Redis
) -> None:
    store = make_store(clock=Clock())
    await store.put(node("a", used=T0))
    await store.put(node("b", used=T0 + 1))
    # what Redis' own expiry does to a value
    await raw.delete(f"{store.prefix}node:b")

    assert [n.key for n in await store.list()] == ["a"]
    assert await store.get_first(["b", "a"]) == node("a")


async def test_stores_with_different_prefixes_do_not_see_each_other(
    make_store: StoreFactory,
) -> None:
    mine = make_store(clock=Clock())
    other = make_store(prefix=f"{mine.prefix}other:", clock=Clock())
    await mine.put(node("k"))

    assert await other.get_first(["k"]) is None
    assert await other.count() == 0


async def test_invalid_bounds_are_refused(redis_url: str) -> None:
    with pytest.raises(ValueError, match="max_nodes"):
        RedisStore(redis_url, ttl=-1.0, max_nodes=10)
    with pytest.raises(ValueError, match="max_nodes"):
        RedisStore(redis_url, ttl=1.0, max_nodes=0)


# --- what only a shared store must do ---


async def test_two_gateway_instances_see_each_others_nodes(make_store: StoreFactory) -> None:
    first, second = make_store(clock=Clock()), make_store(clock=Clock())

    await first.put(node("k"))
    assert await second.get_first(["k"]) == node("k")

    await second.touch("k", T0 + 30.0)
    assert [n.last_used_at for n in await first.list()] == [T0 + 30.0]

    await first.delete("k")
    assert await second.get_first(["k"]) is None


async def test_concurrent_puts_of_one_key_leave_one_consistent_node(
    make_store: StoreFactory, raw: aioredis.Redis
) -> None:
    stores = [make_store(clock=Clock()) for _ in range(4)]
    written = [node("k", used=T0 + i, parent_id=f"parent-{i}") for i in range(20)]

    await asyncio.gather(*(stores[i % 4].put(n) for i, n in enumerate(written)))

    found = await stores[0].get_first(["k"])
    assert found in written
    assert found is not None
    # the recency index agrees with the value that won
    assert await raw.zscore(f"{stores[0].prefix}used", "k") == found.last_used_at
    assert await stores[0].count() == 1


async def test_concurrent_puts_respect_the_bound_and_keep_index_and_values_in_step(
    make_store: StoreFactory, raw: aioredis.Redis
) -> None:
    stores = [make_store(max_nodes=50, clock=Clock()) for _ in range(4)]

    async def writer(i: int) -> None:
        for j in range(10):
            await stores[i % 4].put(node(f"w{i}-{j}", used=T0 + j + i / 100))

    await asyncio.gather(*(writer(i) for i in range(20)))

    prefix = stores[0].prefix
    members = cast("list[bytes]", await raw.zrange(f"{prefix}used", 0, -1))
    indexed = {m.decode() for m in members}
    values = {
        k.decode().removeprefix(f"{prefix}node:")
        async for k in raw.scan_iter(match=f"{prefix}node:*", count=1000)
    }
    assert len(indexed) == 50
    assert indexed == values


async def test_open_redis_store_gives_a_working_store(redis_url: str, raw: aioredis.Redis) -> None:
    store: ConversationStore = open_redis_store(redis_url, ttl=3600.0, max_nodes=10)
    assert isinstance(store, RedisStore)
    key = f"open-{uuid.uuid4().hex}"
    try:
        assert await store.ping()
        await store.put(node(key, used=time.time()))
        found = await store.get_first([key])
        assert found is not None
        assert found.key == key
    finally:
        await store.delete(key)
        await store.close()


# --- Redis down: fail fast, never hang, heal by itself ---


async def test_a_store_whose_redis_stops_fails_fast_and_recovers_when_it_returns(
    private_redis: RedisServer,
) -> None:
    store = RedisStore(private_redis.url, ttl=3600.0, max_nodes=100, prefix="t:")
    where = f"127.0.0.1:{private_redis.port}"
    try:
        await store.put(node("k", used=time.time()))
        assert await store.get_first(["k"]) is not None

        private_redis.stop()
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: store.get_first(["k"]),
            lambda: store.put(node("k", used=time.time())),
            lambda: store.touch("k", time.time()),
            lambda: store.delete("k"),
            store.purge,
            store.list,
            store.count,
        ]
        for call in calls:
            await assert_fails_fast(call, where)
        assert await store.ping() is False

        private_redis.start()
        assert await store.ping() is True
        await store.put(node("k", used=time.time()))
        assert await store.get_first(["k"]) is not None
    finally:
        await store.close()


async def test_a_redis_that_never_answers_costs_one_timeout_not_a_hang() -> None:
    accepted = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()  # hold the connection open, never reply
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = RedisStore(f"redis://127.0.0.1:{port}/0", ttl=60.0, max_nodes=10)
    try:
        await assert_fails_fast(lambda: store.get_first(["k"]), f"127.0.0.1:{port}")
        assert accepted.is_set()
    finally:
        await store.close()
        server.close()


async def test_the_redis_password_never_shows_in_the_error() -> None:
    port = free_port()
    store = RedisStore(f"redis://user:s3cret-pw@127.0.0.1:{port}/0", ttl=60.0, max_nodes=10)
    try:
        with pytest.raises(ServiceUnavailable) as caught:
            await store.count()
        assert "s3cret-pw" not in caught.value.message
        assert "s3cret-pw" not in str(caught.value.to_dict())
        assert f"127.0.0.1:{port}" in caught.value.message
        assert await store.ping() is False
    finally:
        await store.close()


async def test_a_restarted_redis_is_invisible_to_the_next_call(
    private_redis: RedisServer,
) -> None:
    store = RedisStore(private_redis.url, ttl=3600.0, max_nodes=100, prefix="t:")
    try:
        assert await store.count() == 0
        # the pooled connection dies with the server; the next call must not see that
        private_redis.stop()
        private_redis.start()
        await store.put(node("k", used=time.time()))
        assert await store.count() == 1
    finally:
        await store.close()


# --- the redis_url fixture: skip locally, fail under CI ---


def test_without_any_redis_the_tests_skip_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with (
        pytest.raises(pytest.skip.Exception, match="Redis not available: no server on"),
        running_redis(port=free_port(), binary="no-such-redis-server"),
    ):
        pass


def test_without_any_redis_ci_fails_instead_of_skipping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with (
        pytest.raises(pytest.fail.Exception, match="CI is set"),
        running_redis(port=free_port(), binary="no-such-redis-server"),
    ):
        pass


def test_without_a_server_on_the_port_a_private_one_is_started() -> None:
    if shutil.which("redis-server") is None:
        unavailable("Redis not available: no redis-server binary to start")
    with running_redis(port=free_port()) as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert redis_answers("127.0.0.1", port)
    assert not redis_answers("127.0.0.1", port)


async def test_a_server_that_is_not_redis_gives_a_clear_503() -> None:
    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        await reader.read()
        writer.close()

    server = await asyncio.start_server(http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = RedisStore(f"redis://127.0.0.1:{port}/0", ttl=60.0, max_nodes=10)
    try:
        with pytest.raises(ServiceUnavailable, match="does not speak the Redis protocol"):
            await store.count()
    finally:
        await store.close()
        server.close()


async def test_instances_sharing_a_redis_share_one_tenant_secret(redis_url: str) -> None:
    prefix = f"test-secret-{time.time_ns()}:"
    one = RedisStore(redis_url, ttl=60, max_nodes=10, prefix=prefix)
    two = RedisStore(redis_url, ttl=60, max_nodes=10, prefix=prefix)
    try:
        first = await one.shared_secret(b"a" * 64)
        assert await two.shared_secret(b"b" * 64) == first == b"a" * 64
    finally:
        await one.close()
        await two.close()
