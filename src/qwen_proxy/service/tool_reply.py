"""A reply to a request with tools or a JSON format: calls taken out of the text as it streams.

Built instead of a plain :class:`Reply` only when the request has :class:`Tooling`; the plain
path runs none of this. Every face reads the same events:

* answer text goes through a tool-call sieve: text streams at once (only a possible marker is
  held back), each finished call comes out as one :class:`ToolCallEvent` with a fresh id;
* reasoning goes through a sieve of its own: a call written while thinking is kept and
  emitted at the end when the answer made none;
* when the request's contract can be broken (``tool_choice`` ``required``, a named function or
  ``none``; a JSON ``response_format``) the reply is held until its end, and one corrective
  turn is sent in the same chat if the first reply broke it. The client sees only the reply it
  gets in the end. A JSON reply that is still invalid after that fails with a clear error;
* the conversation node is recorded with what the client received: the text and the calls
  (with their ids), so the agent's next request, which repeats them, continues the chat.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from qwen_proxy.accounts import Lease, Outcome
from qwen_proxy.conversations.resolver import History
from qwen_proxy.errors import BadGateway
from qwen_proxy.messages import ChatMessage, ToolCall
from qwen_proxy.qwen.errors import ChatInProgress
from qwen_proxy.qwen.events import AnswerDelta, Event, Finished, ReasoningDelta
from qwen_proxy.service.events import ReplyEvent, ToolCallEvent, new_call_id
from qwen_proxy.service.models import ResolvedModel
from qwen_proxy.service.reply import Recorder, Reply
from qwen_proxy.service.retry import BUSY_CHAT_WAITS
from qwen_proxy.service.tooling import Tooling
from qwen_proxy.service.upstream import ReplyStream
from qwen_proxy.tools import (
    Call,
    Checked,
    Sieve,
    Text,
    check_reply,
    correction,
    needs_retry,
    pick_calls,
    structured_correction,
)

log = logging.getLogger("qwen_proxy.service.tool_reply")

#: opens the hidden corrective turn: (its text, the id it continues from) -> its stream
Reopen = Callable[[str, str], Awaitable[ReplyStream]]


class InvalidStructuredOutput(BadGateway):
    """The model's reply did not follow ``response_format``, even after a corrective turn."""

    code = "invalid_structured_output"
    #: the gateway already asked the model again: a client retry would double the calls
    should_retry = False


class ToolReply(Reply):
    """A reply whose text is sieved for calls and checked against the format (module doc)."""

    __slots__ = (
        "_answer_sieve",
        "_calls",
        "_correction",
        "_done",
        "_held",
        "_hold",
        "_reasoning_sieve",
        "_reopen",
        "_retried",
        "_text",
        "_thought_calls",
        "_tooling",
    )

    def __init__(
        self,
        recorder: Recorder,
        *,
        tenant: str,
        history: History,
        turn: int,
        model: ResolvedModel,
        lease: Lease,
        chat_id: str,
        stream: ReplyStream,
        first: list[Event],
        tooling: Tooling,
        reopen: Reopen,
    ) -> None:
        self._tooling = tooling
        self._reopen = reopen
        #: a reply that may need the hidden corrective turn waits for its end
        self._hold = tooling.fmt.wants_json or (tooling.has_tools and tooling.choice.mode != "auto")
        self._retried = False
        self._done = False
        self._correction: str | None = None
        self._start_attempt()
        super().__init__(
            recorder,
            tenant=tenant,
            history=history,
            turn=turn,
            model=model,
            lease=lease,
            chat_id=chat_id,
            stream=stream,
            first=first,
        )

    @property
    def made_calls(self) -> bool:
        """Whether the reply the client got made tool calls."""
        return bool(self._calls)

    def _start_attempt(self) -> None:
        """Fresh sieves and an empty record, for the first attempt or the corrective one."""
        tools, parallel = self._tooling.tools, self._tooling.parallel
        has_tools = self._tooling.has_tools
        self._answer_sieve = Sieve(tools, parallel=parallel) if has_tools else None
        self._reasoning_sieve = Sieve(tools, parallel=parallel) if has_tools else None
        #: calls found in the reasoning: emitted at the end if the answer makes none
        self._thought_calls: tuple[Call, ...] = ()
        self._held: list[ReplyEvent] = []
        #: answer text and calls the client gets (what the node is recorded with)
        self._text: list[str] = []
        self._calls: list[ToolCallEvent] = []

    # -- reading ----------------------------------------------------------------------------

    def _scan(self, batch: list[Event]) -> list[ReplyEvent]:
        out: list[ReplyEvent] = []
        for event in super()._scan(batch):
            kind = type(event)
            if kind is AnswerDelta:
                assert isinstance(event, AnswerDelta)
                self._end_reasoning(out)
                self._answer(event.text, out)
            elif kind is ReasoningDelta:
                assert isinstance(event, ReasoningDelta)
                self._reasoning(event.text, out)
            elif kind is Finished:
                self._end(out)
                if self._correction is None and self._failure is None:
                    out.append(event)
            else:
                out.append(event)
        return out

    def _answer(self, text: str, out: list[ReplyEvent]) -> None:
        sieve = self._answer_sieve
        if sieve is None:
            self._emit_text(text, out)
        else:
            self._emit(sieve.feed(text), out)

    def _emit(self, events: list[Text | Call], out: list[ReplyEvent]) -> None:
        for event in events:
            if isinstance(event, Text):
                self._emit_text(event.text, out)
            else:
                self._emit_call(event, out)

    def _emit_text(self, text: str, out: list[ReplyEvent]) -> None:
        if not text:
            return
        self._text.append(text)
        (self._held if self._hold else out).append(AnswerDelta(text))

    def _emit_call(self, call: Call, out: list[ReplyEvent]) -> None:
        call_id = new_call_id(self._tooling.call_prefix)
        event = ToolCallEvent(call.index, call_id, call.name, call.arguments)
        self._calls.append(event)
        (self._held if self._hold else out).append(event)

    def _reasoning(self, text: str, out: list[ReplyEvent]) -> None:
        sieve = self._reasoning_sieve
        self._emit_reasoning([Text(text)] if sieve is None else sieve.feed(text), out)

    def _emit_reasoning(self, events: list[Text | Call], out: list[ReplyEvent]) -> None:
        target = self._held if self._hold else out
        for event in events:
            if isinstance(event, Text) and event.text:
                target.append(ReasoningDelta(event.text))

    def _end_reasoning(self, out: list[ReplyEvent]) -> None:
        """The reasoning is over (the answer began, or the reply ended): release its tail and
        keep the calls written in it (later reasoning, if any, is passed on unsieved)."""
        sieve = self._reasoning_sieve
        if sieve is not None:
            self._reasoning_sieve = None
            self._emit_reasoning(sieve.close(), out)
            self._thought_calls = tuple(sieve.calls)

    # -- the end of one attempt -------------------------------------------------------------

    def _end(self, out: list[ReplyEvent]) -> None:
        """The upstream finished this attempt: release it, correct it once, or fail."""
        self._end_reasoning(out)
        answer = self._answer_sieve
        if answer is not None:
            self._emit(answer.close(), out)
            if not answer.calls:
                for call in pick_calls((), self._thought_calls):
                    self._emit_call(call, out)
        tooling = self._tooling
        checked = None
        if tooling.fmt.wants_json and not self._calls:
            checked = check_reply("".join(self._text), tooling.fmt)
        if not self._retried:
            self._correction = self._correction_for(checked)
            if self._correction is not None:
                log.info("a reply broke the request's tool_choice or format: correcting it")
                return
        if checked is not None:
            if not checked.ok or checked.json_text is None:
                self._failure = InvalidStructuredOutput(
                    "The model's reply did not follow response_format, even after it was "
                    f"asked to correct it: {'; '.join(checked.errors[:5])}."
                )
                return
            # the JSON goes out clean (without a fence or words around it), in one piece
            self._text = [checked.json_text]
            self._held = [e for e in self._held if type(e) is not AnswerDelta]
            self._held.append(AnswerDelta(checked.json_text))
        if tooling.choice.mode == "none" and self._calls:
            log.info("dropped %d call(s) that tool_choice none forbids", len(self._calls))
            self._calls = []
            self._held = [e for e in self._held if type(e) is not ToolCallEvent]
        out.extend(self._held)
        self._held = []

    def _correction_for(self, checked: Checked | None) -> str | None:
        """The corrective turn's text when this attempt broke the request, else None."""
        tooling = self._tooling
        if tooling.has_tools:
            calls = [Call(c.index, c.name, c.arguments) for c in self._calls]
            if needs_retry(calls, tooling.choice):
                sieve = self._answer_sieve
                problems = [p.detail for p in sieve.problems if p.retryable] if sieve else []
                return correction(problems, tooling.tools, tooling.choice)
        if checked is not None and not checked.ok:
            return structured_correction(checked, tooling.fmt)
        return None

    # -- after the end ----------------------------------------------------------------------

    async def _complete(self) -> list[ReplyEvent] | None:
        if self._correction is not None:
            await self._correct(self._correction)
            return []
        if not self._done:
            self._done = True
            await self._recorder.record(self, self._stream.parser, self._answer_message())
            await self._close(Outcome.ok())
        return None

    async def _correct(self, text: str) -> None:
        """Send the corrective turn after the reply that just finished; read its reply."""
        self._correction = None
        self._retried = True
        created = self._stream.parser.created
        parent = self._recorder.parent_of(created) if created is not None else None
        if not parent:
            raise BadGateway("The upstream reply carried no id to continue the chat from.")
        waits = iter(BUSY_CHAT_WAITS)
        while True:
            try:
                stream = await self._reopen(text, parent)
                break
            except ChatInProgress:
                # the upstream may still be closing the reply that just finished
                wait = next(waits, None)
                if wait is None:
                    raise
                await asyncio.sleep(wait)
        old, self._stream = self._stream, stream
        old.close()
        self._finished = False
        self._start_attempt()

    def _answer_message(self) -> ChatMessage:
        calls = tuple(ToolCall(c.id, c.name, c.arguments) for c in self._calls)
        return ChatMessage(role="assistant", text="".join(self._text), tool_calls=calls)
