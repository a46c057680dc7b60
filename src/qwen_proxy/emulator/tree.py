"""Chats as message trees, per account, the way the web app's history is kept.

A node is one message; ``parent_id`` links it to the message it follows. The context of a new
turn is the path from its root down to its parent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Node:
    """One message of a chat."""

    id: str
    parent_id: str | None
    role: str
    text: str
    content: Any
    timestamp: int
    model: str
    children: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The message object as the chat-detail route shows it."""
        return {
            "id": self.id,
            "parentId": self.parent_id,
            "childrenIds": list(self.children),
            "role": self.role,
            "content": self.content,
            "timestamp": self.timestamp,
            "models": [self.model],
            "model": self.model,
        }


@dataclass
class Chat:
    """One chat: its metadata and its message tree."""

    id: str
    owner: str
    title: str
    chat_type: str
    model: str
    created_at: int
    updated_at: int
    nodes: dict[str, Node] = field(default_factory=dict)
    current_id: str | None = None
    in_progress: bool = False

    def add(self, node: Node) -> None:
        """Attach ``node`` under its parent (a ``None`` parent makes a new root)."""
        self.nodes[node.id] = node
        if node.parent_id is not None:
            self.nodes[node.parent_id].children.append(node.id)
        self.current_id = node.id
        self.updated_at = max(self.updated_at, node.timestamp)

    def branch(self, node_id: str | None) -> list[Node]:
        """The path root → ``node_id`` (empty for ``None``)."""
        path: list[Node] = []
        while node_id is not None:
            node = self.nodes[node_id]
            path.append(node)
            node_id = node.parent_id
        path.reverse()
        return path

    def summary(self) -> dict[str, Any]:
        """The chat-list item."""
        return {
            "id": self.id,
            "title": self.title,
            "updated_at": self.updated_at,
            "created_at": self.created_at,
            "chat_type": self.chat_type,
        }

    def detail(self) -> dict[str, Any]:
        """The chat-detail ``data`` object: metadata plus the whole tree and the current branch."""
        return {
            **self.summary(),
            "user_id": self.owner,
            "models": [self.model],
            "chat": {
                "history": {
                    "messages": {nid: n.to_json() for nid, n in self.nodes.items()},
                    "currentId": self.current_id,
                },
                "messages": [n.to_json() for n in self.branch(self.current_id)],
            },
        }


class ChatStore:
    """All chats, indexed by id; each belongs to the user id that created it."""

    def __init__(self) -> None:
        self._chats: dict[str, Chat] = {}

    def create(self, chat: Chat) -> None:
        """Keep a new chat."""
        self._chats[chat.id] = chat

    def get(self, owner: str, chat_id: str) -> Chat | None:
        """The chat if it exists and belongs to ``owner``."""
        chat = self._chats.get(chat_id)
        return chat if chat is not None and chat.owner == owner else None

    def of(self, owner: str) -> list[Chat]:
        """The owner's chats, most recently updated first."""
        mine = [c for c in self._chats.values() if c.owner == owner]
        return sorted(mine, key=lambda c: (c.updated_at, c.created_at), reverse=True)

    def delete(self, owner: str, chat_id: str) -> bool:
        """Drop one chat; False when it is not the owner's."""
        if self.get(owner, chat_id) is None:
            return False
        del self._chats[chat_id]
        return True

    def delete_all(self, owner: str) -> int:
        """Drop every chat of ``owner``; how many went."""
        gone = [c.id for c in self._chats.values() if c.owner == owner]
        for chat_id in gone:
            del self._chats[chat_id]
        return len(gone)

    def clear(self) -> None:
        """Forget every chat."""
        self._chats.clear()
