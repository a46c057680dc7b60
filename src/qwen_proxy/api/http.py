"""Sending responses over raw ASGI: the ASGI types, JSON bodies and OpenAI-shaped errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import orjson

from qwen_proxy.errors import GatewayError

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]
Scope = MutableMapping[str, Any]
Headers = list[tuple[bytes, bytes]]

JSON_HEADERS: Sequence[tuple[bytes, bytes]] = ((b"content-type", b"application/json"),)


async def send_json(
    send: Send, status: int, payload: Any, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Send a complete JSON response."""
    body = orjson.dumps(payload)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*JSON_HEADERS, (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


def error_headers(error: GatewayError) -> Headers:
    """Retry-After and x-should-retry, as the OpenAI SDKs read them."""
    headers: Headers = []
    if error.retry_after is not None:
        seconds = max(1, int(error.retry_after + 0.999))
        headers.append((b"retry-after", str(seconds).encode()))
        headers.append((b"retry-after-ms", str(int(error.retry_after * 1000)).encode()))
        if seconds > 60:
            # the SDKs wait at most 60 s: a longer wait is the operator's, not a retry's
            headers.append((b"x-should-retry", b"false"))
    if error.should_retry is False and not any(k == b"x-should-retry" for k, _ in headers):
        headers.append((b"x-should-retry", b"false"))
    return headers


async def send_error(
    send: Send, error: GatewayError, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Send an error as OpenAI's error object with its status and retry hints."""
    await send_json(
        send, error.status, {"error": error.to_dict()}, [*error_headers(error), *headers]
    )


async def send_internal_error(send: Send) -> None:
    """The answer to a failure the gateway did not expect (its log has the traceback)."""
    await send_error(send, GatewayError("The gateway hit an internal error; see its log."))
