"""Qwen completion stream: raw SSE bytes in, typed events out (sans-IO, one per response).

Routing by ``delta.phase``: ``answer`` (or none) is answer text, ``think`` and
``thinking_summary`` are reasoning, ``web_search`` carries sources, anything else is skipped.
The answer phase's ``finished`` status is the logical end; there is no ``[DONE]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from qwen_proxy.qwen.classify import classify_error_object, envelope_error
from qwen_proxy.qwen.errors import EmptyReply, StreamCut, UpstreamError
from qwen_proxy.qwen.events import (
    AnswerDelta,
    Created,
    Event,
    Finished,
    ReasoningDelta,
    SearchResult,
    SearchResults,
    StreamFailed,
    Usage,
)
from qwen_proxy.qwen.sse import SSELineDecoder

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
_SUMMARY_JOIN = "\n\n"


class QwenStreamParser:
    """Parse one upstream completion stream. ``feed`` raw bytes, ``close`` at EOF.

    After the answer's ``finished`` (``finished`` is True) or an error envelope (``error`` is
    set), everything else is ignored.
    """

    # one per open stream: slots, and the search/summary state only once such events come
    __slots__ = (
        "_answer_parts",
        "_cached_tokens",
        "_cumulative_min",
        "_decoder",
        "_input_tokens",
        "_output_tokens",
        "_reasoning_tokens",
        "_seen_urls",
        "_summary",
        "_summary_items",
        "_usage_seen",
        "answer_chars",
        "created",
        "cumulative",
        "error",
        "finished",
        "malformed_lines",
        "response_id",
        "saw_content",
    )

    def __init__(self, *, cumulative_min_chars: int = 4) -> None:
        self._decoder = SSELineDecoder()
        #: how much answer text must exist before a delta repeating all of it counts as
        #: cumulative; below it, an ordinary repeated token could be mistaken for a repeat
        self._cumulative_min = max(1, cumulative_min_chars)
        self.created: Created | None = None
        #: the new assistant node (from ``response.created``, else the events' top level)
        self.response_id: str | None = None
        self.finished = False
        self.error: UpstreamError | None = None
        self.malformed_lines = 0
        self.answer_chars = 0
        #: True once anything the client could be shown arrived (answer, reasoning, sources)
        self.saw_content = False
        self.cumulative = False
        self._answer_parts: list[str] = []
        self._summary = ""
        self._summary_items: Sequence[str] = ()
        self._seen_urls: set[str] | None = None
        self._usage_seen = False
        self._input_tokens = 0
        self._output_tokens = 0
        self._reasoning_tokens = 0
        self._cached_tokens = 0

    @property
    def done(self) -> bool:
        """True once the stream ended logically (answer finished or an error envelope)."""
        return self.finished or self.error is not None

    @property
    def usage(self) -> Usage | None:
        """The last usage snapshot; reasoning/cached counts missing from it come from earlier."""
        if not self._usage_seen:
            return None
        return Usage(
            self._input_tokens, self._output_tokens, self._reasoning_tokens, self._cached_tokens
        )

    @property
    def answer_text(self) -> str:
        """All answer text emitted so far."""
        return "".join(self._answer_parts)

    def feed(self, data: bytes) -> list[Event]:
        """Events completed by ``data`` (raw socket bytes, any split)."""
        if self.finished or self.error is not None:
            return []
        return self._handle(self._decoder.feed(data))

    def close(self) -> list[Event]:
        """Events of a last unterminated line, at EOF. Check ``finished`` / ``eof_error()``."""
        if self.finished or self.error is not None:
            return []
        return self._handle(self._decoder.close())

    def eof_error(self) -> UpstreamError | None:
        """At EOF: None if the answer finished, else the error to report (empty or cut)."""
        if self.finished:
            return None
        if self.error is not None:
            return self.error
        if not self.saw_content:
            return EmptyReply()
        return StreamCut()

    def _handle(self, lines: list[bytes]) -> list[Event]:
        events: list[Event] = []
        for line in lines:
            try:
                obj = _loads(line)
            except _JSONDecodeError:
                if line != b"[DONE]":
                    self.malformed_lines += 1
                continue
            if type(obj) is not dict:
                self.malformed_lines += 1
                continue
            choices = obj.get("choices")
            if choices is None:
                self._handle_envelope(obj, events)
            elif choices and type(choices) is list:
                self._handle_choice(obj, choices[0], events)
            if self.finished or self.error is not None:
                break
        return events

    def _handle_choice(self, obj: dict[str, Any], choice: Any, events: list[Event]) -> None:
        usage = obj.get("usage")
        if usage:
            self._take_usage(usage)
        if self.response_id is None:
            rid = obj.get("response_id")
            if isinstance(rid, str) and rid:
                self.response_id = rid
        delta = choice.get("delta") if type(choice) is dict else None
        if type(delta) is not dict:
            return
        phase = delta.get("phase")
        status = delta.get("status")
        if status == "error":
            self._fail(_delta_error(delta), events)
            return
        if phase == "answer" or (phase is None and delta.get("name") != "web_search"):
            content = delta.get("content")
            if content and type(content) is str:
                text = self._new_answer_text(content)
                if text:
                    self._answer_parts.append(text)
                    self.answer_chars += len(text)
                    self.saw_content = True
                    events.append(AnswerDelta(text))
            if status == "finished":
                self.finished = True
                events.append(Finished())
        elif phase == "think":
            content = delta.get("content")
            if content and type(content) is str:
                self.saw_content = True
                events.append(ReasoningDelta(content))
        elif phase == "thinking_summary":
            self._handle_summary(delta, events)
        elif phase == "web_search" or delta.get("name") == "web_search":
            self._handle_search(delta, events)

    def _new_answer_text(self, content: str) -> str:
        """The part of ``content`` that is new (some streams resend the whole answer so far)."""
        chars = self.answer_chars
        if self.cumulative:
            so_far = self._answer_parts[-1] if len(self._answer_parts) == 1 else self.answer_text
            self._answer_parts = [so_far]
            if content.startswith(so_far):
                return content[chars:]
            # A stale repeat of text already sent adds nothing; anything else is new text.
            return "" if so_far.startswith(content) else content
        if chars >= self._cumulative_min and len(content) > chars:
            so_far = self.answer_text
            if content.startswith(so_far):
                self.cumulative = True
                self._answer_parts = [so_far]
                return content[chars:]
        return content

    def _handle_summary(self, delta: dict[str, Any], events: list[Event]) -> None:
        extra = delta.get("extra")
        thought = extra.get("summary_thought") if type(extra) is dict else None
        items = thought.get("content") if type(thought) is dict else None
        if type(items) is not list:
            return
        items = [item for item in items if type(item) is str]
        joined = _SUMMARY_JOIN.join(items)
        previous = self._summary
        if joined.startswith(previous):
            text = joined[len(previous) :]
        else:
            text = _rewritten_summary_growth(self._summary_items, items)
        self._summary = joined
        self._summary_items = items
        if text:
            self.saw_content = True
            events.append(ReasoningDelta(text))

    def _handle_search(self, delta: dict[str, Any], events: list[Event]) -> None:
        extra = delta.get("extra")
        infos = extra.get("web_search_info") if type(extra) is dict else None
        if type(infos) is not list:
            return
        results = []
        seen = self._seen_urls
        if seen is None:
            seen = self._seen_urls = set()
        for info in infos:
            if type(info) is not dict:
                continue
            url = info.get("url")
            if not isinstance(url, str) or not url or url in seen:
                continue
            seen.add(url)
            results.append(
                SearchResult(
                    url=url,
                    title=_str(info.get("title")),
                    snippet=_str(info.get("snippet")),
                    hostname=_str(info.get("hostname")),
                    date=_str(info.get("date")),
                )
            )
        if results:
            self.saw_content = True
            events.append(SearchResults(tuple(results)))

    def _handle_envelope(self, obj: dict[str, Any], events: list[Event]) -> None:
        created = obj.get("response.created")
        if type(created) is dict:
            self._handle_created(created, events)
            return
        error = envelope_error(obj)
        if error is not None:
            self._fail(error, events)
        # Anything else without choices (response.info, response.updated...) carries nothing.

    def _handle_created(self, created: dict[str, Any], events: list[Event]) -> None:
        parent = created.get("parent_id")
        event = Created(
            chat_id=_str(created.get("chat_id")),
            parent_id=parent if isinstance(parent, str) and parent else None,
            response_id=_str(created.get("response_id")),
        )
        self.created = event
        if event.response_id:
            self.response_id = event.response_id
        events.append(event)

    def _fail(self, error: UpstreamError, events: list[Event]) -> None:
        self.error = error
        events.append(StreamFailed(error))

    def _take_usage(self, usage: Any) -> None:
        if type(usage) is not dict:
            return
        self._usage_seen = True
        value = usage.get("input_tokens")
        if type(value) is int:
            self._input_tokens = value
        value = usage.get("output_tokens")
        if type(value) is int:
            self._output_tokens = value
        details = usage.get("output_tokens_details")
        if type(details) is dict:
            value = details.get("reasoning_tokens")
            if type(value) is int:
                self._reasoning_tokens = value
        details = usage.get("prompt_tokens_details")
        value = details.get("cached_tokens") if type(details) is dict else None
        if value is None:
            value = usage.get("cached_tokens")
        if type(value) is int:
            self._cached_tokens = value


def _rewritten_summary_growth(old: Sequence[str], new: list[str]) -> str:
    """New thinking text when the upstream rewrote earlier summary items: only the growth of
    the last known item and the items after it, so nothing already shown is repeated."""
    parts = []
    if old and len(new) >= len(old):
        last_old, last_new = old[-1], new[len(old) - 1]
        if last_new.startswith(last_old) and len(last_new) > len(last_old):
            parts.append(last_new[len(last_old) :])
    for item in new[len(old) :]:
        if item:
            parts.append(_SUMMARY_JOIN + item if old or parts else item)
    return "".join(parts)


def _delta_error(delta: dict[str, Any]) -> UpstreamError:
    extra = delta.get("extra")
    if type(extra) is dict and (extra.get("error") or extra.get("code")):
        return classify_error_object(extra)
    return classify_error_object(
        {"code": _str(delta.get("code")), "details": _str(delta.get("content"))}
    )


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
