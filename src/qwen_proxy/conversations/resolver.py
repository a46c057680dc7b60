"""Which stored node continues a request's history, and under which key to record a reply.

Pure planning: the only I/O is one ``get_first`` call on the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qwen_proxy.conversations.canonical import chain_digest, node_key, prefix_digests
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


@dataclass(frozen=True, slots=True)
class History:
    """A request's messages hashed once (one pass): the keys to look its node up by, and the
    digest a completed reply is chained onto to key the node that records it."""

    #: prefixes that may be nodes (ending in an assistant message, leaving at least one new
    #: message), longest first, each with the index of its last message
    candidates: list[tuple[str, int]]
    #: the digest of the whole history ``m0 .. mn``
    digest: bytes


def hash_history(tenant: str, messages: Sequence[ChatMessage]) -> History:
    """Digest every prefix of ``messages`` in one pass."""
    digests = prefix_digests(tenant, messages)
    candidates = [
        (node_key(digests[k]), k)
        for k in range(len(digests) - 2, -1, -1)
        if messages[k].role == "assistant"
    ]
    return History(candidates=candidates, digest=digests[-1])


async def find_continuation(
    store: ConversationStore,
    tenant: str,
    messages: Sequence[ChatMessage],
    *,
    history: History | None = None,
) -> Continuation | None:
    """The longest known prefix ``m0 .. mk`` (``mk`` an assistant reply, ``k < n - 1``);
    pass ``history`` when the messages are already hashed."""
    candidates = (history or hash_history(tenant, messages)).candidates
    if not candidates:
        return None
    node = await store.get_first([key for key, _ in candidates])
    if node is None:
        return None
    index = dict(candidates)[node.key]
    return Continuation(node=node, index=index)


def reply_key(history: History, reply: ChatMessage) -> str:
    """The key of the node to store once ``reply`` to the hashed history has completed."""
    return node_key(chain_digest(history.digest, reply))


def record_keys(tenant: str, messages: Sequence[ChatMessage], reply: ChatMessage) -> str:
    """The key of the node to store once ``reply`` to ``messages`` has completed."""
    return reply_key(hash_history(tenant, messages), reply)
