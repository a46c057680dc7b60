"""Which stored node continues a request's history, and under which key to record a reply.

Pure planning: the only I/O is one ``get_first`` call on the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qwen_proxy.conversations.canonical import node_key, prefix_digests
from qwen_proxy.conversations.store import ConversationStore, Node
from qwen_proxy.messages import ChatMessage


@dataclass(frozen=True, slots=True)
class Continuation:
    """A known node and the index of the last request message it covers."""

    node: Node
    #: the node stands for ``messages[0 .. index]``; ``messages[index + 1:]`` are new
    index: int

    def new_messages(self, messages: Sequence[ChatMessage]) -> Sequence[ChatMessage]:
        """The request messages after the node: what a continued chat still has to send."""
        return messages[self.index + 1 :]


def candidate_keys(tenant: str, messages: Sequence[ChatMessage]) -> list[tuple[str, int]]:
    """Keys of the prefixes that may be nodes (ending in an assistant message, leaving at
    least one new message), longest first, each with the index of its last message."""
    digests = prefix_digests(tenant, messages[:-1])
    return [
        (node_key(digests[k]), k)
        for k in range(len(digests) - 1, -1, -1)
        if messages[k].role == "assistant"
    ]


async def find_continuation(
    store: ConversationStore, tenant: str, messages: Sequence[ChatMessage]
) -> Continuation | None:
    """The longest known prefix ``m0 .. mk`` (``mk`` an assistant reply, ``k < n - 1``)."""
    candidates = candidate_keys(tenant, messages)
    if not candidates:
        return None
    node = await store.get_first([key for key, _ in candidates])
    if node is None:
        return None
    index = dict(candidates)[node.key]
    return Continuation(node=node, index=index)


def record_keys(tenant: str, messages: Sequence[ChatMessage], reply: ChatMessage) -> str:
    """The key of the node to store once ``reply`` to ``messages`` has completed."""
    return node_key(prefix_digests(tenant, [*messages, reply])[-1])
