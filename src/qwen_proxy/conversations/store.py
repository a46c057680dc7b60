"""A node of a conversation and the small async interface every store implements.

A node is a point in a conversation right after an assistant reply; its key is the chained
digest of ``(tenant, m0 .. mk)`` (see ``canonical``). Its value says where that point lives
upstream: which account owns the Qwen chat and which id the next turn continues from.

Every backend takes two bounds in its constructor:

- ``ttl`` (default :data:`DEFAULT_TTL`, 30 days): seconds since a node was last used after
  which it is gone. An expired node is a miss on read, and purges remove it for good.
- ``max_nodes`` (default :data:`DEFAULT_MAX_NODES`, 1,000,000): when more are stored, the
  least recently used nodes are evicted. A miss only costs context folding, never correctness.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

from qwen_proxy.conversations.ledger import ChatLedger

DEFAULT_TTL = 30 * 24 * 3600.0
DEFAULT_MAX_NODES = 1_000_000


def check_bounds(ttl: float, max_nodes: int) -> None:
    """Refuse bounds no store can keep (every backend's constructor calls this)."""
    if ttl < 0 or max_nodes < 1:
        raise ValueError("ttl must be >= 0 and max_nodes >= 1")


@dataclass(frozen=True, slots=True)
class Node:
    """Where the conversation ``m0 .. mk`` (ending in an assistant reply) continues upstream."""

    key: str
    #: a hash of the client's identity, never a raw API key
    tenant: str
    account: str
    chat_id: str
    #: the id the next turn passes as ``parent_id`` (the reply's upstream ``response_id``)
    parent_id: str
    model: str
    created_at: float
    last_used_at: float
    #: number of messages in the prefix this node stands for (k + 1)
    turn: int


#: a node's fields in their declared order: the one order every codec writes them in
NODE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Node))


def node_values(node: Node, names: tuple[str, ...] = NODE_FIELDS) -> tuple[Any, ...]:
    """The node's values for ``names`` (all fields in declared order by default)."""
    return tuple(getattr(node, name) for name in names)


class ConversationStore(ChatLedger, Protocol):
    """Where nodes live (and the ledger of created chats). Implementations: ``MemoryStore``,
    ``SqliteStore``, ``RedisStore``."""

    async def get_first(self, keys: Sequence[str]) -> Node | None:
        """The first of ``keys`` that is stored and not expired (callers pass longest first)."""
        ...

    async def put(self, node: Node) -> None:
        """Store a node, replacing any node with the same key."""
        ...

    async def touch(self, key: str, now: float) -> None:
        """Mark a node as used at ``now`` (keeps it from expiring or being evicted)."""
        ...

    async def delete(self, key: str) -> None:
        """Forget one node (e.g. its chat is gone upstream); a missing key is not an error."""
        ...

    async def purge(self, *, older_than: float | None = None) -> int:
        """Delete nodes unused for ``older_than`` seconds (default: the TTL); return how many.

        ``purge(older_than=0)`` empties the store.
        """
        ...

    async def list(self, *, limit: int = 100, chat_id: str | None = None) -> list[Node]:
        """Stored nodes, most recently used first, optionally only those of one chat."""
        ...

    async def count(self) -> int:
        """How many nodes are stored (expired ones not yet purged included)."""
        ...

    async def ping(self) -> bool:
        """True when the store answers (for health checks)."""
        ...

    async def close(self) -> None:
        """Release connections; the store is not used afterwards."""
        ...
