"""Qwen stream events to OpenAI: SSE chunks for streams, one completion object otherwise.

Pure and on the hot path: a stream's constant JSON around each delta is encoded once, so a
chunk costs one ``orjson.dumps`` of its text plus a concatenation.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from qwen_proxy.config import ReasoningOutput
from qwen_proxy.errors import GatewayError
from qwen_proxy.qwen.events import (
    AnswerDelta,
    ReasoningDelta,
    SearchResult,
    SearchResults,
    Usage,
)
from qwen_proxy.service.events import ReplyEvent, ToolCallEvent

THINK_OPEN = "<think>\n"
THINK_CLOSE = "\n</think>\n\n"
DONE = b"data: [DONE]\n\n"
_CHOICE = b'[{"index":0,"delta":'
_CONTENT = b'{"content":'

_dumps = orjson.dumps


def new_completion_id() -> str:
    """A fresh OpenAI-style completion id: ``chatcmpl-`` and 29 random url-safe characters."""
    return "chatcmpl-" + secrets.token_urlsafe(22)[:29]


def openai_usage(usage: Usage) -> dict[str, Any]:
    """OpenAI's ``usage`` object for a Qwen usage snapshot."""
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


class ChunkEncoder:
    """Encode one stream's OpenAI ``chat.completion.chunk`` frames, each ``data: <json>\\n\\n``.

    With ``reasoning="think_tags"`` reasoning goes into ``content`` wrapped in
    ``<think>...</think>`` (for clients that only read content); otherwise into
    ``delta.reasoning_content``.
    """

    # An open stream keeps only the two pieces every chunk needs (the rest is sliced from
    # them when used once): a held stream's encoder is ~0.8 KB lighter this way.
    __slots__ = (
        "_content_head",
        "_delta_tail",
        "_in_think",
        "_reasoning_head",
        "include_usage",
        "reasoning_mode",
    )

    def __init__(
        self,
        *,
        completion_id: str,
        created: int,
        model: str,
        reasoning: ReasoningOutput = "field",
        include_usage: bool = False,
    ) -> None:
        self.include_usage = include_usage
        self.reasoning_mode: ReasoningOutput = reasoning
        self._in_think = False
        self._reasoning_head: bytes | None = None
        # OpenAI sends "usage": null on every chunk but the last when usage is asked for.
        self._delta_tail = b'},"logprobs":null,"finish_reason":null}]' + (
            b',"usage":null}\n\n' if include_usage else b"}\n\n"
        )
        self._content_head = (
            b'data: {"id":'
            + _dumps(completion_id)
            + b',"object":"chat.completion.chunk","created":'
            + _dumps(int(created))
            + b',"model":'
            + _dumps(model)
            + b',"system_fingerprint":null,"choices":'
            + _CHOICE
            + _CONTENT
        )

    @property
    def _head(self) -> bytes:
        return self._content_head[: -len(_CHOICE) - len(_CONTENT)]

    @property
    def _choice_head(self) -> bytes:
        return self._content_head[: -len(_CONTENT)]

    @property
    def _tail(self) -> bytes:
        return self._delta_tail[1:]

    def role(self) -> bytes:
        """The first chunk: the assistant role with empty content."""
        return self._choice_head + b'{"role":"assistant","content":""}' + self._tail

    def content(self, text: str) -> bytes:
        """A chunk of answer text (closes an open ``<think>`` block first); b"" for no text."""
        if not text:
            return b""
        if self._in_think:
            self._in_think = False
            text = THINK_CLOSE + text
        return self._content_head + _dumps(text) + self._delta_tail

    def reasoning(self, text: str) -> bytes:
        """A chunk of reasoning text; b"" for no text."""
        if not text:
            return b""
        if self.reasoning_mode != "think_tags":
            head = self._reasoning_head
            if head is None:
                # built on the first reasoning chunk: most replies never have one
                head = self._reasoning_head = self._choice_head + b'{"reasoning_content":'
            return head + _dumps(text) + self._delta_tail
        if not self._in_think:
            self._in_think = True
            text = THINK_OPEN + text
        return self._content_head + _dumps(text) + self._delta_tail

    #: the finish reason of a reply that ends with calls
    calls_finish_reason = "tool_calls"

    def tool_call(self, call: ToolCallEvent) -> bytes:
        """A chunk carrying one complete call as ``delta.tool_calls[0]``."""
        item = _dumps(
            {
                "index": call.index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
        )
        return self._choice_head + b'{"tool_calls":[' + item + b"]" + self._delta_tail

    def finish(
        self, reason: str, usage: Usage | None, annotations: list[dict[str, Any]] | None = None
    ) -> bytes:
        """The closing frames: the sources (as OpenAI streams them, an annotations-only delta
        after the text), the finish_reason chunk, the usage chunk if asked for, ``[DONE]``."""
        frames = []
        if self._in_think:
            frames.append(self._close_think())
        if annotations:
            frames.append(
                self._choice_head + b'{"annotations":' + _dumps(annotations) + self._delta_tail
            )
        frames.append(
            self._choice_head
            + b'{},"logprobs":null,"finish_reason":'
            + _dumps(reason)
            + (b'}],"usage":null}\n\n' if self.include_usage else b"}]}\n\n")
        )
        if self.include_usage:
            body = _dumps(openai_usage(usage if usage is not None else Usage()))
            frames.append(self._head + b'[],"usage":' + body + b"}\n\n")
        frames.append(DONE)
        return b"".join(frames)

    def error(self, err: GatewayError) -> bytes:
        """An error event in OpenAI's shape; the stream ends after it (no ``[DONE]``)."""
        return b"data: " + _dumps({"error": err.to_dict()}) + b"\n\n"

    def _close_think(self) -> bytes:
        self._in_think = False
        return self._content_head + _dumps(THINK_CLOSE) + self._delta_tail


class LegacyChunkEncoder(ChunkEncoder):
    """For a request that sent the legacy ``functions``: a call is ``delta.function_call``."""

    __slots__ = ()

    calls_finish_reason = "function_call"

    def tool_call(self, call: ToolCallEvent) -> bytes:
        """A chunk carrying the call as ``delta.function_call``."""
        item = _dumps({"name": call.name, "arguments": call.arguments})
        return self._choice_head + b'{"function_call":' + item + self._delta_tail


class CompletionAccumulator:
    """Collect a whole reply's events for a non-streamed ``chat.completion``."""

    def __init__(self) -> None:
        #: the reply's tool calls, in order
        self.calls: list[ToolCallEvent] = []
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self.search_results: list[SearchResult] = []
        self._urls: set[str] = set()

    @property
    def text(self) -> str:
        """The answer text so far."""
        return "".join(self._text)

    @property
    def reasoning(self) -> str:
        """The reasoning text so far."""
        return "".join(self._reasoning)

    def add(self, event: ReplyEvent) -> None:
        """Take one stream event (events that carry no text are ignored)."""
        if isinstance(event, AnswerDelta):
            self._text.append(event.text)
        elif isinstance(event, ReasoningDelta):
            self._reasoning.append(event.text)
        elif isinstance(event, ToolCallEvent):
            self.calls.append(event)
        elif isinstance(event, SearchResults):
            for result in event.results:
                if result.url not in self._urls:
                    self._urls.add(result.url)
                    self.search_results.append(result)

    def content(self, reasoning: ReasoningOutput = "field") -> str:
        """The message content as the client assembles it (reasoning inside in think_tags)."""
        thought = self.reasoning
        if thought and reasoning == "think_tags":
            return THINK_OPEN + thought + THINK_CLOSE + self.text
        return self.text

    def annotations(self, reasoning: ReasoningOutput = "field") -> list[dict[str, Any]]:
        """``url_citation`` annotations for the sources, with offsets into the content."""
        return _citations(self.content(reasoning), self.search_results)

    def response(
        self,
        *,
        completion_id: str,
        created: int,
        model: str,
        finish_reason: str,
        usage: Usage | None,
        reasoning: ReasoningOutput = "field",
        legacy_functions: bool = False,
    ) -> dict[str, Any]:
        """The OpenAI ``chat.completion`` object for everything added so far (calls as
        ``tool_calls``, or as the legacy ``function_call``)."""
        content = self.content(reasoning)
        thought = self.reasoning
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        message["annotations"] = _citations(content, self.search_results)
        if thought and reasoning == "field":
            message["reasoning_content"] = thought
        if self.calls:
            if not content:
                message["content"] = None
            if legacy_functions:
                call = self.calls[0]
                message["function_call"] = {"name": call.name, "arguments": call.arguments}
            else:
                message["tool_calls"] = [_tool_call(call) for call in self.calls]
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": openai_usage(usage if usage is not None else Usage()),
            "system_fingerprint": None,
        }


def _tool_call(call: ToolCallEvent) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


def _citations(content: str, results: list[SearchResult]) -> list[dict[str, Any]]:
    """``url_citation`` annotations: at the ``[n]`` marker citing result n, else at the end."""
    annotations = []
    for number, result in enumerate(results, start=1):
        marker = f"[{number}]"
        start = content.find(marker)
        if start < 0:
            start = end = len(content)
        else:
            end = start + len(marker)
        annotations.append(
            {
                "type": "url_citation",
                "url_citation": {
                    "start_index": start,
                    "end_index": end,
                    "title": result.title,
                    "url": result.url,
                },
            }
        )
    return annotations
