"""The operator's view of the store: stored nodes grouped by Qwen chat, and forgetting one chat.

Used by ``qwen-proxy sessions`` and the admin routes. Forgetting a chat removes the gateway's
nodes only: the chat itself stays in the Qwen account.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass

from qwen_proxy.conversations.store import ConversationStore, Node

#: the most nodes one chat is read with when it is forgotten
MAX_CHAT_NODES = 100_000


@dataclass(frozen=True)
class ChatSummary:
    """One Qwen chat the store knows, as the operator sees it (no message text, no tenant)."""

    chat_id: str
    account: str
    model: str
    #: stored conversation nodes in this chat (one per remembered reply, branches included)
    nodes: int
    #: messages in the longest remembered history of this chat
    turns: int
    created_at: float
    last_used_at: float

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return asdict(self)


async def newest_chats(store: ConversationStore, limit: int) -> list[ChatSummary]:
    """The ``limit`` most recently used chats, newest first."""
    # nodes come newest first; a chat's older nodes may sit further down, so read well past it
    nodes = await store.list(limit=max(limit * 20, 100))
    chats: dict[str, list[Node]] = defaultdict(list)
    for node in nodes:
        if node.chat_id in chats or len(chats) < limit:
            chats[node.chat_id].append(node)
    return [
        ChatSummary(
            chat_id=chat_id,
            account=group[0].account,
            model=group[0].model,
            nodes=len(group),
            turns=max(n.turn for n in group),
            created_at=min(n.created_at for n in group),
            last_used_at=max(n.last_used_at for n in group),
        )
        for chat_id, group in chats.items()
    ]


async def forget_chat(store: ConversationStore, chat_id: str) -> int:
    """Delete every stored node of ``chat_id``; returns how many there were."""
    nodes = await store.list(limit=MAX_CHAT_NODES, chat_id=chat_id)
    for node in nodes:
        await store.delete(node.key)
    return len(nodes)
