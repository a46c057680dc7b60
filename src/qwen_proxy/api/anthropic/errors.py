"""Gateway errors in Anthropic's shape: ``{"type":"error","error":{"type","message"}}``.

Statuses follow what Anthropic clients act on (the SDKs and Claude Code retry 408, 409, 429 and
5xx, and treat 529 as "overloaded, back off"):

| gateway error | status | Anthropic type |
|---|---|---|
| 400 invalid request (the message names the field), content filter | 400 | invalid_request_error |
| 401 missing or wrong client key | 401 | authentication_error |
| 403 | 403 | permission_error |
| 404 unknown model or route | 404 | not_found_error |
| 413 body too large | 413 | request_too_large |
| other 4xx (405, 409, 415) | same | invalid_request_error |
| 429 rate limited, quota (with retry-after) | 429 | rate_limit_error |
| 503 can't serve now (Qwen crowded, captcha, no usable account) | 529 | overloaded_error |
| 504 upstream timeout | 504 | timeout_error |
| other 5xx (502 upstream errors, 500) | same | api_error |
"""

from __future__ import annotations

from typing import Any

import orjson

from qwen_proxy.api.http import Send, error_headers, send_json
from qwen_proxy.errors import GatewayError

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
}
#: Anthropic's "temporarily overloaded" status
OVERLOADED = 529


def anthropic_status(error: GatewayError) -> tuple[int, str]:
    """The HTTP status and Anthropic error type for a gateway error."""
    status = error.status
    if status == 503:
        return OVERLOADED, "overloaded_error"
    kind = _TYPES.get(status)
    if kind is not None:
        return status, kind
    return status, "invalid_request_error" if status < 500 else "api_error"


def anthropic_error(error: GatewayError) -> dict[str, Any]:
    """The error body for ``error``."""
    return {
        "type": "error",
        "error": {"type": anthropic_status(error)[1], "message": error.message},
    }


async def send_anthropic_error(send: Send, error: GatewayError) -> None:
    """Send an error response in Anthropic's shape, with the retry hints of every face."""
    status, _ = anthropic_status(error)
    await send_json(send, status, anthropic_error(error), error_headers(error))


async def send_anthropic_internal_error(send: Send) -> None:
    """The answer to a failure the gateway did not expect (its log has the traceback)."""
    await send_anthropic_error(
        send, GatewayError("The gateway hit an internal error; see its log.")
    )


def error_event(error: GatewayError) -> bytes:
    """The ``error`` event that ends a stream which had already started."""
    return b"event: error\ndata: " + orjson.dumps(anthropic_error(error)) + b"\n\n"
