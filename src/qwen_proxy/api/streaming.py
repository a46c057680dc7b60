"""What every face does with a reply, whatever its wire format: read it whole, or relay it as
SSE while watching for a client that hangs up, with ``stop``/``max_tokens`` applied on the way.

The faces differ only in how events become bytes, so the loops take an encoding function. The
OpenAI chat face keeps its own hand-tuned stream pump (its open-stream memory is benchmarked)
and shares the disconnect watch and the whole-reply reader from here.

Finish reasons are the limiter's and OpenAI's words: ``"stop"`` (the reply ended, or a stop
string ended it), ``"length"`` (the token budget), ``"content_filter"`` (moderation cut it
after some text); each face translates them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Any

from qwen_proxy.api.http import Receive, Send
from qwen_proxy.qwen.errors import ContentFiltered, UpstreamMalformed
from qwen_proxy.qwen.events import AnswerDelta, ReasoningDelta, Usage
from qwen_proxy.service.events import ReplyEvent
from qwen_proxy.service.limits import ReplyLimiter
from qwen_proxy.service.reply import Reply

#: the most text a whole (not streamed) reply collects before it is abandoned: an upstream that
#: never ends would otherwise grow the gateway's memory without bound
MAX_WHOLE_REPLY_CHARS = 32 * 1024 * 1024

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


async def cancel_on_disconnect(receive: Receive, task: asyncio.Task[Any]) -> None:
    """Cancel the streaming ``task`` once the client hangs up (the task cancels this first)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    task.cancel()


def client_left(watcher: asyncio.Future[None]) -> bool:
    """True when the disconnect watch ended by cancelling the stream, not by being cancelled."""
    return watcher.done() and not watcher.cancelled() and watcher.exception() is None


class ClientWatch:
    """``async with ClientWatch(receive):`` cancels the block when the client hangs up, and the
    block then ends quietly (the server's send ignores a gone client, so this watch is what
    stops the upstream read)."""

    __slots__ = ("_receive", "_task", "_watcher")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._task: asyncio.Task[Any] | None = None
        self._watcher: asyncio.Future[None] | None = None

    async def __aenter__(self) -> ClientWatch:
        self._task = asyncio.current_task()
        assert self._task is not None
        self._watcher = asyncio.ensure_future(cancel_on_disconnect(self._receive, self._task))
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        watcher, task = self._watcher, self._task
        assert watcher is not None
        assert task is not None
        left = client_left(watcher)
        # cancelled before it can run again: once the reply is sent, receive() answers
        # "http.disconnect" too, and that must not cancel the task
        watcher.cancel()
        if kind is asyncio.CancelledError and left:
            task.uncancel()
            return True
        return False


class KeepAlive:
    """Sends ``frame`` whenever a whole ``interval`` passed with nothing else sent (an upstream
    that thinks, or has not answered yet), so clients and proxies do not time the stream out.

    The stream calls ``sent()`` after each write and ``stop()`` before its last one.
    """

    __slots__ = ("_quiet", "_task")

    def __init__(self, send: Send, frame: bytes, interval: float) -> None:
        self._quiet = False
        self._task = asyncio.ensure_future(self._run(send, frame, interval))

    def sent(self) -> None:
        """Something was just written: the stream is not quiet."""
        self._quiet = False

    def stop(self) -> None:
        """No more frames (the stream is about to end)."""
        self._task.cancel()

    async def _run(self, send: Send, frame: bytes, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if self._quiet:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
            self._quiet = True


def reported_usage(reply: Reply, limiter: ReplyLimiter | None) -> Usage | None:
    """The usage to report: the upstream's, or what was counted up to a limit's cut."""
    return limiter.usage(reply.usage) if limiter is not None else reply.usage


async def read_whole(
    reply: Reply, limiter: ReplyLimiter | None, add: Callable[[ReplyEvent], None]
) -> str:
    """Read a reply to its end, handing each event (after the limits) to ``add``; returns the
    finish reason. Always closes the reply: one cut by a limit is cancelled upstream."""
    finish_reason = "stop"
    held = 0
    try:
        while (batch := await reply.next_batch()) is not None:
            if limiter is not None:
                batch = limiter.filter(batch, reply.usage)
            for event in batch:
                kind = type(event)
                if kind is AnswerDelta or kind is ReasoningDelta:
                    held += len(event.text)  # type: ignore[union-attr]
                add(event)
            if held > MAX_WHOLE_REPLY_CHARS:
                raise UpstreamMalformed(
                    f"The reply grew past {MAX_WHOLE_REPLY_CHARS >> 20} Mi characters, more "
                    "than a whole (not streamed) reply may hold; ask for a stream."
                )
            if limiter is not None and limiter.finish_reason is not None:
                finish_reason = limiter.finish_reason
                break
    except ContentFiltered:
        finish_reason = "content_filter"
        if limiter is not None:
            add(AnswerDelta(limiter.flush()))
    finally:
        await reply.aclose()
    return finish_reason


async def relay(
    reply: Reply,
    limiter: ReplyLimiter | None,
    encode: Callable[[list[ReplyEvent]], bytes],
    send: Send,
    keep_alive: KeepAlive | None = None,
) -> str:
    """Send the reply's events, ``encode``d, as they arrive; returns the finish reason once it
    ended (a limit's cut closes the upstream response). A failure mid-way raises GatewayError:
    the face sends its error event. Text a stop string held back at a content filter is
    encoded as an answer delta before returning."""
    try:
        while (batch := await reply.next_batch()) is not None:
            if limiter is not None:
                batch = limiter.filter(batch, reply.usage)
            body = encode(batch)
            del batch  # a stream waiting for its next event holds no old events
            if body:
                await send({"type": "http.response.body", "body": body, "more_body": True})
                if keep_alive is not None:
                    keep_alive.sent()
            del body
            if limiter is not None and limiter.finish_reason is not None:
                await reply.aclose()  # closes the upstream response: generation is cancelled
                return limiter.finish_reason
    except ContentFiltered:
        if limiter is not None:
            held = encode([AnswerDelta(limiter.flush())])
            if held:
                await send({"type": "http.response.body", "body": held, "more_body": True})
        return "content_filter"
    return "stop"
