"""Reading a request over raw ASGI: its headers and its body, within the gateway's size limit."""

from __future__ import annotations

from typing import Any

import orjson

from qwen_proxy.api.http import Receive, Scope
from qwen_proxy.errors import GatewayError, InvalidRequest, PayloadTooLarge, UnsupportedMediaType

#: OpenAI's words for a body that is not JSON (the Anthropic face has its own)
OPENAI_INVALID_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The API expects a JSON payload, but what was sent was "
    "not valid JSON.)"
)


def header(scope: Scope, name: bytes) -> str | None:
    """The value of the request header ``name`` (lower case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def check_json_content_type(content_type: str | None) -> None:
    """Refuse a body that is not JSON (415); a missing or empty header is read as JSON, as
    OpenAI and Anthropic do, and parameters (charset) do not matter."""
    if not content_type:
        return
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return
    raise UnsupportedMediaType(
        f"Unsupported Content-Type '{media_type}': send the body as JSON "
        "with 'Content-Type: application/json'."
    )


def json_body(
    body: bytes,
    *,
    content_type: str | None,
    max_body_bytes: int,
    invalid_json: str = OPENAI_INVALID_JSON,
) -> Any:
    """A request body as JSON: within the size limit (413), declared JSON (415) and readable
    (400 ``invalid_json``, said in the face's words). Its shape is the face's to check."""
    if len(body) > max_body_bytes:
        raise PayloadTooLarge(
            f"Request body is {len(body)} bytes, over the limit of {max_body_bytes} bytes."
        )
    check_json_content_type(content_type)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequest(invalid_json, code="invalid_json") from None


def drop_headers(scope: Scope) -> None:
    """Empty the request's header list once read: uvicorn would keep it as long as the reply."""
    headers = scope["headers"]
    # uvicorn's protocol holds the same list for the connection's current request (~1 KB of
    # tuples), so emptying it, not rebinding the key, is what frees them for an open stream
    if isinstance(headers, list):
        headers.clear()


async def read_body(receive: Receive, scope: Scope, limit: int) -> bytes:
    """The whole request body; PayloadTooLarge over ``limit`` bytes, ClientGone on hang-up."""
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body is over the gateway's limit of {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body is over the gateway's limit of {limit} bytes.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class _ClientGone(GatewayError):
    status = 499
    code = "client_closed_request"


ClientGone = _ClientGone("The client closed the connection before sending its request.")
