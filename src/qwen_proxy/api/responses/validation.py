"""Validate a ``POST /v1/responses`` body the way OpenAI does, into a ``ResponsesRequest``;
then refuse what the gateway cannot serve yet (``check_supported``).

Errors use OpenAI's wording, codes and parameter paths (``input[2].content[0].type``), as the
chat face does. Decisions where OpenAI's behaviour does not fit a gateway:
- unknown top-level fields are accepted and dropped;
- ``temperature`` and ``top_p`` are checked, accepted and reported as ignored, as on the chat
  face; ``text.format`` (json_object, json_schema) is served by the structured-output layer;
- tools as ``tools`` says; hosted tools the gateway cannot run are reported as ignored;
- ``background`` and ``conversation`` are refused: ignoring them would lose the context or the
  answer the client expects.
"""

from __future__ import annotations

from typing import Any

from qwen_proxy.api.fields import (
    invalid_value,
    kind_of,
    missing,
    opt_bool,
    opt_int,
    opt_number,
    opt_object,
    opt_str,
    required_str,
    type_error,
)
from qwen_proxy.api.requests import json_body
from qwen_proxy.api.responses.items import parse_input
from qwen_proxy.api.responses.request import ResponsesRequest
from qwen_proxy.api.responses.tools import parse_tools
from qwen_proxy.errors import InvalidRequest

__all__ = ["check_supported", "parse_responses_request"]

_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
_SUMMARIES = ("auto", "concise", "detailed")
_FORMATS = ("text", "json_object", "json_schema")
#: OpenAI's smallest max_output_tokens
_MIN_OUTPUT_TOKENS = 16


def parse_responses_request(
    body: bytes, *, content_type: str | None, max_body_bytes: int
) -> ResponsesRequest:
    """Validate a raw Responses body; raise the OpenAI-shaped GatewayError for bad input."""
    data = json_body(body, content_type=content_type, max_body_bytes=max_body_bytes)
    if not isinstance(data, dict):
        raise InvalidRequest(
            f"Invalid type for request body: expected an object, but got {kind_of(data)} instead.",
            code="invalid_type",
        )
    model = required_str(data, "model")
    if not model:
        raise missing("model")
    instructions = opt_str(data, "instructions")
    items = parse_input(data.get("input"))
    if opt_bool(data, "background"):
        raise InvalidRequest(
            "Background responses are not supported by this gateway; leave 'background' off.",
            param="background",
            code="unsupported_value",
        )
    if data.get("conversation") is not None:
        raise InvalidRequest(
            "Conversation objects are not supported by this gateway: continue with "
            "'previous_response_id', or send the whole input.",
            param="conversation",
            code="unsupported_value",
        )
    reasoning = opt_object(data, "reasoning") or {}
    effort = opt_str(reasoning, "effort", "reasoning.")
    if effort is not None and effort not in _EFFORTS:
        raise invalid_value("reasoning.effort", effort, _EFFORTS)
    summary = opt_str(reasoning, "summary", "reasoning.")
    if summary is not None and summary not in _SUMMARIES:
        raise invalid_value("reasoning.summary", summary, _SUMMARIES)
    text_format = _text_format(data)
    temperature = opt_number(data, "temperature", 0, 2)
    top_p = opt_number(data, "top_p", 0, 1)
    metadata = opt_object(data, "metadata")
    tool_choice = data.get("tool_choice")
    if tool_choice is not None and not isinstance(tool_choice, str | dict):
        raise type_error("tool_choice", "a string or an object", tool_choice)
    parallel = opt_bool(data, "parallel_tool_calls") is not False
    tools = parse_tools(data.get("tools"), tool_choice, parallel)
    ignored = [name for name in ("temperature", "top_p") if data.get(name) is not None]
    ignored.extend(tools.ignored)
    return ResponsesRequest(
        model=model,
        input=items,
        instructions=instructions,
        previous_response_id=opt_str(data, "previous_response_id"),
        store=opt_bool(data, "store") is not False,
        stream=bool(opt_bool(data, "stream")),
        max_output_tokens=opt_int(data, "max_output_tokens", _MIN_OUTPUT_TOKENS),
        reasoning_effort=effort,
        reasoning_summary=summary,
        temperature=temperature,
        top_p=top_p,
        text_format=text_format,
        tools=tuple(data.get("tools") or ()),
        tooling=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        metadata=metadata,
        user=opt_str(data, "user"),
        ignored_params=tuple(ignored),
    )


def check_supported(request: ResponsesRequest) -> None:
    """Refuse, clearly, a valid request the gateway cannot serve (never drop it silently)."""
    for message in request.input:
        for image in message.images:
            if not image.url.startswith(("http://", "https://", "data:")):
                raise InvalidRequest(
                    f"Invalid '{image.param}': expected an http(s) URL or a data: URL.",
                    param=image.param,
                    code="invalid_value",
                )


def _text_format(data: dict[str, object]) -> dict[str, Any] | None:
    """``text.format`` when it asks for JSON; None for plain text."""
    text = opt_object(data, "text")
    if text is None:
        return None
    opt_str(text, "verbosity", "text.")
    value = opt_object(text, "format", "text.")
    if value is None:
        return None
    kind = value.get("type")
    if kind is None:
        raise missing("text.format.type")
    if not isinstance(kind, str):
        raise type_error("text.format.type", "a string", kind)
    if kind not in _FORMATS:
        raise invalid_value("text.format.type", kind, _FORMATS)
    if kind == "json_schema":
        required_str(value, "name", "text.format.")
        if not isinstance(value.get("schema"), dict):
            raise missing("text.format.schema")
    return value if kind != "text" else None
