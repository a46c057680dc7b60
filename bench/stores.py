"""The conversation store under load: lookups and inserts per second with N stored nodes.

Run by ``bench/run.py`` in its own process: ``python bench/stores.py sqlite|redis:<url> N``.
It drives the gateway's own store classes (their cost is what is measured), one operation at a
time as one request does (a lookup is ``get_first`` of three prefix keys, longest first, the
first stored), then with 32 concurrent callers as a busy gateway would.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from qwen_proxy.conversations.store import ConversationStore, Node

MEASURE_SECONDS = 2.0
FILL_CONCURRENCY = 32


def key(i: int) -> str:
    """A node key shaped like the gateway's (hex SHA-256)."""
    return hashlib.sha256(f"bench-node-{i}".encode()).hexdigest()


def node(i: int, now: float) -> Node:
    """A realistic node: ids are UUID-sized strings."""
    return Node(
        key=key(i),
        tenant="local",
        account="env",
        chat_id=f"{i:08x}-5b8e-4e3a-9c61-2f4b8a0e1d11",
        parent_id=f"{i:08x}-3f2c-4b9e-a7d0-1c5e9f2b8a33",
        model="qwen3.7-plus",
        created_at=now,
        last_used_at=now,
        turn=2 + i % 7,
    )


async def _timed(op: Any, concurrency: int, seconds: float) -> float:
    """Operations per second of ``op(i)`` run by ``concurrency`` callers for ``seconds``."""
    done = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()

    async def caller(offset: int) -> None:
        nonlocal done
        i = offset
        while time.perf_counter() < deadline:
            await op(i)
            done += 1
            i += concurrency

    await asyncio.gather(*(caller(c) for c in range(concurrency)))
    return done / (time.perf_counter() - started)


async def measure(store: ConversationStore, nodes: int) -> dict[str, Any]:
    """Fill ``store`` with ``nodes`` nodes, then time lookups and inserts."""
    now = time.time()
    started = time.perf_counter()
    queue = iter(range(nodes))

    async def filler() -> None:
        for i in queue:
            await store.put(node(i, now))

    await asyncio.gather(*(filler() for _ in range(FILL_CONCURRENCY)))
    fill_rate = nodes / (time.perf_counter() - started)
    rng = random.Random(1)
    misses = [hashlib.sha256(f"miss-{i}".encode()).hexdigest() for i in range(64)]

    async def lookup(i: int) -> None:
        hit = key(rng.randrange(nodes))
        found = await store.get_first([hit, misses[i % 64], misses[(i + 1) % 64]])
        if found is None:
            raise RuntimeError("a stored node was not found")

    async def insert(i: int) -> None:
        await store.put(node(nodes + 1_000_000 + i, now))

    result: dict[str, Any] = {"nodes": nodes, "fill_inserts_per_s": fill_rate}
    for concurrency in (1, 32):
        result[f"lookups_per_s_c{concurrency}"] = await _timed(lookup, concurrency, MEASURE_SECONDS)
        result[f"inserts_per_s_c{concurrency}"] = await _timed(
            lambda i, c=concurrency: insert(i + c * 10_000_000), concurrency, MEASURE_SECONDS
        )
    result["count_after"] = await store.count()
    return result


async def main(kind: str, nodes: int) -> dict[str, Any]:
    """Measure one store kind: ``sqlite`` (a temporary file) or ``redis:<url>``."""
    if kind == "sqlite":
        from qwen_proxy.conversations.sqlite import SqliteStore

        with tempfile.TemporaryDirectory(prefix="bench-sqlite-") as tmp:
            store: ConversationStore = SqliteStore(Path(tmp) / "conversations.sqlite3")
            try:
                return {"store": "sqlite", **await measure(store, nodes)}
            finally:
                await store.close()
    from qwen_proxy.conversations.redis import RedisStore

    store = RedisStore(kind.removeprefix("redis:"), prefix=f"bench-{time.time_ns()}:")
    try:
        await store.purge(older_than=0)
        result = {"store": "redis", **await measure(store, nodes)}
        await store.purge(older_than=0)
        return result
    finally:
        await store.close()


if __name__ == "__main__":
    import uvloop

    print(json.dumps(uvloop.run(main(sys.argv[1], int(sys.argv[2])))), flush=True)
