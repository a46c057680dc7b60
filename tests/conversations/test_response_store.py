"""Stored responses (``previous_response_id``): the same contract in memory, SQLite and Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from qwen_proxy.conversations.factory import open_response_store, open_store
from qwen_proxy.conversations.responses import (
    MemoryResponses,
    ResponseRecord,
    ResponseStore,
    load_history,
)
from qwen_proxy.conversations.responses_redis import RedisResponses
from qwen_proxy.conversations.responses_sqlite import SqliteResponses
from qwen_proxy.messages import ChatMessage, ImagePart, ToolCall

pytestmark = pytest.mark.integration

T0 = 1_700_000_000.0
TTL = 3600.0


def record(
    record_id: str, *, tenant: str = "t", chain: tuple[str, ...] = (), used: float = T0
) -> ResponseRecord:
    return ResponseRecord(
        id=record_id,
        tenant=tenant,
        chain=chain,
        messages=(
            ChatMessage(role="user", text=f"question {record_id}"),
            ChatMessage(role="assistant", text=f"answer {record_id}"),
        ),
        last_used_at=used,
    )


async def open_records(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> ResponseStore:
    """A record store of ``kind`` on the test's clock (Redis: the suite's Redis, own prefix)."""
    if kind == "memory":
        return MemoryResponses(ttl=TTL, clock=lambda: T0)
    if kind == "sqlite":
        nodes = open_store("sqlite", data_dir=tmp_path, ttl=TTL, max_nodes=10)
        await nodes.close()  # the node store set the file up; records live beside its nodes
        return SqliteResponses(tmp_path / "conversations.sqlite3", ttl=TTL, clock=lambda: T0)
    url = request.getfixturevalue("redis_url")
    return RedisResponses(url, ttl=TTL, prefix=f"qwen-proxy-test:{uuid.uuid4().hex}:")


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ResponseStore]:
    made = await open_records(request.param, request, tmp_path)
    yield made
    await made.close()


@pytest.fixture(params=["memory", "sqlite"])
async def clocked_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ResponseStore]:
    """The stores whose expiry follows the gateway's clock (Redis expires by its own)."""
    made = await open_records(request.param, request, tmp_path)
    yield made
    await made.close()


async def test_a_record_comes_back_with_every_message_field(store: ResponseStore) -> None:
    rich = ResponseRecord(
        id="resp_1",
        tenant="t",
        chain=("resp_0",),
        messages=(
            ChatMessage(
                role="user",
                text="look",
                images=(ImagePart(url="https://example.org/a.png", detail="low"),),
                name="ada",
            ),
            ChatMessage(
                role="assistant",
                text="",
                tool_calls=(ToolCall(id="call_1", name="f", arguments='{"x": 1}'),),
            ),
            ChatMessage(role="tool", text="42", tool_call_id="call_1"),
        ),
        last_used_at=T0,
    )
    await store.put_response(rich)
    assert await store.get_responses(["resp_1"], T0 + 1) == [
        ResponseRecord(
            id="resp_1",
            tenant="t",
            chain=("resp_0",),
            messages=rich.messages,
            last_used_at=T0 + 1,
        )
    ]


async def test_unknown_ids_are_none_in_their_place(store: ResponseStore) -> None:
    await store.put_response(record("a"))
    found = await store.get_responses(["x", "a", "y"], T0)
    assert [r.id if r else None for r in found] == [None, "a", None]


async def test_a_record_unused_for_the_ttl_is_gone_and_reading_keeps_it_alive(
    clocked_store: ResponseStore,
) -> None:
    store = clocked_store
    await store.put_response(record("a"))
    await store.put_response(record("b"))
    assert (await store.get_responses(["a"], T0 + TTL - 1))[0] is not None
    assert await store.get_responses(["a", "b"], T0 + TTL + 10) == [
        record("a", used=T0 + TTL + 10),
        None,
    ]


async def test_the_history_of_a_chain_is_its_records_in_order(store: ResponseStore) -> None:
    await store.put_response(record("r1"))
    await store.put_response(record("r2", chain=("r1",)))
    await store.put_response(record("r3", chain=("r1", "r2")))
    history = await load_history(store, "t", "r3", T0)
    assert history is not None
    assert history.chain == ("r1", "r2", "r3")
    assert [m.text for m in history.messages] == [
        "question r1",
        "answer r1",
        "question r2",
        "answer r2",
        "question r3",
        "answer r3",
    ]


async def test_another_tenants_response_is_not_found(store: ResponseStore) -> None:
    await store.put_response(record("r1", tenant="alice"))
    assert await load_history(store, "bob", "r1", T0) is None
    assert await load_history(store, "alice", "r1", T0) is not None


async def test_a_chain_with_a_lost_link_is_not_found(store: ResponseStore) -> None:
    # a history with a hole would silently drop context: better to say it is gone
    await store.put_response(record("r2", chain=("r1",)))
    assert await load_history(store, "t", "r2", T0) is None


async def test_redis_records_expire_by_themselves(redis_url: str, tmp_path: Path) -> None:
    prefix = f"qwen-proxy-test:{uuid.uuid4().hex}:"
    store = open_response_store(
        redis_url, data_dir=tmp_path, ttl=60.0, max_records=10, redis_prefix=prefix
    )
    await store.put_response(record("a"))
    raw = aioredis.Redis.from_url(redis_url)
    try:
        ttl_ms = await raw.pttl(f"{prefix}resp:a")
        assert 0 < ttl_ms <= 60_000
        await raw.delete(f"{prefix}resp:a")
    finally:
        await raw.aclose()
        await store.close()


async def test_the_memory_store_keeps_at_most_its_bound(tmp_path: Path) -> None:
    store = open_response_store("memory", data_dir=tmp_path, ttl=TTL, max_records=2)
    for name in ("a", "b", "c"):
        await store.put_response(record(name))
    assert [r is not None for r in await store.get_responses(["a", "b", "c"], T0)] == [
        False,
        True,
        True,
    ]
