"""Stored responses: what ``previous_response_id`` needs to rebuild the conversation it continues.

The Responses API lets a client send only its new input and name the response it continues.
The gateway keeps, per stored response, the messages that request added and the answer the
client saw (``ResponseRecord``), plus the ids of the responses before it. The whole history is
then the records of the chain in order: one lookup of the named response, one batched lookup of
its chain. The history goes through the same canonical form as any other request, so a client
that resends everything (``store: false``) and one that names the previous response reach the
same conversation node.

A record holds only its own turn, so a long session stores its text once, not once per turn.
Records live as long as conversation nodes: ``ttl`` seconds after their last use (reading a
chain refreshes every record in it).

Backends: ``MemoryResponses`` here, ``SqliteResponses`` and ``RedisResponses`` beside it; the
factory picks the one that matches the conversation store.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import orjson

from qwen_proxy.conversations.store import DEFAULT_MAX_NODES, DEFAULT_TTL, check_bounds
from qwen_proxy.messages import ChatMessage, ImagePart, ToolCall


@dataclass(frozen=True, slots=True)
class ResponseRecord:
    """One stored response: its turn's messages and the responses it continued."""

    id: str
    #: a hash of the client's identity: another tenant's id is never found
    tenant: str
    #: the ids of the responses this one continued, oldest first
    chain: tuple[str, ...]
    #: the messages the request added (instructions excluded) and the answer the client saw
    messages: tuple[ChatMessage, ...]
    last_used_at: float


class ResponseStore(Protocol):
    """Where records live. Implementations: memory, SQLite, Redis."""

    async def put_response(self, record: ResponseRecord) -> None:
        """Store a record (replacing one with the same id)."""
        ...

    async def get_responses(self, ids: Sequence[str], now: float) -> list[ResponseRecord | None]:
        """The records of ``ids`` in order (None where gone), each marked as used at ``now``."""
        ...

    async def purge_responses(self) -> int:
        """Delete records past their TTL; return how many."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def _message_json(m: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"r": m.role, "t": m.text}
    if m.images:
        out["i"] = [[image.url, image.detail] for image in m.images]
    if m.name is not None:
        out["n"] = m.name
    if m.tool_calls:
        out["c"] = [[call.id, call.name, call.arguments] for call in m.tool_calls]
    if m.tool_call_id is not None:
        out["id"] = m.tool_call_id
    return out


def _message(data: dict[str, Any]) -> ChatMessage:
    return ChatMessage(
        role=data["r"],
        text=data["t"],
        images=tuple(ImagePart(url=url, detail=detail) for url, detail in data.get("i", ())),
        name=data.get("n"),
        tool_calls=tuple(ToolCall(id=i, name=n, arguments=a) for i, n, a in data.get("c", ())),
        tool_call_id=data.get("id"),
    )


def encode_record(record: ResponseRecord) -> bytes:
    """A record as compact JSON (its id is the storage key, not part of the value)."""
    return orjson.dumps(
        {
            "tenant": record.tenant,
            "chain": record.chain,
            "messages": [_message_json(m) for m in record.messages],
            "used": record.last_used_at,
        }
    )


def decode_record(record_id: str, raw: bytes | str) -> ResponseRecord:
    """The record ``encode_record`` wrote under ``record_id``."""
    data = orjson.loads(raw)
    return ResponseRecord(
        id=record_id,
        tenant=data["tenant"],
        chain=tuple(data["chain"]),
        messages=tuple(_message(m) for m in data["messages"]),
        last_used_at=data["used"],
    )


class MemoryResponses:
    """Records in a dict ordered by use; at most ``max_records`` (least recently used go)."""

    def __init__(
        self,
        ttl: float = DEFAULT_TTL,
        max_records: int = DEFAULT_MAX_NODES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_bounds(ttl, max_records)
        self.ttl = ttl
        self.max_records = max_records
        self._clock = clock
        self._records: OrderedDict[str, ResponseRecord] = OrderedDict()

    async def put_response(self, record: ResponseRecord) -> None:
        """Store a record, evicting the least recently used beyond ``max_records``."""
        self._records[record.id] = record
        self._records.move_to_end(record.id)
        while len(self._records) > self.max_records:
            self._records.popitem(last=False)

    async def get_responses(self, ids: Sequence[str], now: float) -> list[ResponseRecord | None]:
        """The records of ``ids`` (None where unknown or expired), marked as used at ``now``."""
        cutoff = now - self.ttl
        out: list[ResponseRecord | None] = []
        for record_id in ids:
            record = self._records.get(record_id)
            if record is not None and record.last_used_at <= cutoff:
                del self._records[record_id]
                record = None
            if record is not None:
                record = self._records[record_id] = replace(record, last_used_at=now)
                self._records.move_to_end(record_id)
            out.append(record)
        return out

    async def purge_responses(self) -> int:
        """Delete records unused for ``ttl`` seconds."""
        cutoff = self._clock() - self.ttl
        stale = [key for key, record in self._records.items() if record.last_used_at <= cutoff]
        for key in stale:
            del self._records[key]
        return len(stale)

    async def close(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True, slots=True)
class StoredHistory:
    """The conversation a stored response ended: its ids and its messages, oldest first."""

    #: the chain a response continuing this one records: its ancestors and itself
    chain: tuple[str, ...]
    messages: tuple[ChatMessage, ...]


async def load_history(
    store: ResponseStore, tenant: str, response_id: str, now: float
) -> StoredHistory | None:
    """The history up to and including ``response_id``; None when it (or a response before
    it) is unknown, expired, or another tenant's."""
    (last,) = await store.get_responses([response_id], now)
    if last is None or last.tenant != tenant:
        return None
    earlier = await store.get_responses(last.chain, now) if last.chain else []
    messages: list[ChatMessage] = []
    for record in earlier:
        if record is None or record.tenant != tenant:
            return None
        messages.extend(record.messages)
    messages.extend(last.messages)
    return StoredHistory(chain=(*last.chain, last.id), messages=tuple(messages))
