"""Qwen stream events to the Responses API: stream events, or one ``response`` object.

A stream is ``response.created``, ``response.in_progress``, then per output item
``response.output_item.added`` ... ``response.output_item.done``, then ``response.completed``
(or ``response.incomplete`` with its reason, or ``response.failed`` with the error); every
event carries the next ``sequence_number``. Reasoning is a ``reasoning`` item whose summary is
streamed (``response.reasoning_summary_part.added``, ``response.reasoning_summary_text.delta``*,
``.done``, ``response.reasoning_summary_part.done``); the answer is a ``message`` item with one
``output_text`` part (``response.content_part.added``, ``response.output_text.delta``*,
``.done``, ``response.content_part.done``). Items open on their first text, so none is empty.
A tool call is one whole item of its tool's kind (``calls``): a ``function_call`` streams its
arguments (``response.function_call_arguments.delta``, ``.done``), a ``custom_tool_call`` its
input (``response.custom_tool_call_input.delta``, ``.done``), a ``local_shell_call`` is added
and done. Pure; the text of the open item is kept, since the closing events repeat it whole.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from qwen_proxy.api.responses.calls import item_for
from qwen_proxy.api.responses.tools import ResponsesTools
from qwen_proxy.errors import GatewayError
from qwen_proxy.qwen.events import AnswerDelta, ReasoningDelta, Usage
from qwen_proxy.service.events import ReplyEvent, ToolCallEvent

_dumps = orjson.dumps


def new_response_id() -> str:
    """A fresh response id: ``resp_`` and 48 random hex digits."""
    return "resp_" + secrets.token_hex(24)


def responses_usage(usage: Usage | None) -> dict[str, Any]:
    """The Responses ``usage`` object for a Qwen usage snapshot."""
    usage = usage if usage is not None else Usage()
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def response_error(error: GatewayError) -> dict[str, Any]:
    """The ``error`` of a failed response (the SDKs know these two codes)."""
    code = "rate_limit_exceeded" if error.status == 429 else "server_error"
    return {"code": code, "message": error.message}


def reasoning_item(item_id: str, text: str) -> dict[str, Any]:
    """A finished ``reasoning`` output item: its summary is the reasoning text."""
    return {"id": item_id, "type": "reasoning", "summary": [_summary(text)]}


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    """A finished assistant ``message`` output item with one ``output_text`` part."""
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [_output_text(text)],
    }


def _summary(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def finished(
    base: dict[str, Any],
    output: list[dict[str, Any]],
    finish_reason: str,
    usage: Usage | None,
) -> dict[str, Any]:
    """The response object once the reply ended: completed, or incomplete with the reason."""
    response = {**base, "output": output, "usage": responses_usage(usage)}
    if finish_reason == "stop":
        response["status"] = "completed"
    else:
        reason = "max_output_tokens" if finish_reason == "length" else "content_filter"
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": reason}
    return response


class OutputBuilder:
    """Collect a whole reply's output items (reasoning, message, calls) for one response."""

    def __init__(self, tools: ResponsesTools | None = None) -> None:
        self._tools = tools or ResponsesTools()
        #: (kind, text pieces) per reasoning or message item, a whole item per call
        self._items: list[tuple[str, list[str]] | dict[str, Any]] = []
        #: the reply's calls, in order (what a continued conversation remembers)
        self.calls: list[ToolCallEvent] = []

    def add(self, event: ReplyEvent) -> None:
        """Take one stream event (events that carry no text are ignored)."""
        if isinstance(event, AnswerDelta):
            self._append("message", event.text)
        elif isinstance(event, ReasoningDelta):
            self._append("reasoning", event.text)
        elif isinstance(event, ToolCallEvent):
            self.calls.append(event)
            self._items.append(item_for(event, self._tools))

    def _append(self, kind: str, text: str) -> None:
        if not text:
            return
        last = self._items[-1] if self._items else None
        if not isinstance(last, tuple) or last[0] != kind:
            last = (kind, [])
            self._items.append(last)
        last[1].append(text)

    @property
    def answer(self) -> str:
        """The answer text (what a continued conversation remembers of this reply)."""
        return "".join(
            "".join(item[1])
            for item in self._items
            if isinstance(item, tuple) and item[0] == "message"
        )

    def output(self, finish_reason: str = "stop") -> list[dict[str, Any]]:
        """The output items; a message cut short is ``incomplete``."""
        status = "completed" if finish_reason == "stop" else "incomplete"
        out = []
        for item in self._items:
            if isinstance(item, dict):
                out.append(item)
            elif item[0] == "message":
                out.append(message_item("msg_" + secrets.token_hex(24), "".join(item[1]), status))
            else:
                out.append(reasoning_item("rs_" + secrets.token_hex(24), "".join(item[1])))
        return out


class ResponseStream:
    """Encode one streamed response's events, each ``event: <type>\\ndata: <json>\\n\\n``."""

    def __init__(self, base: dict[str, Any], tools: ResponsesTools | None = None) -> None:
        #: the response object's fields that do not change while it streams
        self.base = base
        self._tools = tools or ResponsesTools()
        self._seq = 0
        self._output: list[dict[str, Any]] = []
        self._answer: list[str] = []
        #: the reply's calls, in order (what a continued conversation remembers)
        self.calls: list[ToolCallEvent] = []
        #: the open item: its kind ("reasoning", "message"), id, and text so far
        self._open: str | None = None
        self._id = ""
        self._text: list[str] = []
        self._delta_head = b""

    @property
    def answer(self) -> str:
        """The answer text sent so far (what a continued conversation remembers)."""
        return "".join(self._answer)

    def start(self) -> bytes:
        """``response.created`` and ``response.in_progress``."""
        response = {**self.base, "status": "in_progress", "output": [], "usage": None}
        return self._event("response.created", {"response": response}) + self._event(
            "response.in_progress", {"response": response}
        )

    def events(self, batch: list[ReplyEvent]) -> bytes:
        """The events for a batch's answer and reasoning text (b"" when it has none)."""
        parts: list[bytes] = []
        for event in batch:
            kind = type(event)
            if kind is AnswerDelta:
                parts.append(self.delta("message", event.text))  # type: ignore[union-attr]
            elif kind is ReasoningDelta:
                parts.append(self.delta("reasoning", event.text))  # type: ignore[union-attr]
            elif kind is ToolCallEvent:
                parts.append(self.call(event))  # type: ignore[arg-type]
        return b"".join(parts)

    def call(self, call: ToolCallEvent) -> bytes:
        """One whole call item: added, its arguments or input streamed, done."""
        self.calls.append(call)
        head = self._close()
        index = len(self._output)
        item = item_for(call, self._tools)
        where = {"item_id": item["id"], "output_index": index}
        kind = item["type"]
        if kind == "function_call":
            field, event = "arguments", "response.function_call_arguments"
        elif kind == "custom_tool_call":
            field, event = "input", "response.custom_tool_call_input"
        else:
            field = event = ""
        added = {**item, "status": "in_progress"}
        if field:
            added[field] = ""
        frames = [
            head,
            self._event("response.output_item.added", {"output_index": index, "item": added}),
        ]
        if field:
            value = item[field]
            frames.append(self._event(f"{event}.delta", {**where, "delta": value}))
            done = {**where, field: value}
            if kind == "function_call":
                done["name"] = item["name"]
            frames.append(self._event(f"{event}.done", done))
        self._output.append(item)
        frames.append(
            self._event("response.output_item.done", {"output_index": index, "item": item})
        )
        return b"".join(frames)

    def delta(self, kind: str, text: str) -> bytes:
        """Text for an item of ``kind``, opening it (and closing another) when needed."""
        if not text:
            return b""
        head = b"" if self._open == kind else self._close() + self._open_item(kind)
        self._text.append(text)
        if kind == "message":
            self._answer.append(text)
        frame = self._delta_head + _dumps(text) + b',"sequence_number":%d}\n\n' % self._seq
        self._seq += 1
        return head + frame

    def finish(self, finish_reason: str, usage: Usage | None) -> bytes:
        """Close the open item, then ``response.completed`` or ``response.incomplete``."""
        closing = self._close("completed" if finish_reason == "stop" else "incomplete")
        response = finished(self.base, self._output, finish_reason, usage)
        kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
        return closing + self._event(kind, {"response": response})

    def failed(self, error: GatewayError, usage: Usage | None) -> bytes:
        """Close the open item, then ``response.failed`` with the error."""
        closing = self._close("incomplete")
        response = {
            **self.base,
            "status": "failed",
            "output": self._output,
            "usage": responses_usage(usage),
            "error": response_error(error),
        }
        return closing + self._event("response.failed", {"response": response})

    def _open_item(self, kind: str) -> bytes:
        index = len(self._output)
        self._open, self._text = kind, []
        if kind == "message":
            self._id = "msg_" + secrets.token_hex(24)
            item = {**message_item(self._id, ""), "status": "in_progress", "content": []}
            added = self._event("response.output_item.added", {"output_index": index, "item": item})
            where = {"item_id": self._id, "output_index": index, "content_index": 0}
            part = self._event("response.content_part.added", {**where, "part": _output_text("")})
            event = b"response.output_text.delta"
            fields = {**where, "logprobs": []}
        else:
            self._id = "rs_" + secrets.token_hex(24)
            item = {"id": self._id, "type": "reasoning", "summary": []}
            added = self._event("response.output_item.added", {"output_index": index, "item": item})
            where = {"item_id": self._id, "output_index": index, "summary_index": 0}
            part = self._event(
                "response.reasoning_summary_part.added", {**where, "part": _summary("")}
            )
            event = b"response.reasoning_summary_text.delta"
            fields = where
        self._delta_head = (
            b"event: " + event + b'\ndata: {"type":"' + event + b'",'
            + _dumps(fields)[1:-1] + b',"delta":'
        )  # fmt: skip
        return added + part

    def _close(self, status: str = "completed") -> bytes:
        kind = self._open
        if kind is None:
            return b""
        index, text = len(self._output), "".join(self._text)
        self._open, self._text = None, []
        if kind == "message":
            where = {"item_id": self._id, "output_index": index, "content_index": 0}
            item = message_item(self._id, text, status)
            text_done = {**where, "text": text, "logprobs": []}
            done = self._event("response.output_text.done", text_done)
            done += self._event("response.content_part.done", {**where, "part": _output_text(text)})
        else:
            where = {"item_id": self._id, "output_index": index, "summary_index": 0}
            item = reasoning_item(self._id, text)
            done = self._event("response.reasoning_summary_text.done", {**where, "text": text})
            summary_done = {**where, "part": _summary(text)}
            done += self._event("response.reasoning_summary_part.done", summary_done)
        self._output.append(item)
        item_done = {"output_index": index, "item": item}
        return done + self._event("response.output_item.done", item_done)

    def _event(self, kind: str, fields: dict[str, Any]) -> bytes:
        data = {"type": kind, **fields, "sequence_number": self._seq}
        self._seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + _dumps(data) + b"\n\n"
