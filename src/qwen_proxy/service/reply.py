"""An upstream reply from its first content to its end: batches, the recorded node, the lease.

A reply exists once its first content is in hand (``first_content``); the client then reads it
batch by batch. The conversation node is recorded and the lease released when the upstream
finished the answer; a failure releases the lease with what the failure means for the account;
anything our side gives up (a client that hung up, a limit that cut the reply) releases it as
abandoned, which teaches the pool nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import cast

from qwen_proxy.accounts import Lease, Outcome
from qwen_proxy.conversations.resolver import History, reply_key
from qwen_proxy.conversations.store import ConversationStore, Node
from qwen_proxy.errors import GatewayError
from qwen_proxy.messages import ChatMessage
from qwen_proxy.qwen.errors import ContentFiltered, EmptyReply, StreamCut, UpstreamError
from qwen_proxy.qwen.events import Created, Event, Finished, StreamFailed, Usage
from qwen_proxy.qwen.stream import QwenStreamParser
from qwen_proxy.service.caller import count_reply_usage
from qwen_proxy.service.events import ReplyEvent
from qwen_proxy.service.metrics import REQUEST_DURATION, STREAMS_OPEN, count_upstream_failure
from qwen_proxy.service.models import ResolvedModel
from qwen_proxy.service.outcomes import outcome_for
from qwen_proxy.service.upstream import ReplyStream

log = logging.getLogger("qwen_proxy.service.reply")


async def first_content(stream: ReplyStream) -> list[Event]:
    """Read until there is something to show the client; failures so far can be retried.

    A content filter after some text is the reply's end, not a failure: the partial
    answer is kept and the client gets ``finish_reason: "content_filter"``.
    """
    held: list[Event] = []
    parser = stream.parser
    while (batch := await stream.next_batch()) is not None:
        held.extend(batch)
        for event in batch:
            if type(event) is StreamFailed:
                assert isinstance(event, StreamFailed)
                if isinstance(event.error, ContentFiltered) and parser.saw_content:
                    return held
                raise event.error
        if parser.finished and not parser.saw_content:
            raise EmptyReply(
                "The upstream finished the reply without any content "
                "(the account is probably throttled)."
            )
        if parser.saw_content or parser.finished:
            return held
    raise parser.eof_error() or StreamCut()


class Recorder:
    """Records the conversation node of a completed reply (one per service, shared by replies)."""

    __slots__ = ("clock", "continue_from", "store")

    def __init__(
        self, store: ConversationStore, clock: Callable[[], float], continue_from: str
    ) -> None:
        self.store = store
        self.clock = clock
        #: which id of the reply the next turn continues from ("response_id" or "parent_id")
        self.continue_from = continue_from

    def parent_of(self, created: Created) -> str | None:
        """The id a next turn of the chat continues from, after the reply ``created`` names."""
        return created.response_id if self.continue_from == "response_id" else created.parent_id

    async def record(
        self, reply: Reply, parser: QwenStreamParser, answer: ChatMessage | None = None
    ) -> None:
        """Store the node for the reply's history plus its answer (by default the answer text
        as the upstream sent it); a store fault is logged."""
        created = parser.created
        if created is None:
            return
        parent = self.parent_of(created)
        if not parent:
            return
        if answer is None:
            answer = ChatMessage(role="assistant", text=parser.answer_text)
        now = self.clock()
        node = Node(
            key=reply_key(reply.history, answer),
            tenant=reply.tenant,
            account=reply.lease.name,
            chat_id=created.chat_id or reply.chat_id,
            parent_id=parent,
            model=reply.model.upstream.id,
            created_at=now,
            last_used_at=now,
            turn=reply.turn,
        )
        try:
            await self.store.put(node)
        except Exception:  # the reply itself succeeded: a store fault must not fail it
            log.exception("could not record conversation node for chat %s", node.chat_id)


class Reply:
    """An upstream reply the client is about to receive: its first events are already in hand.

    Call ``next_batch()`` until it returns None, and ``aclose()`` once done however the reply
    went (it is idempotent). The lease is released and the conversation node recorded when the
    reply completes; a cut, failed or given-up reply records nothing.
    """

    # one per open stream: it keeps what recording the node needs, not the request
    __slots__ = (
        "_failure",
        "_finished",
        "_first",
        "_recorder",
        "_released",
        "_stream",
        "chat_id",
        "history",
        "lease",
        "model",
        "started",
        "tenant",
        "turn",
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
    ) -> None:
        self._recorder = recorder
        self.tenant = tenant
        self.history = history
        #: the new node's depth: the request's message count plus this reply
        self.turn = turn
        self.model = model
        self.lease = lease
        self.chat_id = chat_id
        self._stream = stream
        self._first: list[Event] | None = first
        self._finished = False
        self._failure: GatewayError | None = None
        self._released = False
        #: when its completion started (time.monotonic), for the duration metric
        self.started = time.monotonic()
        STREAMS_OPEN.inc()

    @property
    def made_calls(self) -> bool:
        """Whether the reply made tool calls (only a reply to a request with tools can)."""
        return False

    @property
    def usage(self) -> Usage | None:
        """The upstream's last usage snapshot."""
        return self._stream.parser.usage

    async def next_batch(self) -> list[ReplyEvent] | None:
        """The reply's next events as they arrive; None once it has completed and been recorded.

        Raises GatewayError when the reply fails, after closing it. A coroutine, not an async
        generator: an open stream waiting on it keeps no suspended generator.
        """
        try:
            batch = self._first
            if batch is not None:
                # its events are the client's once sent: an open stream drops them
                self._first = None
            elif self._failure is not None:
                raise self._failure
            elif self._finished:
                return await self._complete()
            else:
                batch = await self._stream.next_batch()
                if batch is None:
                    # said the same to a streamed client (who has the text so far) and to a
                    # whole one (who has nothing): neither "above" nor "partial" is true for both
                    raise StreamCut(
                        "The upstream closed the reply before it finished. Retry the request."
                    )
            return self._scan(batch)
        except UpstreamError as error:
            count_upstream_failure(error)
            await self._close(outcome_for(error))
            raise
        except BaseException:
            # the client went away (cancelled) or our side failed: nothing to learn about
            # the account, and a success would wrongly clear its strikes
            await self._close(Outcome.abandoned())
            raise

    async def _complete(self) -> list[ReplyEvent] | None:
        """The upstream finished the answer: record the node, release the lease, end."""
        await self._recorder.record(self, self._stream.parser)
        await self._close(Outcome.ok())
        return None

    def _scan(self, batch: list[Event]) -> list[ReplyEvent]:
        """The batch up to a failure (raised on the next call); notes the reply's end."""
        for index, event in enumerate(batch):
            kind = type(event)
            if kind is StreamFailed:
                assert isinstance(event, StreamFailed)
                self._failure = event.error
                return cast("list[ReplyEvent]", batch[:index])
            if kind is Finished:
                self._finished = True
        return cast("list[ReplyEvent]", batch)

    async def _close(self, outcome: Outcome) -> None:
        if self._released:
            return
        self._released = True
        STREAMS_OPEN.dec()
        REQUEST_DURATION.labels(self.model.upstream.id).observe(time.monotonic() - self.started)
        count_reply_usage(self.usage)
        try:
            self._stream.close()
        finally:
            try:
                await self.lease.release(outcome)
            except GatewayError as error:
                # the reply itself is done: losing its bookkeeping (a shared state store that
                # went away) must not turn a delivered answer into an error; the lease lapses
                log.warning("could not release account %s: %s", self.lease.name, error.message)

    async def aclose(self) -> None:
        """Give up the reply (a limit cut it, the client went away): nothing is recorded, and
        the account is released as abandoned (a no-op once the reply completed)."""
        await self._close(Outcome.abandoned())
