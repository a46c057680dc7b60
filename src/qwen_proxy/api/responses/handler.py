"""``POST /v1/responses``: the reply as one response object or as a stream of Responses events.

``previous_response_id`` is resolved before anything else: the stored records of its chain
are the conversation so far, ``instructions`` (never carried over, as OpenAI does) go first,
and this turn's input after them; the result goes through the same canonical form as a client
that resends everything. A reply that ends (completed or incomplete) is stored under its
response id unless ``store`` is false, before the client hears of its end, so an immediate
follow-up finds it. ``max_output_tokens`` is enforced here through ``limits``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from qwen_proxy.api.http import Receive, Scope, Send, send_error, send_internal_error, send_json
from qwen_proxy.api.requests import drop_headers, header, read_body
from qwen_proxy.api.responses.events import (
    OutputBuilder,
    ResponseStream,
    finished,
    new_response_id,
)
from qwen_proxy.api.responses.request import ResponsesRequest, response_base
from qwen_proxy.api.responses.validation import check_supported, parse_responses_request
from qwen_proxy.api.streaming import SSE_HEADERS, ClientWatch, read_whole, relay, reported_usage
from qwen_proxy.conversations.responses import ResponseRecord, ResponseStore, load_history
from qwen_proxy.errors import GatewayError, InvalidRequest
from qwen_proxy.messages import ChatMessage, ToolCall
from qwen_proxy.service.completion import CompletionService
from qwen_proxy.service.events import ToolCallEvent
from qwen_proxy.service.limits import limiter_for

log = logging.getLogger("qwen_proxy.api")


class _Keeper:
    """Stores the finished response's record (its turn and answer) for later continuations."""

    __slots__ = ("chain", "messages", "records", "response_id", "tenant")

    def __init__(
        self,
        records: ResponseStore,
        tenant: str,
        response_id: str,
        chain: tuple[str, ...],
        messages: tuple[ChatMessage, ...],
    ) -> None:
        self.records = records
        self.tenant = tenant
        self.response_id = response_id
        self.chain = chain
        self.messages = messages

    async def keep(self, answer: str, calls: Sequence[ToolCallEvent] = ()) -> None:
        """Store the record; a store fault is logged (the answer itself is fine)."""
        made = tuple(ToolCall(c.id, c.name, c.arguments) for c in calls)
        reply = ChatMessage(role="assistant", text=answer, tool_calls=made)
        record = ResponseRecord(
            id=self.response_id,
            tenant=self.tenant,
            chain=self.chain,
            messages=(*self.messages, reply),
            last_used_at=time.time(),
        )
        try:
            await self.records.put_response(record)
        except Exception:
            log.exception("could not store response %s", self.response_id)


def _info_headers(request: ResponsesRequest) -> list[tuple[bytes, bytes]]:
    if not request.ignored_params:
        return []
    return [(b"x-qwen-proxy-ignored-params", ",".join(request.ignored_params).encode())]


async def _history(
    records: ResponseStore, tenant: str, request: ResponsesRequest
) -> tuple[tuple[str, ...], tuple[ChatMessage, ...]]:
    """The chain and the messages of the response ``previous_response_id`` names."""
    previous = request.previous_response_id
    if previous is None:
        return (), ()
    stored = await load_history(records, tenant, previous, time.time())
    if stored is None:
        raise InvalidRequest(
            f"Previous response with id '{previous}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return stored.chain, stored.messages


async def create_response(
    service: CompletionService,
    records: ResponseStore,
    tenant: str,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    """Answer one Responses request (errors before the first byte become responses)."""
    try:
        max_body = service.settings.max_body_bytes
        body = await read_body(receive, scope, max_body)
        request = parse_responses_request(
            body, content_type=header(scope, b"content-type"), max_body_bytes=max_body
        )
        del body
        drop_headers(scope)
        check_supported(request)
        chain, history = await _history(records, tenant, request)
        base = response_base(request, new_response_id(), int(time.time()))
        keeper = (
            _Keeper(records, tenant, base["id"], chain, request.input) if request.store else None
        )
        limiter = limiter_for(request.max_output_tokens, ())
        headers = _info_headers(request)
        reply = await service.open(request.completion(history), tenant)
        del history
        tools = request.tooling
        if not request.stream:
            builder = OutputBuilder(tools)
            finish = await read_whole(reply, limiter, builder.add)
            if keeper is not None:
                await keeper.keep(builder.answer, builder.calls)
            output = builder.output(finish)
            whole = finished(base, output, finish, reported_usage(reply, limiter))
            await send_json(send, 200, whole, headers)
            return
    except GatewayError as error:
        await send_error(send, error)
        return
    except Exception:
        log.exception("unhandled error on %s %s", scope["method"], scope["path"])
        await send_internal_error(send)
        return
    del request
    encoder = ResponseStream(base, tools)
    async with ClientWatch(receive):
        try:
            await send(
                {"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *headers]}
            )
            await send({"type": "http.response.body", "body": encoder.start(), "more_body": True})
            try:
                finish = await relay(reply, limiter, encoder.events, send)
            except GatewayError as error:
                log.warning("response stream failed: %s (%s)", error.code, error.message)
                failed = encoder.failed(error, reply.usage)
                await send({"type": "http.response.body", "body": failed, "more_body": False})
                return
            if keeper is not None:
                await keeper.keep(encoder.answer, encoder.calls)
            tail = encoder.finish(finish, reported_usage(reply, limiter))
            await send({"type": "http.response.body", "body": tail, "more_body": False})
        except Exception:  # the response has started: the client sees it cut, the log says why
            log.exception("unhandled error in a response stream")
        finally:
            await reply.aclose()
