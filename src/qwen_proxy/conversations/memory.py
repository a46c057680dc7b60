"""An in-process store: for tests and for single-process runs that need no persistence."""

from __future__ import annotations

import builtins
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace

from qwen_proxy.conversations.ledger import LedgerEntry
from qwen_proxy.conversations.store import DEFAULT_MAX_NODES, DEFAULT_TTL, Node, check_bounds


class MemoryStore:
    """Nodes in a dict ordered by use; ``ttl`` and ``max_nodes`` as in ``store``."""

    def __init__(
        self,
        ttl: float = DEFAULT_TTL,
        max_nodes: int = DEFAULT_MAX_NODES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_bounds(ttl, max_nodes)
        self.ttl = ttl
        self.max_nodes = max_nodes
        self._clock = clock
        # insertion order = use order: put and touch move a node to the end
        self._nodes: OrderedDict[str, Node] = OrderedDict()
        self._chats: dict[str, LedgerEntry] = {}
        self._cleanup_until = 0.0

    def _expired(self, node: Node, cutoff: float) -> bool:
        return node.last_used_at <= cutoff

    async def get_first(self, keys: Sequence[str]) -> Node | None:
        """The first of ``keys`` that is stored and not expired."""
        cutoff = self._clock() - self.ttl
        for key in keys:
            node = self._nodes.get(key)
            if node is None:
                continue
            if self._expired(node, cutoff):
                del self._nodes[key]
                continue
            return node
        return None

    async def put(self, node: Node) -> None:
        """Store a node, evicting the least recently used ones beyond ``max_nodes``."""
        self._nodes[node.key] = node
        self._nodes.move_to_end(node.key)
        while len(self._nodes) > self.max_nodes:
            self._nodes.popitem(last=False)

    async def touch(self, key: str, now: float) -> None:
        """Mark a node as used at ``now``."""
        node = self._nodes.get(key)
        if node is not None:
            self._nodes[key] = replace(node, last_used_at=now)
            self._nodes.move_to_end(key)

    async def delete(self, key: str) -> None:
        """Forget one node."""
        self._nodes.pop(key, None)

    async def purge(self, *, older_than: float | None = None) -> int:
        """Delete nodes unused for ``older_than`` seconds (default: the TTL)."""
        cutoff = self._clock() - (self.ttl if older_than is None else older_than)
        stale = [k for k, n in self._nodes.items() if self._expired(n, cutoff)]
        for key in stale:
            del self._nodes[key]
        return len(stale)

    async def list(self, *, limit: int = 100, chat_id: str | None = None) -> builtins.list[Node]:
        """Stored nodes, most recently used first."""
        out: builtins.list[Node] = []
        for node in reversed(self._nodes.values()):
            if len(out) >= limit:
                break
            if chat_id is None or node.chat_id == chat_id:
                out.append(node)
        return out

    async def count(self) -> int:
        """How many nodes are stored."""
        return len(self._nodes)

    async def add_chat(self, chat_id: str, account: str, created_at: float) -> None:
        """Note a chat the gateway created."""
        self._chats[chat_id] = LedgerEntry(chat_id, account, created_at)

    async def chats_created_before(
        self, cutoff: float, *, offset: int = 0, limit: int = 500
    ) -> builtins.list[LedgerEntry]:
        """Chats created before ``cutoff``, oldest first."""
        old = sorted(
            (e for e in self._chats.values() if e.created_at < cutoff),
            key=lambda e: (e.created_at, e.chat_id),
        )
        return old[offset : offset + limit]

    async def chats_in_use(self, chat_ids: Sequence[str]) -> set[str]:
        """Those of ``chat_ids`` a live node references."""
        wanted = set(chat_ids)
        cutoff = self._clock() - self.ttl
        return {
            n.chat_id
            for n in self._nodes.values()
            if n.chat_id in wanted and not self._expired(n, cutoff)
        }

    async def forget_chats(self, chat_ids: Sequence[str]) -> None:
        """Drop chats from the ledger."""
        for chat_id in chat_ids:
            self._chats.pop(chat_id, None)

    async def claim_cleanup(self, now: float, hold: float) -> bool:
        """One process holds this store: it may clean up unless a claim still holds."""
        if now < self._cleanup_until:
            return False
        self._cleanup_until = now + hold
        return True

    async def ping(self) -> bool:
        """Always True: the dict is right here."""
        return True

    async def close(self) -> None:
        """Nothing to release."""
