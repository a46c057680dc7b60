"""``POST /v1/chat/completions``: the reply as one completion or as an SSE stream.

The stream is a raw ASGI send loop (measured lighter than a framework response per open
stream): each upstream batch is mapped and written once, with no per-chunk logging.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Literal

from qwen_proxy.api.responses import Receive, Send, send_error, send_json
from qwen_proxy.completions import CompletionService, Reply
from qwen_proxy.errors import GatewayError
from qwen_proxy.messages import ChatRequest
from qwen_proxy.qwen.errors import ContentFiltered
from qwen_proxy.qwen.events import AnswerDelta, ReasoningDelta, SearchResults
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
    finish_reason = "stop"
    try:
        async for batch in reply.batches():
            for event in batch:
                acc.add(event)
    except ContentFiltered:
        finish_reason = "content_filter"
    body = acc.response(
        completion_id=new_completion_id(),
        created=int(time.time()),
        model=request.model,
        finish_reason=finish_reason,
        usage=reply.usage,
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
    pump = asyncio.ensure_future(_pump(reply, encoder, send))
    watcher = asyncio.ensure_future(_wait_disconnect(receive))
    try:
        done, _ = await asyncio.wait({pump, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if pump not in done:
            # the client went away: stop reading upstream, record nothing
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
            await reply.aclose()
        else:
            pump.result()
    finally:
        watcher.cancel()


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _pump(reply: Reply, encoder: ChunkEncoder, send: Send) -> None:
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
    try:
        async for batch in reply.batches():
            parts: list[bytes] = []
            for event in batch:
                kind = type(event)
                if kind is AnswerDelta:
                    parts.append(content(event.text))  # type: ignore[union-attr]
                elif kind is ReasoningDelta:
                    parts.append(reasoning(event.text))  # type: ignore[union-attr]
                elif kind is SearchResults:
                    pass  # sources are attached to non-streamed replies (annotations)
            if parts:
                await send(
                    {"type": "http.response.body", "body": b"".join(parts), "more_body": True}
                )
    except ContentFiltered:
        finish_reason = "content_filter"
    except GatewayError as error:
        log.warning("reply failed mid-stream: %s (%s)", error.code, error.message)
        await send({"type": "http.response.body", "body": encoder.error(error), "more_body": False})
        return
    await send(
        {
            "type": "http.response.body",
            "body": encoder.finish(finish_reason, reply.usage),
            "more_body": False,
        }
    )


async def send_early_error(send: Send, error: GatewayError) -> None:
    """An error before the stream started: a normal OpenAI error response."""
    await send_error(send, error)
