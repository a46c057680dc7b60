"""Qwen completion stream: raw SSE bytes in, typed events out (sans-IO, one per response).

Routing by ``delta.phase``: ``answer`` (or none) is answer text, ``think`` and
``thinking_summary`` are reasoning, ``web_search`` carries sources, ``image_gen`` carries a
generated image's URL, anything else is skipped. The answer phase's ``finished`` status (or the
image phase's) is the logical end; there is no ``[DONE]``.

An error can stand where the stream should be, in a 200 labelled as a stream: a body that opens
with ``<`` (the firewall's slider page) or ``{`` (the risk engine's challenge JSON, any JSON
error) is no SSE at all, so it is kept whole and classified at its end instead of ending as an
empty reply. A bare JSON line between events is read as an event too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from qwen_proxy.qwen.classify import classify_answer, classify_error_object, envelope_error
from qwen_proxy.qwen.errors import EmptyReply, StreamCut, UpstreamError, UpstreamMalformed
from qwen_proxy.qwen.events import (
    AnswerDelta,
    Created,
    Event,
    Finished,
    GeneratedImage,
    ReasoningDelta,
    SearchResult,
    SearchResults,
    StreamFailed,
    Usage,
)
from qwen_proxy.qwen.sse import LineTooLong, SSELineDecoder

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
_SUMMARY_JOIN = "\n\n"
#: how much of a body that is not SSE is kept to classify it (an error page or JSON is small)
_FOREIGN_LIMIT = 64 * 1024
_WHITESPACE = b" \t\r\n"

#: how a reply's answer deltas are meant (see ``QwenStreamParser._answer_delta``)
UNDECIDED = "undecided"
INCREMENTAL = "incremental"
CUMULATIVE = "cumulative"


class QwenStreamParser:
    """Parse one upstream completion stream. ``feed`` raw bytes, ``close`` at EOF.

    After the answer's ``finished`` (``finished`` is True) or an error envelope (``error`` is
    set), everything else is ignored.
    """

    # one per open stream: slots, and the search/summary state only once such events come
    __slots__ = (
        "_answer_parts",
        "_cached_tokens",
        "_decoder",
        "_extensions",
        "_foreign",
        "_held",
        "_input_tokens",
        "_last_content",
        "_mode",
        "_output_tokens",
        "_reasoning_tokens",
        "_repeats",
        "_seen_urls",
        "_sniffed",
        "_summary",
        "_summary_items",
        "_tokens_at_last",
        "_usage_seen",
        "answer_chars",
        "created",
        "error",
        "finished",
        "malformed_lines",
        "response_id",
        "saw_content",
    )

    def __init__(self) -> None:
        self._decoder = SSELineDecoder()
        #: False until the body's first byte that is not whitespace came
        self._sniffed = False
        #: the body so far when it is not SSE (an HTML page, a JSON error), else None
        self._foreign: list[bytes] | None = None
        self.created: Created | None = None
        #: the new assistant node (from ``response.created``, else the events' top level)
        self.response_id: str | None = None
        self.finished = False
        self.error: UpstreamError | None = None
        self.malformed_lines = 0
        self.answer_chars = 0
        #: True once anything the client could be shown arrived (answer, reasoning, sources)
        self.saw_content = False
        #: how answer deltas are meant: UNDECIDED until the events tell (``_answer_delta``)
        self._mode = UNDECIDED
        self._last_content = ""
        self._held: list[str] | None = None
        self._extensions = 0
        self._repeats = 0
        #: the running output-token count when the last answer content came
        self._tokens_at_last = -1
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
    def cumulative(self) -> bool:
        """True once the answer deltas turned out to repeat the whole answer so far."""
        return self._mode == CUMULATIVE

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
        if not self._sniffed and self._sniff(data):
            return []
        if self._foreign is not None:
            self._keep_foreign(data)
            return []
        try:
            lines = self._decoder.feed(data)
        except LineTooLong as exc:
            events: list[Event] = []
            self._fail(
                UpstreamMalformed(
                    f"The upstream sent a line longer than {exc.args[0]:,} bytes; the reply "
                    "was abandoned."
                ),
                events,
            )
            return events
        return self._handle(lines)

    def _sniff(self, data: bytes) -> bool:
        """Look at the body's first byte that is not whitespace: True when it shows the body
        is no SSE (then it is kept whole from here on)."""
        first = data.lstrip(_WHITESPACE)[:1]
        if not first:
            return False
        self._sniffed = True
        if first not in (b"<", b"{"):
            return False
        self._foreign = []
        self._keep_foreign(data)
        return True

    def _keep_foreign(self, data: bytes) -> None:
        foreign = self._foreign
        assert foreign is not None
        if sum(map(len, foreign)) < _FOREIGN_LIMIT:
            foreign.append(data)

    def close(self) -> list[Event]:
        """Events of a last unterminated line, at EOF. Check ``finished`` / ``eof_error()``."""
        if self.finished or self.error is not None:
            return []
        if self._foreign is not None:
            body = b"".join(self._foreign)[:_FOREIGN_LIMIT]
            kind = "text/html" if body.lstrip(_WHITESPACE)[:1] == b"<" else "application/json"
            events: list[Event] = []
            self._fail(classify_answer(200, kind, body), events)
            return events
        events = self._handle(self._decoder.close())
        if not self.finished and self.error is None:
            self._release_held(events)  # a cut reply keeps every character it brought
        return events

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
                self._emit_answer(self._answer_delta(content, counted=bool(usage)), events)
            if status == "finished":
                self._release_held(events)
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
        elif phase == "image_gen":
            self._handle_image(delta, status, events)

    def _handle_image(self, delta: dict[str, Any], status: Any, events: list[Event]) -> None:
        """A generated image's URL (each one once, however often it is repeated)."""
        content = delta.get("content")
        if content and type(content) is str and content.startswith(("https://", "http://")):
            seen = self._seen_urls
            if seen is None:
                seen = self._seen_urls = set()
            if content not in seen:
                seen.add(content)
                self.saw_content = True
                events.append(GeneratedImage(content))
        if status == "finished":
            self.finished = True
            events.append(Finished())

    def _emit_answer(self, text: str, events: list[Event]) -> None:
        if text:
            self._answer_parts.append(text)
            self.answer_chars += len(text)
            self.saw_content = True
            events.append(AnswerDelta(text))

    def _answer_delta(self, content: str, *, counted: bool) -> str:
        """The new answer text in an event's ``content``, however the upstream means it.

        Deltas are normally incremental, but some upstreams repeat the whole answer so far in
        each event. One event cannot tell the two apart ("Hel" then "Hello!" is either), so the
        mode is decided from the events: the first is sent as it is; later ones are held while
        both readings fit. An event that does not extend the last one means incremental (so do
        two exact repeats in a row: "abcd", "abcd", "abcd"); two events that each extend the
        one before mean cumulative; the end of the reply settles the rest (cumulative when an
        extension was seen). An exact repeat whose usage (``counted``) shows no new output
        token is a snapshot of the answer so far, which only a cumulative reply sends. Only
        ambiguous replies wait, at most one event in practice.
        """
        mode = self._mode
        if mode == INCREMENTAL:
            return content
        if mode == CUMULATIVE:
            return self._cumulative_suffix(content)
        tokens = self._output_tokens if counted else -1
        no_new_tokens = tokens >= 0 and tokens == self._tokens_at_last
        self._tokens_at_last = tokens
        last = self._last_content
        self._last_content = content
        if self._held is None:
            if not last:
                return content  # the first event: both readings agree
            self._held = []
        held = self._held
        held.append(content)
        if len(content) > len(last) and content.startswith(last):
            self._extensions += 1
            self._repeats = 0
            if self._extensions >= 2:
                return self._settle(CUMULATIVE)
        elif content == last:
            if no_new_tokens:
                return self._settle(CUMULATIVE)
            self._repeats += 1
            if self._repeats >= 2:
                return self._settle(INCREMENTAL)
        else:
            return self._settle(INCREMENTAL)
        return ""

    def _settle(self, mode: str) -> str:
        """Decide the mode; the held events' text as that mode reads it."""
        held = self._held or []
        self._mode = mode
        self._held = None
        self._last_content = ""
        if mode == INCREMENTAL:
            return "".join(held)
        if not held:
            return ""
        return self._cumulative_suffix(held[-1])

    def _release_held(self, events: list[Event]) -> None:
        """At the reply's end: held events settle as cumulative if one extended the last."""
        if self._mode == UNDECIDED and self._held:
            mode = CUMULATIVE if self._extensions else INCREMENTAL
            self._emit_answer(self._settle(mode), events)

    def _cumulative_suffix(self, content: str) -> str:
        """What ``content``, the whole answer so far, adds to the text already sent."""
        so_far = self._answer_parts[-1] if len(self._answer_parts) == 1 else self.answer_text
        self._answer_parts = [so_far]
        if content.startswith(so_far):
            return content[len(so_far) :]
        # A stale repeat of text already sent adds nothing; anything else is new text.
        return "" if so_far.startswith(content) else content

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
        self._release_held(events)  # the text before a failure is the client's (content filter)
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
