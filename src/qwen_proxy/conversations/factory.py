"""Open the store a setting names: ``memory``, ``sqlite``, ``sqlite:///<path>`` or a Redis URL
(and the store of Responses API records beside it)."""

from __future__ import annotations

from pathlib import Path

from qwen_proxy.config import DEFAULT_REDIS_PREFIX
from qwen_proxy.conversations.memory import MemoryStore
from qwen_proxy.conversations.responses import MemoryResponses, ResponseStore
from qwen_proxy.conversations.responses_sqlite import SqliteResponses
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


def open_response_store(
    url_or_kind: str,
    *,
    data_dir: Path,
    ttl: float,
    max_records: int,
    redis_prefix: str = DEFAULT_REDIS_PREFIX,
) -> ResponseStore:
    """The store of Responses API records beside the conversation store ``url_or_kind``
    names: the same kind, place and TTL (``open_store`` has checked the value)."""
    kind = url_or_kind.strip()
    if kind.startswith(("redis://", "rediss://", "unix://")):
        from qwen_proxy.conversations.responses_redis import RedisResponses

        return RedisResponses(kind, ttl=ttl, prefix=redis_prefix)
    if kind == "sqlite":
        return SqliteResponses(data_dir / SQLITE_FILE, ttl=ttl)
    if kind.startswith("sqlite:///"):
        return SqliteResponses(Path(kind.removeprefix("sqlite://")), ttl=ttl)
    return MemoryResponses(ttl=ttl, max_records=max_records)
