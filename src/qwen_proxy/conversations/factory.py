"""Open the store a setting names: ``memory``, ``sqlite``, ``sqlite:///<path>`` or a Redis URL."""

from __future__ import annotations

from pathlib import Path

from qwen_proxy.config import DEFAULT_REDIS_PREFIX
from qwen_proxy.conversations.memory import MemoryStore
from qwen_proxy.conversations.sqlite import SqliteStore
from qwen_proxy.conversations.store import ConversationStore

SQLITE_FILE = "conversations.sqlite3"
_KINDS = "'memory', 'sqlite', 'sqlite:///<path>' or a redis://, rediss:// or unix:// URL"


def open_store(
    url_or_kind: str,
    *,
    data_dir: Path,
    ttl: float,
    max_nodes: int,
    redis_prefix: str = DEFAULT_REDIS_PREFIX,
) -> ConversationStore:
    """The store for a ``QWEN_PROXY_STORE`` value; ValueError names the accepted kinds.

    ``redis_prefix`` separates gateways (or tests) that share one Redis."""
    kind = url_or_kind.strip()
    if kind == "memory":
        return MemoryStore(ttl=ttl, max_nodes=max_nodes)
    if kind == "sqlite":
        data_dir.mkdir(parents=True, exist_ok=True)
        return SqliteStore(data_dir / SQLITE_FILE, ttl=ttl, max_nodes=max_nodes)
    if kind.startswith("sqlite:///"):
        # sqlite:///abs/path.sqlite3 -> /abs/path.sqlite3
        path = Path(kind.removeprefix("sqlite://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteStore(path, ttl=ttl, max_nodes=max_nodes)
    if kind.startswith(("redis://", "rediss://", "unix://")):
        # imported here: redis is an optional dependency the other stores do not need
        from qwen_proxy.conversations.redis import open_redis_store

        return open_redis_store(kind, ttl=ttl, max_nodes=max_nodes, prefix=redis_prefix)
    raise ValueError(f"unknown conversation store {kind!r}; expected {_KINDS}")
