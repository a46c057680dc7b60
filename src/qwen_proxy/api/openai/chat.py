"""``POST /v1/chat/completions``: the reply as one completion or as an SSE stream.

The stream is a raw ASGI send loop (measured lighter than a framework response per open
stream): each upstream batch is mapped and written once, with no per-chunk logging.
``stop`` and ``max_tokens`` are enforced here through ``service.limits`` (the upstream ignores
them): a reply cut by a limit finishes with ``stop``/``length`` and its upstream response is
closed.
"""

from __future__ import annotations

import asyncio
import logging
import time

from qwen_proxy.api.http import (
    Receive,
    Scope,
    Send,
    send_error,
    send_internal_error,
    send_json,
)
from qwen_proxy.api.openai.chunks import (
    ChunkEncoder,
    CompletionAccumulator,
    LegacyChunkEncoder,
    new_completion_id,
)
from qwen_proxy.api.openai.request import OpenAIChatRequest
from qwen_proxy.api.openai.validation import check_supported, parse_chat_request
from qwen_proxy.api.requests import drop_headers, header, read_body
from qwen_proxy.api.streaming import (
    SSE_HEADERS,
    cancel_on_disconnect,
    client_left,
    read_whole,
    reported_usage,
)
from qwen_proxy.config import ReasoningOutput
from qwen_proxy.errors import GatewayError
from qwen_proxy.qwen.errors import ContentFiltered
from qwen_proxy.qwen.events import AnswerDelta, ReasoningDelta
from qwen_proxy.service.completion import CompletionService
from qwen_proxy.service.events import ReplyEvent, ToolCallEvent
from qwen_proxy.service.limits import ReplyLimiter, limiter_for
from qwen_proxy.service.reply import Reply

log = logging.getLogger("qwen_proxy.api")


def _info_headers(request: OpenAIChatRequest) -> tuple[tuple[bytes, bytes], ...]:
    if not request.ignored_params:
        return ()
    return ((b"x-qwen-proxy-ignored-params", ",".join(request.ignored_params).encode()),)


#: what an open stream needs of its request: reply, encoder, limiter, citations, info headers
_Opened = tuple[
    Reply,
    ChunkEncoder,
    ReplyLimiter | None,
    CompletionAccumulator | None,
    tuple[tuple[bytes, bytes], ...],
    "asyncio.Future[None]",
]


async def complete(
    service: CompletionService, tenant: str, scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer one chat completion request (errors before the first byte become responses).

    This frame is the stream's pump, so an open stream's stack is it and the reply's read:
    ``_open`` reads the request and opens the reply, and hands back only what the pump needs.
    """
    # the live numbers (admin page): counted here and at the end; the stream keeps nothing
    opened = await _open(service, tenant, scope, receive, send, service.live.start())
    if opened is None:
        service.live.finish()
        return  # answered already: an error, or a whole (not streamed) completion
    reply, encoder, limiter, cited, info, watcher = opened
    del opened
    # The pump runs in this task, and only the disconnect watch gets a task of its own: a
    # task and an asyncio.wait less per open stream (memory and scheduling on the hot path).
    # the server's send ignores a gone client, so the watch is what stops the upstream read.
    task = asyncio.current_task()
    assert task is not None
    try:
        await send({"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *info]})
        await send({"type": "http.response.body", "body": encoder.role(), "more_body": True})
        finish_reason = "stop"
        try:
            while (batch := await reply.next_batch()) is not None:
                if limiter is not None:
                    batch = limiter.filter(batch, reply.usage)
                if cited is not None:
                    for event in batch:
                        cited.add(event)
                chunks = _encode(encoder, batch)
                del batch  # a stream waiting for its next event holds no old events or chunks
                if chunks:
                    await send({"type": "http.response.body", "body": chunks, "more_body": True})
                del chunks
                if limiter is not None and limiter.finish_reason is not None:
                    finish_reason = limiter.finish_reason
                    await reply.aclose()  # closes the upstream response: generation is cancelled
                    break
        except ContentFiltered:
            finish_reason = "content_filter"
            if limiter is not None:
                held = limiter.flush()
                if cited is not None:
                    cited.add(AnswerDelta(held))
                await send(
                    {"type": "http.response.body", "body": encoder.content(held), "more_body": True}
                )
        except GatewayError as error:
            service.live.failed(error.code)
            log.warning("reply failed mid-stream: %s (%s)", error.code, error.message)
            body = encoder.error(error)
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        if finish_reason == "stop" and reply.made_calls:
            finish_reason = encoder.calls_finish_reason
        tail = _tail(encoder, reply, limiter, cited, finish_reason)
        await send({"type": "http.response.body", "body": tail, "more_body": False})
    except asyncio.CancelledError:
        if not client_left(watcher):
            raise
        # the client went away: the upstream read was cancelled, record nothing
        task.uncancel()
    except Exception:  # the response has started: the client sees it cut, the log says why
        service.live.failed(None)
        log.exception("unhandled error on %s %s", scope["method"], scope["path"])
    finally:
        # cancelled before it can run again: once the reply is sent, uvicorn's receive()
        # answers "http.disconnect" too, and that must not cancel this task
        watcher.cancel()
        service.live.finish()
        await reply.aclose()


async def _open(
    service: CompletionService,
    tenant: str,
    scope: Scope,
    receive: Receive,
    send: Send,
    started: float,
) -> _Opened | None:
    """Read the request and open its reply; None once answered (an error, a whole reply, a
    client gone). The disconnect watch starts once the request is read and is handed to the
    pump: a client that leaves while its request waits for an account, or for the first
    token, or for a whole reply, cancels it, and no upstream call is made for it. The live
    numbers learn when the first content came (``started``: the request's arrival) and what
    failed."""
    settings = service.settings
    task = asyncio.current_task()
    assert task is not None
    watcher: asyncio.Future[None] | None = None
    try:
        request = await _read_request(scope, receive, settings.max_body_bytes)
        drop_headers(scope)
        watcher = asyncio.ensure_future(cancel_on_disconnect(receive, task))
        reply = await service.open(request.completion(), tenant)
        service.live.first_token(started)
        reasoning = settings.reasoning_output
        if not request.stream:
            await _whole(reply, request, reasoning, send)
            return None
        encoder_class = LegacyChunkEncoder if request.legacy_functions else ChunkEncoder
        encoder = encoder_class(
            completion_id=new_completion_id(),
            created=int(time.time()),
            model=request.model,
            reasoning=reasoning,
            include_usage=request.include_usage,
        )
        limiter = limiter_for(request.max_tokens, request.stop)
        # only search replies pay for collecting text: citations need the whole content's offsets
        cited = CompletionAccumulator() if reply.model.search or request.web_search else None
        opened = reply, encoder, limiter, cited, _info_headers(request), watcher
        watcher = None  # the pump's now
        return opened
    except asyncio.CancelledError:
        if watcher is None or not client_left(watcher):
            raise
        task.uncancel()  # the client went away: whatever was under way was cancelled
    except GatewayError as error:
        service.live.failed(error.code)
        await send_error(send, error)
    except Exception:
        service.live.failed(None)
        log.exception("unhandled error on %s %s", scope["method"], scope["path"])
        await send_internal_error(send)
    finally:
        if watcher is not None:
            watcher.cancel()
    return None


async def _read_request(scope: Scope, receive: Receive, max_body_bytes: int) -> OpenAIChatRequest:
    body = await read_body(receive, scope, max_body_bytes)
    request = parse_chat_request(
        body, content_type=header(scope, b"content-type"), max_body_bytes=max_body_bytes
    )
    check_supported(request)
    return request


async def _whole(
    reply: Reply, request: OpenAIChatRequest, reasoning: ReasoningOutput, send: Send
) -> None:
    acc = CompletionAccumulator()
    limiter = limiter_for(request.max_tokens, request.stop)
    finish_reason = await read_whole(reply, limiter, acc.add)
    if finish_reason == "stop" and acc.calls:
        finish_reason = "function_call" if request.legacy_functions else "tool_calls"
    body = acc.response(
        completion_id=new_completion_id(),
        created=int(time.time()),
        model=request.model,
        finish_reason=finish_reason,
        usage=reported_usage(reply, limiter),
        reasoning=reasoning,
        legacy_functions=request.legacy_functions,
    )
    await send_json(send, 200, body, _info_headers(request))


def _encode(encoder: ChunkEncoder, batch: list[ReplyEvent]) -> bytes:
    """The SSE chunks for a batch's text and tool calls (b"" when it has none)."""
    parts: list[bytes] = []
    for event in batch:
        kind = type(event)
        if kind is AnswerDelta:
            parts.append(encoder.content(event.text))  # type: ignore[union-attr]
        elif kind is ReasoningDelta:
            parts.append(encoder.reasoning(event.text))  # type: ignore[union-attr]
        elif kind is ToolCallEvent:
            parts.append(encoder.tool_call(event))  # type: ignore[arg-type]
    return b"".join(parts)


def _tail(
    encoder: ChunkEncoder,
    reply: Reply,
    limiter: ReplyLimiter | None,
    cited: CompletionAccumulator | None,
    finish_reason: str,
) -> bytes:
    """The last chunks: finish reason, usage (when asked), citations, ``[DONE]``."""
    usage = limiter.usage(reply.usage) if limiter is not None else reply.usage
    annotations = None
    if cited is not None and cited.search_results:
        annotations = cited.annotations(encoder.reasoning_mode)
    return encoder.finish(finish_reason, usage, annotations)
