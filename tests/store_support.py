"""Conversation-store helpers that child processes import (spawned workers need a real module)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from qwen_proxy.conversations.sqlite import SqliteStore
from qwen_proxy.conversations.store import Node

T0 = 1_700_000_000.0


def node(key: str, *, used: float = T0, chat_id: str = "chat-1") -> Node:
    """A conversation node with fixed fields but its key, last use and chat."""
    return Node(
        key=key,
        tenant="tenant",
        account="acc",
        chat_id=chat_id,
        parent_id=f"resp-{key}",
        model="qwen3-max",
        created_at=T0,
        last_used_at=used,
        turn=2,
    )


def insert_many(path: str, prefix: str, count: int, start: Any) -> None:
    """In a worker process: open the SQLite store once ``start`` lets go, insert ``count``."""

    async def run() -> None:
        # both open a fresh file at once, as workers starting together on a new data dir do
        start.wait()
        store = SqliteStore(path, check_every=100)
        now = time.time()
        for i in range(count):
            await store.put(node(f"{prefix}-{i}", used=now + i))
        await store.close()

    asyncio.run(run())
