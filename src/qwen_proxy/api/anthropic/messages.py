"""``POST /v1/messages`` and ``/v1/messages/count_tokens``: the ASGI handlers of the Anthropic
face, thin around the pure modules beside them.

A stream waits up to one ping interval for the reply's first content before it answers, so an
upstream failure in that time is a real HTTP status the SDKs and Claude Code retry (429, 529).
An upstream slower than that (a long first token) gets the stream started anyway, and ``ping``
events keep it alive, then and whenever the upstream is quiet; a failure after the start is an
``error`` event. ``stop_sequences`` and ``max_tokens`` are enforced here through ``limits``.
"""

from __future__ import annotations

import asyncio
import logging

from qwen_proxy.api.anthropic.errors import (
    error_event,
    send_anthropic_error,
    send_anthropic_internal_error,
)
from qwen_proxy.api.anthropic.events import (
    PING,
    MessageBuilder,
    MessageStream,
    anthropic_usage,
    message_object,
    new_message_id,
    stop_reason,
)
from qwen_proxy.api.anthropic.models import ModelMap
from qwen_proxy.api.anthropic.request import AnthropicRequest
from qwen_proxy.api.anthropic.tokens import estimate_input_tokens
from qwen_proxy.api.anthropic.validation import parse_messages_request
from qwen_proxy.api.http import Receive, Scope, Send, send_json
from qwen_proxy.api.requests import drop_headers, header, read_body
from qwen_proxy.api.streaming import (
    SSE_HEADERS,
    ClientWatch,
    KeepAlive,
    read_whole,
    relay,
    reported_usage,
)
from qwen_proxy.errors import GatewayError
from qwen_proxy.service.completion import CompletionService
from qwen_proxy.service.limits import ReplyLimiter, limiter_for
from qwen_proxy.service.reply import Reply

log = logging.getLogger("qwen_proxy.api")

#: Claude Code names its session; noted in the log (account affinity may use it later)
SESSION_HEADER = b"x-claude-code-session-id"


def _info_headers(request: AnthropicRequest) -> list[tuple[bytes, bytes]]:
    if not request.ignored_params:
        return []
    return [(b"x-qwen-proxy-ignored-params", ",".join(request.ignored_params).encode())]


async def _read_request(
    scope: Scope, receive: Receive, max_body_bytes: int, *, counting: bool = False
) -> AnthropicRequest:
    body = await read_body(receive, scope, max_body_bytes)
    return parse_messages_request(
        body,
        content_type=header(scope, b"content-type"),
        max_body_bytes=max_body_bytes,
        counting=counting,
    )


async def create_message(
    service: CompletionService,
    models: ModelMap,
    tenant: str,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    """Answer one Messages request (errors before the first byte become responses)."""
    try:
        request = await _read_request(scope, receive, service.settings.max_body_bytes)
        session = header(scope, SESSION_HEADER)
        if session:
            log.debug("Claude Code session %s", session)
        drop_headers(scope)
        completion = request.completion(models.resolve(request.model))
        if not request.stream:
            await _whole(await service.open(completion, tenant), request, send)
            return
    except GatewayError as error:
        await send_anthropic_error(send, error)
        return
    except Exception:
        log.exception("unhandled error on %s %s", scope["method"], scope["path"])
        await send_anthropic_internal_error(send)
        return
    opening = asyncio.ensure_future(service.open(completion, tenant))
    del completion
    await _stream(opening, request, service.settings.ping_interval, receive, send)


async def _whole(reply: Reply, request: AnthropicRequest, send: Send) -> None:
    builder = MessageBuilder(show_thinking=request.show_thinking)
    limiter = limiter_for(request.max_tokens, request.stop_sequences)
    finish = await read_whole(reply, limiter, builder.add)
    stop_sequence = _stop_sequence(limiter, finish)
    usage = reported_usage(reply, limiter)
    body = message_object(
        new_message_id(),
        request.model,
        builder.content(),
        stop_reason(finish, stop_sequence, reply.made_calls),
        stop_sequence,
        anthropic_usage(usage, estimate_input_tokens(request) if usage is None else 0),
    )
    await send_json(send, 200, body, _info_headers(request))


def _stop_sequence(limiter: ReplyLimiter | None, finish: str) -> str | None:
    return limiter.stop_sequence if limiter is not None and finish == "stop" else None


async def _stream(
    opening: asyncio.Future[Reply],
    request: AnthropicRequest,
    interval: float,
    receive: Receive,
    send: Send,
) -> None:
    """Stream the reply ``opening`` is getting; see the module docstring for the timing."""
    try:
        await asyncio.wait((opening,), timeout=interval)
    except asyncio.CancelledError:
        opening.cancel()
        raise
    reply: Reply | None = None
    if opening.done():
        try:
            reply = opening.result()
        except GatewayError as error:
            await send_anthropic_error(send, error)
            return
        except Exception:
            log.exception("unhandled error opening a message stream")
            await send_anthropic_internal_error(send)
            return
    # what the stream needs of the request, so an open stream does not keep its history
    model, limiter = request.model, limiter_for(request.max_tokens, request.stop_sequences)
    encoder = MessageStream(show_thinking=request.show_thinking)
    known = reply is not None and reply.usage is not None
    estimate = 0 if known else estimate_input_tokens(request)
    headers = [*SSE_HEADERS, *_info_headers(request)]
    del request
    keep_alive: KeepAlive | None = None
    async with ClientWatch(receive):
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            usage = anthropic_usage(reply.usage if reply is not None else None, estimate)
            start = encoder.start(new_message_id(), model, {**usage, "output_tokens": 0})
            await send({"type": "http.response.body", "body": start, "more_body": True})
            keep_alive = KeepAlive(send, PING, interval)
            try:
                if reply is None:
                    reply = await opening
                finish = await relay(reply, limiter, encoder.events, send, keep_alive)
            except GatewayError as error:
                log.warning("message stream failed: %s (%s)", error.code, error.message)
                keep_alive.stop()
                await send(
                    {"type": "http.response.body", "body": error_event(error), "more_body": False}
                )
                return
            keep_alive.stop()
            stop_sequence = _stop_sequence(limiter, finish)
            usage = anthropic_usage(reported_usage(reply, limiter), estimate)
            stop = stop_reason(finish, stop_sequence, reply.made_calls)
            tail = encoder.finish(stop, stop_sequence, usage)
            await send({"type": "http.response.body", "body": tail, "more_body": False})
        except Exception:  # the response has started: the client sees it cut, the log says why
            log.exception("unhandled error in a message stream")
        finally:
            if keep_alive is not None:
                keep_alive.stop()
            if reply is not None:
                await reply.aclose()
            elif not opening.done():
                opening.cancel()


async def count_tokens(
    service: CompletionService,
    models: ModelMap,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    """Answer ``count_tokens`` with an estimate (``tokens`` says how it is made)."""
    try:
        request = await _read_request(
            scope, receive, service.settings.max_body_bytes, counting=True
        )
        # an unknown model is a 404 here as on /v1/messages
        await service.catalog.resolve(models.resolve(request.model))
        await send_json(send, 200, {"input_tokens": estimate_input_tokens(request)})
    except GatewayError as error:
        await send_anthropic_error(send, error)
    except Exception:
        log.exception("unhandled error on %s %s", scope["method"], scope["path"])
        await send_anthropic_internal_error(send)
