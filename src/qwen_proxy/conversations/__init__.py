"""Conversations: map OpenAI's resent histories onto Qwen's server-side chat trees.

A node (a point right after an assistant reply) is keyed by a chained digest of the tenant and
the canonical messages; a request continues the longest known prefix or folds its whole
history into a new chat. docs/architecture.md, "The conversation model", explains it.
"""

from qwen_proxy.conversations.canonical import (
    canonical_message,
    node_key,
    prefix_digests,
    tenant_id,
)
from qwen_proxy.conversations.factory import open_store
from qwen_proxy.conversations.fold import continuation_text, fold_history
from qwen_proxy.conversations.memory import MemoryStore
from qwen_proxy.conversations.resolver import Continuation, find_continuation, record_keys
from qwen_proxy.conversations.sqlite import SqliteStore
from qwen_proxy.conversations.store import (
    DEFAULT_MAX_NODES,
    DEFAULT_TTL,
    ConversationStore,
    Node,
)

__all__ = [
    "DEFAULT_MAX_NODES",
    "DEFAULT_TTL",
    "Continuation",
    "ConversationStore",
    "MemoryStore",
    "Node",
    "SqliteStore",
    "canonical_message",
    "continuation_text",
    "find_continuation",
    "fold_history",
    "node_key",
    "open_store",
    "prefix_digests",
    "record_keys",
    "tenant_id",
]
