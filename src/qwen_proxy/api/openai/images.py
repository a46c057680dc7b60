"""``POST /v1/images/generations`` and ``/v1/images/edits``: OpenAI's image API over Qwen's.

Generations take JSON; edits take the multipart form the SDKs send (``image``, ``prompt``...),
or JSON with the image as a ``data:`` URL. ``size`` (``WIDTHxHEIGHT``) becomes the nearest of
the upstream's ratios; ``n`` is at most 4; ``response_format`` is ``url`` (the upstream's URL,
``key`` query kept) or ``b64_json`` (the gateway downloads the image). Parameters the upstream
has no knob for (``quality``, ``style``, ``background``...) are accepted and ignored.
"""

from __future__ import annotations

import time
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import orjson

from qwen_proxy.api.fields import invalid_value, kind_of, missing, type_error
from qwen_proxy.api.http import Receive, Scope, Send, send_json
from qwen_proxy.api.requests import header, read_body
from qwen_proxy.errors import InvalidRequest
from qwen_proxy.qwen.images import DEFAULT_RATIO, RATIOS, nearest_ratio
from qwen_proxy.service.images import ImageJob, ImageService, MadeImage
from qwen_proxy.uploads.media import MAX_IMAGE_BYTES, decode_data_url, image_media

GENERATIONS = frozenset(("/v1/images/generations", "/images/generations"))
EDITS = frozenset(("/v1/images/edits", "/images/edits"))
IMAGE_PATHS = GENERATIONS | EDITS
MAX_N = 4
MAX_PROMPT = 32_000
RESPONSE_FORMATS = ("url", "b64_json")


async def images(
    service: ImageService, path: str, scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer one image request (errors are raised for the router to render)."""
    body = await read_body(receive, scope, service.settings.max_body_bytes)
    content_type = header(scope, b"content-type") or ""
    fields = (
        form_fields(body, content_type)
        if content_type.lower().startswith("multipart/")
        else json_fields(body)
    )
    job = image_job(fields, edit=path in EDITS)
    made = await service.make(job)
    await send_json(send, 200, answer(made, download=job.download))


def json_fields(body: bytes) -> dict[str, Any]:
    """A JSON body's fields."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "We could not parse the JSON body of your request.", code="invalid_json"
        ) from None
    if not isinstance(data, dict):
        raise InvalidRequest(
            f"Invalid type for request body: expected an object, but got {kind_of(data)} instead.",
            code="invalid_type",
        )
    return data


def form_fields(body: bytes, content_type: str) -> dict[str, Any]:
    """A multipart form's fields: text as strings, files as bytes (``image[]`` as ``image``)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise InvalidRequest("The multipart form could not be read.", code="invalid_form")
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        name = name.removesuffix("[]")
        raw = part.get_payload(decode=True)
        data = raw if isinstance(raw, bytes) else b""
        if part.get_filename() is not None:
            if name in fields:
                raise InvalidRequest(
                    f"Only one '{name}' can be edited at a time.", param=name, code="invalid_value"
                )
            fields[name] = data
        else:
            fields[name] = data.decode("utf-8", "replace")
    return fields


def image_job(fields: dict[str, Any], *, edit: bool) -> ImageJob:
    """The face-neutral job the fields ask for (400s name the field)."""
    prompt = fields.get("prompt")
    if prompt is None:
        raise missing("prompt")
    if not isinstance(prompt, str):
        raise type_error("prompt", "a string", prompt)
    if not prompt.strip():
        raise InvalidRequest("'prompt' is empty.", param="prompt", code="empty_string")
    if len(prompt) > MAX_PROMPT:
        raise InvalidRequest(
            f"'prompt' is longer than {MAX_PROMPT} characters.",
            param="prompt",
            code="invalid_value",
        )
    model = fields.get("model")
    if model is not None and not isinstance(model, str):
        raise type_error("model", "a string", model)
    response_format = fields.get("response_format") or "url"
    if response_format not in RESPONSE_FORMATS:
        raise invalid_value("response_format", str(response_format), RESPONSE_FORMATS)
    return ImageJob(
        prompt=prompt,
        model=model or None,
        n=count(fields.get("n")),
        ratio=ratio(fields.get("size")),
        source=source_image(fields.get("image")) if edit else None,
        download=response_format == "b64_json",
    )


def count(value: Any) -> int:
    """``n``: 1 to 4 (a form sends it as text)."""
    if value is None:
        return 1
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise type_error("n", "an integer", value)
    if not 1 <= value <= MAX_N:
        raise InvalidRequest(
            f"Invalid 'n': {value}. The upstream makes 1 to {MAX_N} images per request.",
            param="n",
            code="invalid_value",
        )
    return value


def ratio(value: Any) -> str:
    """The upstream ratio for ``size``: ``WIDTHxHEIGHT`` to the nearest, a ratio as it is."""
    if value is None or value == "auto":
        return DEFAULT_RATIO
    if not isinstance(value, str):
        raise type_error("size", "a string", value)
    if value in RATIOS:
        return value
    width, x, height = value.lower().partition("x")
    if x and width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0:
        return nearest_ratio(int(width), int(height))
    raise InvalidRequest(
        f"Invalid 'size': {value!r}. Send WIDTHxHEIGHT (such as 1024x1024), 'auto', or one of "
        + ", ".join(RATIOS)
        + ".",
        param="size",
        code="invalid_value",
    )


def source_image(value: Any) -> Any:
    """The image to edit: a form's file, or a ``data:`` URL in JSON."""
    if value is None:
        raise missing("image")
    if isinstance(value, str):
        _, value = decode_data_url(value, "image", MAX_IMAGE_BYTES)
    if not isinstance(value, bytes):
        raise type_error("image", "a file or a data: URL", value)
    return image_media(value, "image")


def answer(made: list[MadeImage], *, download: bool) -> dict[str, Any]:
    """OpenAI's images response."""
    data = [{"b64_json": image.b64} if download else {"url": image.url} for image in made]
    return {"created": int(time.time()), "data": data}
