"""``POST /v1/chat/completions``: the reply as one completion or as an SSE stream.

The stream is a raw ASGI send loop (measured lighter than a framework response per open
stream): each upstream batch is mapped and written once, with no per-chunk logging.
``stop`` and ``max_tokens`` are enforced here through ``limits`` (the upstream ignores them):
a reply cut by a limit finishes with ``stop``/``length`` and its upstream response is closed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Literal

from qwen_proxy.api.responses import Receive, Send, send_json
from qwen_proxy.completions import CompletionService, Reply
from qwen_proxy.errors import GatewayError
from qwen_proxy.limits import ReplyLimiter, limiter_for
from qwen_proxy.messages import ChatRequest
from qwen_proxy.qwen.errors import ContentFiltered
from qwen_proxy.qwen.events import AnswerDelta, ReasoningDelta
from qwen_proxy.translate import ChunkEncoder, CompletionAccumulator, new_completion_id

log = logging.getLogger("qwen_proxy.api")

ReasoningMode = Literal["field", "think_tags"]

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def _info_headers(request: ChatRequest) -> list[tuple[bytes, bytes]]:
    if not request.ignored_params:
        return []
    return [(b"x-qwen-proxy-ignored-params", ",".join(request.ignored_params).encode())]


async def complete(
    service: CompletionService, request: ChatRequest, tenant: str, send: Send, receive: Receive
) -> None:
    """Answer one chat completion request (errors before the first byte become responses)."""
    reply = await service.open(request, tenant)
    reasoning: ReasoningMode = (
        "think_tags" if service.settings.reasoning_output == "think_tags" else "field"
    )
    if request.stream:
        await _stream(reply, request, reasoning, send, receive)
    else:
        await _whole(reply, request, reasoning, send)


async def _whole(reply: Reply, request: ChatRequest, reasoning: ReasoningMode, send: Send) -> None:
    acc = CompletionAccumulator()
    limiter = limiter_for(request.max_tokens, request.stop)
    finish_reason = "stop"
    batches = reply.batches()
    try:
        async for batch in batches:
            if limiter is not None:
                batch = limiter.filter(batch, reply.usage)
            for event in batch:
                acc.add(event)
            if limiter is not None and limiter.finish_reason is not None:
                finish_reason = limiter.finish_reason
                await batches.aclose()  # closes the upstream response: generation is cancelled
                break
    except ContentFiltered:
        finish_reason = "content_filter"
        if limiter is not None:
            acc.add(AnswerDelta(limiter.flush()))
    body = acc.response(
        completion_id=new_completion_id(),
        created=int(time.time()),
        model=request.model,
        finish_reason=finish_reason,
        usage=limiter.usage(reply.usage) if limiter is not None else reply.usage,
        reasoning=reasoning,
    )
    await send_json(send, 200, body, _info_headers(request))


async def _stream(
    reply: Reply, request: ChatRequest, reasoning: ReasoningMode, send: Send, receive: Receive
) -> None:
    encoder = ChunkEncoder(
        completion_id=new_completion_id(),
        created=int(time.time()),
        model=request.model,
        reasoning=reasoning,
        include_usage=request.include_usage,
    )
    limiter = limiter_for(request.max_tokens, request.stop)
    # only search replies pay for collecting text: citations need the whole content's offsets
    cited = CompletionAccumulator() if reply.model.search or request.web_search else None
    # The pump runs in this task and only the disconnect watch gets one of its own: a task
    # and an asyncio.wait less per open stream (memory and scheduling on the hot path).
    # uvicorn's send ignores a gone client, so the watch is what stops the upstream read.
    task = asyncio.current_task()
    assert task is not None
    watch = _DisconnectWatch(task)
    watcher = asyncio.ensure_future(_wait_disconnect(receive))
    watcher.add_done_callback(watch.fired)
    try:
        await _pump(reply, encoder, send, limiter, cited)
    except asyncio.CancelledError:
        if not watch.gone:
            raise
        # the client went away: the upstream read was cancelled, record nothing
        task.uncancel()
        await reply.aclose()
    finally:
        watch.armed = False
        watcher.remove_done_callback(watch.fired)
        watcher.cancel()


class _DisconnectWatch:
    """Cancels the streaming task once the client disconnects, only while it is pumping."""

    __slots__ = ("_task", "armed", "gone")

    def __init__(self, task: asyncio.Task[object]) -> None:
        self._task = task
        self.armed = True
        self.gone = False

    def fired(self, watcher: asyncio.Future[None]) -> None:
        if self.armed and not watcher.cancelled() and watcher.exception() is None:
            self.gone = True
            self._task.cancel()


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _pump(
    reply: Reply,
    encoder: ChunkEncoder,
    send: Send,
    limiter: ReplyLimiter | None,
    cited: CompletionAccumulator | None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*SSE_HEADERS, *_info_headers(reply.request)],
        }
    )
    await send({"type": "http.response.body", "body": encoder.role(), "more_body": True})
    content = encoder.content
    reasoning = encoder.reasoning
    finish_reason = "stop"
    batches = reply.batches()
    try:
        async for batch in batches:
            if limiter is not None:
                batch = limiter.filter(batch, reply.usage)
            if cited is not None:
                for event in batch:
                    cited.add(event)
            parts: list[bytes] = []
            for event in batch:
                kind = type(event)
                if kind is AnswerDelta:
                    parts.append(content(event.text))  # type: ignore[union-attr]
                elif kind is ReasoningDelta:
                    parts.append(reasoning(event.text))  # type: ignore[union-attr]
            if parts:
                await send(
                    {"type": "http.response.body", "body": b"".join(parts), "more_body": True}
                )
                parts.clear()  # sent: a stream waiting for its next event holds no old chunks
            if limiter is not None and limiter.finish_reason is not None:
                finish_reason = limiter.finish_reason
                await batches.aclose()  # closes the upstream response: generation is cancelled
                break
    except ContentFiltered:
        finish_reason = "content_filter"
        if limiter is not None:
            held = limiter.flush()
            if cited is not None:
                cited.add(AnswerDelta(held))
            await send({"type": "http.response.body", "body": content(held), "more_body": True})
    except GatewayError as error:
        log.warning("reply failed mid-stream: %s (%s)", error.code, error.message)
        await send({"type": "http.response.body", "body": encoder.error(error), "more_body": False})
        return
    usage = limiter.usage(reply.usage) if limiter is not None else reply.usage
    annotations = None
    if cited is not None and cited.search_results:
        annotations = cited.annotations(encoder.reasoning_mode)
    tail = encoder.finish(finish_reason, usage, annotations)
    await send({"type": "http.response.body", "body": tail, "more_body": False})
