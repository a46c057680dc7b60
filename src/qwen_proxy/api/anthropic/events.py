"""Qwen stream events to Anthropic: the Messages SSE events, or one ``message`` object.

A stream is ``message_start``, then per content block ``content_block_start`` ->
``content_block_delta``* -> ``content_block_stop``, then ``message_delta`` (stop reason and
usage) and ``message_stop``; ``ping`` may come anywhere in between. Blocks open on their first
text, so an empty block is never sent; reasoning is a ``thinking`` block without a
``signature`` (the gateway has none to give, and a fake one would be worse). A tool call is a
``tool_use`` block, streamed as Anthropic streams one: ``content_block_start`` with the id, the
name and ``input: {}``, its arguments' JSON in ``input_json_delta`` pieces, then
``content_block_stop``; whole, the block carries the parsed ``input``. Pure: a stream's events
cost one ``orjson.dumps`` of their text plus constant bytes.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from qwen_proxy.qwen.events import AnswerDelta, ReasoningDelta, Usage
from qwen_proxy.service.events import ReplyEvent, ToolCallEvent

PING = b'event: ping\ndata: {"type":"ping"}\n\n'
_STOP = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":%d}\n\n'
_START = (
    b"event: content_block_start\n"
    b'data: {"type":"content_block_start","index":%d,"content_block":%s}\n\n'
)
_DELTA = (
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":%d,"delta":{"type":"%s","%s":'
)
_EMPTY_BLOCK = {
    "text": b'{"type":"text","text":""}',
    "thinking": b'{"type":"thinking","thinking":""}',
}
_DELTA_TYPE = {"text": (b"text_delta", b"text"), "thinking": (b"thinking_delta", b"thinking")}
_STOP_REASONS = {"length": "max_tokens", "content_filter": "refusal"}
#: characters of a call's arguments per ``input_json_delta`` (clients join the pieces)
JSON_PIECE = 512

_dumps = orjson.dumps


def new_message_id() -> str:
    """A fresh message id: ``msg_`` and 24 random hex digits."""
    return "msg_" + secrets.token_hex(12)


def stop_reason(finish_reason: str, stop_sequence: str | None, made_calls: bool = False) -> str:
    """Anthropic's ``stop_reason`` for a reply's finish reason (``tool_use`` when a reply that
    ended by itself made calls)."""
    if finish_reason == "stop":
        if stop_sequence is not None:
            return "stop_sequence"
        return "tool_use" if made_calls else "end_turn"
    return _STOP_REASONS.get(finish_reason, "end_turn")


def tool_input(call: ToolCallEvent) -> dict[str, Any]:
    """A call's arguments as the ``input`` object (the service hands out JSON objects)."""
    try:
        value = orjson.loads(call.arguments)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def tool_use_block(call: ToolCallEvent, tool_input: dict[str, Any]) -> dict[str, Any]:
    """A ``tool_use`` content block."""
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": tool_input}


def anthropic_usage(usage: Usage | None, input_estimate: int = 0) -> dict[str, int]:
    """Anthropic's ``usage``: input without cache reads, which are counted apart."""
    if usage is None:
        usage = Usage(input_tokens=input_estimate)
    return {
        "input_tokens": max(0, usage.input_tokens - usage.cached_tokens),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": usage.cached_tokens,
        "output_tokens": usage.output_tokens,
    }


def message_object(
    message_id: str,
    model: str,
    content: list[dict[str, Any]],
    stop: str | None,
    stop_sequence: str | None,
    usage: dict[str, int],
) -> dict[str, Any]:
    """A ``message`` object (the non-streamed answer, and the head of ``message_start``)."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": stop_sequence,
        "usage": usage,
    }


class MessageStream:
    """Encode one streamed message's events; ``events`` is called per batch of the reply."""

    __slots__ = ("_block", "_index", "_show_thinking")

    def __init__(self, *, show_thinking: bool = True) -> None:
        self._show_thinking = show_thinking
        #: the open block's kind ("text", "thinking") or None
        self._block: str | None = None
        #: the open block's index; the next block's is one more
        self._index = -1

    def start(self, message_id: str, model: str, usage: dict[str, int]) -> bytes:
        """The ``message_start`` event."""
        message = message_object(message_id, model, [], None, None, usage)
        return (
            b"event: message_start\ndata: "
            + _dumps({"type": "message_start", "message": message})
            + b"\n\n"
        )

    def events(self, batch: list[ReplyEvent]) -> bytes:
        """The events for a batch's answer and reasoning text (b"" when it has none)."""
        parts: list[bytes] = []
        for event in batch:
            kind = type(event)
            if kind is AnswerDelta:
                parts.append(self.delta("text", event.text))  # type: ignore[union-attr]
            elif kind is ReasoningDelta and self._show_thinking:
                parts.append(self.delta("thinking", event.text))  # type: ignore[union-attr]
            elif kind is ToolCallEvent:
                parts.append(self.tool_use(event))  # type: ignore[arg-type]
        return b"".join(parts)

    def tool_use(self, call: ToolCallEvent) -> bytes:
        """One whole ``tool_use`` block: its start, its arguments in pieces, its stop."""
        head = self._close()
        self._index += 1
        index = self._index
        frames = [head, _START % (index, _dumps(tool_use_block(call, {})))]
        arguments = call.arguments
        delta = _DELTA % (index, b"input_json_delta", b"partial_json")
        for start in range(0, len(arguments), JSON_PIECE):
            frames.append(delta + _dumps(arguments[start : start + JSON_PIECE]) + b"}}\n\n")
        frames.append(_STOP % index)
        return b"".join(frames)

    def delta(self, block: str, text: str) -> bytes:
        """Text for a ``block`` of that kind, opening it (and closing another) when needed."""
        if not text:
            return b""
        head = b""
        if self._block != block:
            head = self._close()
            self._index += 1
            self._block = block
            head += _START % (self._index, _EMPTY_BLOCK[block])
        kind, field = _DELTA_TYPE[block]
        return head + _DELTA % (self._index, kind, field) + _dumps(text) + b"}}\n\n"

    def finish(self, stop: str, stop_sequence: str | None, usage: dict[str, int]) -> bytes:
        """The closing events: the open block's stop, ``message_delta``, ``message_stop``."""
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": stop_sequence},
            "usage": usage,
        }
        return (
            self._close()
            + b"event: message_delta\ndata: "
            + _dumps(delta)
            + b'\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n'
        )

    def _close(self) -> bytes:
        if self._block is None:
            return b""
        self._block = None
        return _STOP % self._index


class MessageBuilder:
    """Collect a whole reply's blocks for a non-streamed ``message``."""

    def __init__(self, *, show_thinking: bool = True) -> None:
        self._show_thinking = show_thinking
        #: (kind, text pieces) per text or thinking block, a whole block for a call
        self._blocks: list[tuple[str, list[str]] | dict[str, Any]] = []

    def add(self, event: ReplyEvent) -> None:
        """Take one stream event (events that carry no text are ignored)."""
        if isinstance(event, AnswerDelta):
            self._append("text", event.text)
        elif isinstance(event, ReasoningDelta) and self._show_thinking:
            self._append("thinking", event.text)
        elif isinstance(event, ToolCallEvent):
            self._blocks.append(tool_use_block(event, tool_input(event)))

    def _append(self, block: str, text: str) -> None:
        if not text:
            return
        last = self._blocks[-1] if self._blocks else None
        if not isinstance(last, tuple) or last[0] != block:
            last = (block, [])
            self._blocks.append(last)
        last[1].append(text)

    def content(self) -> list[dict[str, Any]]:
        """The content blocks: thinking, text and tool_use, in the order they came, none empty."""
        return [
            {"type": b[0], b[0]: "".join(b[1])} if isinstance(b, tuple) else b for b in self._blocks
        ]
