"""Limits the gateway enforces itself, because the upstream ignores them: ``stop`` and the
completion-token budget (``max_completion_tokens`` / ``max_tokens``). Pure, no I/O.

Rules (what a client can rely on):

- **stop** applies to answer text only, not to reasoning. The first stop string to be
  completed ends the reply, as a model generating text in order would stop (so the result does
  not depend on how the text was split into deltas); the stop string itself and everything
  after it are never sent (OpenAI's behaviour), and ``finish_reason`` is ``"stop"``. To keep
  latency minimal, only the tail of the text that could still be the beginning of a stop
  string is held back, until the next text decides; at a normal end it is sent.
- **the budget** counts reasoning and answer tokens together, as OpenAI's
  ``max_completion_tokens`` does. The count follows the upstream's running usage
  (``output_tokens``, which includes reasoning): the tokens one read added are spread over the
  characters it brought, in proportion. Text that arrives without a newer usage snapshot is
  estimated at one token per four UTF-8 bytes; the next snapshot corrects the count. When the
  budget is spent the text is cut at the proportional character and ``finish_reason`` is
  ``"length"``. The usage reported for a cut reply counts what was counted up to the cut.
- **when a limit hits** the caller sends the text up to the cut, finishes the reply, and closes
  the upstream response, which cancels the generation upstream.
- **conversation**: a cut reply records no conversation node. The upstream's tree holds the
  full reply while the client only saw the cut text; continuing from that node would give the
  model context the client never saw (think of a ReAct agent whose stop sequence is there
  precisely to keep an invented "Observation:" out of the history). With no node, the next
  turn continues from the last node both sides agree on, or folds the history into a new chat:
  always the context the client sent, at the cost of resending a little text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from qwen_proxy.qwen.events import AnswerDelta, Finished, ReasoningDelta, Usage
from qwen_proxy.service.events import ReplyEvent

#: the fallback estimate when no usage snapshot covers a text
BYTES_PER_TOKEN = 4


def estimate_tokens(text: str) -> float:
    """A rough token count for text the upstream gave no usage for: UTF-8 bytes / 4."""
    return len(text.encode("utf-8", "surrogatepass")) / BYTES_PER_TOKEN


class StopScanner:
    """Find stop strings in streamed text without ever sending text past a stop."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(stop for stop in stops if stop)
        self._longest = max((len(stop) for stop in self._stops), default=0)
        self._firsts = frozenset(stop[0] for stop in self._stops)
        self._held = ""
        #: True once a stop string was found; nothing more is let through
        self.hit = False
        #: the stop string that ended the text (Anthropic's ``stop_sequence`` reports it)
        self.matched: str | None = None

    def feed(self, text: str) -> str:
        """The part of ``text`` (after earlier held text) that is safe to send now."""
        if self.hit:
            return ""
        pending = self._held + text
        cut = end = -1
        matched = None
        for stop in self._stops:
            found = pending.find(stop)
            if found < 0:
                continue
            # the stop completed first wins; of two ending together, the longer
            found_end = found + len(stop)
            if end < 0 or found_end < end or (found_end == end and found < cut):
                cut, end, matched = found, found_end, stop
        if cut >= 0:
            self.hit = True
            self.matched = matched
            self._held = ""
            return pending[:cut]
        hold = self._holdback(pending)
        self._held = pending[len(pending) - hold :] if hold else ""
        return pending[: len(pending) - hold]

    def flush(self) -> str:
        """Release the held text: the reply ended without completing a stop string."""
        held, self._held = self._held, ""
        return "" if self.hit else held

    def _holdback(self, pending: str) -> int:
        """Length of the longest tail of ``pending`` that is a proper prefix of a stop."""
        size = len(pending)
        firsts = self._firsts
        for start in range(max(0, size - self._longest + 1), size):
            # most positions cannot begin a stop at all; skip them before slicing
            if pending[start] not in firsts:
                continue
            tail = pending[start:]
            if any(stop.startswith(tail) for stop in self._stops):
                return size - start
        return 0


class TokenBudget:
    """Count completion tokens as the reply streams and cut text where ``limit`` is reached."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        #: tokens counted for the text taken so far (answer and reasoning)
        self.counted = 0.0
        self._rate = 0.0
        #: True once the limit was reached; nothing more is let through
        self.exhausted = False

    def start_read(self, texts: Sequence[str], output_tokens: int | None) -> None:
        """Set the cost per character of one read's ``texts`` from the upstream's usage."""
        chars = sum(len(text) for text in texts)
        if not chars:
            return
        tokens = output_tokens - self.counted if output_tokens is not None else 0.0
        if tokens <= 0:
            tokens = sum(estimate_tokens(text) for text in texts)
        self._rate = tokens / chars

    def take(self, text: str) -> str:
        """The part of ``text`` that fits in the budget (all of it without a limit)."""
        if self.exhausted:
            return ""
        cost = len(text) * self._rate
        if self.limit is None or self.counted + cost <= self.limit:
            self.counted += cost
            return text
        fits = int((self.limit - self.counted) / self._rate) if self._rate > 0 else len(text)
        self.counted = float(self.limit)
        self.exhausted = True
        return text[: max(0, min(fits, len(text)))]


class ReplyLimiter:
    """Apply ``stop`` and the token budget to a reply's event batches.

    ``filter`` each batch (with the upstream's usage after it); once ``finish_reason`` is set
    the caller sends the returned events, finishes with that reason and stops reading.
    """

    def __init__(self, *, max_tokens: int | None, stop: Sequence[str]) -> None:
        self._budget = TokenBudget(max_tokens)
        self._stop = StopScanner(stop) if any(stop) else None
        #: "length" or "stop" once a limit ended the reply, else None
        self.finish_reason: str | None = None

    def filter(self, batch: list[ReplyEvent], usage: Usage | None) -> list[ReplyEvent]:
        """The batch with text cut at a limit; events after the cut are dropped."""
        if self.finish_reason is not None:
            return []
        budget = self._budget
        budget.start_read(
            [e.text for e in batch if isinstance(e, AnswerDelta | ReasoningDelta)],
            usage.output_tokens if usage is not None else None,
        )
        out: list[ReplyEvent] = []
        for event in batch:
            if isinstance(event, AnswerDelta):
                self._answer(budget.take(event.text), out)
            elif isinstance(event, ReasoningDelta):
                text = budget.take(event.text)
                if text:
                    out.append(ReasoningDelta(text))
                if budget.exhausted:
                    self._end("length", out)
            elif isinstance(event, Finished):
                self._release(out)
                out.append(event)
            else:
                out.append(event)
            if self.finish_reason is not None:
                break
        return out

    @property
    def stop_sequence(self) -> str | None:
        """The stop string that ended the reply (None unless ``finish_reason`` is "stop")."""
        return self._stop.matched if self._stop is not None else None

    def flush(self) -> str:
        """Answer text still held back, for a reply that ended without a limit hitting."""
        return self._stop.flush() if self._stop is not None else ""

    def usage(self, upstream: Usage | None) -> Usage | None:
        """The usage to report: the upstream's, or what was counted up to a cut."""
        if self.finish_reason is None or upstream is None:
            return upstream
        completion = min(upstream.output_tokens, math.ceil(self._budget.counted))
        return Usage(
            input_tokens=upstream.input_tokens,
            output_tokens=completion,
            reasoning_tokens=min(upstream.reasoning_tokens, completion),
            cached_tokens=upstream.cached_tokens,
        )

    def _answer(self, text: str, out: list[ReplyEvent]) -> None:
        if self._stop is not None:
            text = self._stop.feed(text)
        if text:
            out.append(AnswerDelta(text))
        if self._stop is not None and self._stop.hit:
            self._end("stop", out)
        elif self._budget.exhausted:
            self._end("length", out)

    def _end(self, reason: str, out: list[ReplyEvent]) -> None:
        if reason == "length":
            # the reply ends here, so a held tail can no longer become a stop string
            self._release(out)
        self.finish_reason = reason

    def _release(self, out: list[ReplyEvent]) -> None:
        held = self.flush()
        if held:
            out.append(AnswerDelta(held))


def limiter_for(max_tokens: int | None, stop: Sequence[str]) -> ReplyLimiter | None:
    """A limiter when the request sets a limit; None (no per-chunk cost) otherwise."""
    if max_tokens is None and not any(stop):
        return None
    return ReplyLimiter(max_tokens=max_tokens, stop=stop)
