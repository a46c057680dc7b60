"""Where a request goes upstream: a known conversation node to continue, or a new folded chat.

The only I/O is the store: one lookup to plan, and best-effort upkeep of the node a plan
continues (refreshed when used, forgotten when the upstream lost it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from qwen_proxy.conversations.fold import continuation_text, fold_history
from qwen_proxy.conversations.resolver import History, find_continuation, hash_history
from qwen_proxy.conversations.store import ConversationStore, Node
from qwen_proxy.messages import ChatMessage
from qwen_proxy.service.metrics import CONVERSATION_LOOKUPS
from qwen_proxy.service.tooling import Tooling

log = logging.getLogger("qwen_proxy.service.plan")


@dataclass(frozen=True, slots=True)
class Plan:
    """What to send upstream: the text of the new user message, and the node it continues."""

    content: str
    #: the request's messages, hashed once for the lookup and again used to key the reply
    history: History
    #: the known chat node to continue; None for a new chat with the history folded in
    node: Node | None = None
    #: the index of the first request message this turn sends (0 for a new chat): its
    #: attachments are sent, those of the messages before it are upstream already
    sent_from: int = 0

    @property
    def owner(self) -> str | None:
        """The account that owns the continued chat."""
        return self.node.account if self.node is not None else None


async def plan_request(
    store: ConversationStore,
    tenant: str,
    messages: Sequence[ChatMessage],
    tooling: Tooling | None = None,
) -> Plan:
    """Continue the longest known prefix of the history, or fold it into a new chat
    (``tooling``: the request's tools, which scope its identity and shape its text)."""
    scope = tenant if tooling is None else tooling.scope(tenant)
    history = hash_history(scope, messages)
    found = await find_continuation(store, scope, messages, history=history)
    if found is None:
        # earlier turns that no node continues are folded; a first turn has nothing to find
        earlier = any(m.role == "assistant" for m in messages)
        CONVERSATION_LOOKUPS.labels("fold" if earlier else "miss").inc()
        return _folded(messages, history, tooling)
    CONVERSATION_LOOKUPS.labels("hit").inc()
    after, known = messages[found.index + 1 :], messages[: found.index + 1]
    if tooling is None:
        content = continuation_text(after, earlier=known)
    else:
        content = tooling.continued_text(after, known)
    return Plan(content=content, history=history, node=found.node, sent_from=found.index + 1)


def folded(
    messages: Sequence[ChatMessage], history: History, tooling: Tooling | None = None
) -> Plan:
    """A plan that starts over: a new chat with the whole history folded in."""
    CONVERSATION_LOOKUPS.labels("fold").inc()
    return _folded(messages, history, tooling)


def _folded(messages: Sequence[ChatMessage], history: History, tooling: Tooling | None) -> Plan:
    if tooling is None:
        return Plan(content=fold_history(messages), history=history)
    return Plan(content=tooling.new_chat_text(messages), history=history)


async def touch(store: ConversationStore, node: Node, now: float) -> None:
    """Mark the continued node as used now (its TTL counts from last use); best effort."""
    try:
        await store.touch(node.key, now)
    except Exception:  # the reply does not depend on it: a store fault only shortens its life
        log.warning("could not refresh conversation node of chat %s", node.chat_id)


async def note_new_chat(store: ConversationStore, chat_id: str, account: str, now: float) -> None:
    """Enter a chat the gateway created in the ledger, so the cleanup may delete it later."""
    try:
        await store.add_chat(chat_id, account, now)
    except Exception:  # the reply does not depend on it: the chat only outlives its use upstream
        log.warning("could not note new chat %s for the cleanup", chat_id)


async def forget(store: ConversationStore, node: Node) -> None:
    """Drop a node the upstream no longer knows, so no later request tries it; best effort."""
    try:
        await store.delete(node.key)
    except Exception:  # the next request that hits it folds again: no harm beyond a retry
        log.warning("could not forget conversation node of chat %s", node.chat_id)
