"""Validate a ``POST /v1/chat/completions`` body the way OpenAI does, into an
``OpenAIChatRequest``; then refuse what the gateway cannot serve yet (``check_supported``).

Errors name the offending parameter with OpenAI's path syntax (``messages[2].content[0].type``)
and use OpenAI's wording and codes, so clients and their users see familiar messages.

Decisions where OpenAI's behaviour does not fit a gateway:
- unknown top-level fields are accepted and dropped (clients send many vendor extensions);
- the legacy ``functions``/``function_call`` parameters are served as ``tools``/``tool_choice``
  (and answered with ``function_call``), but the legacy ``function`` role is rejected: ``tool``
  messages with ``tool_call_id`` replace it;
- ``input_audio`` content parts are rejected as unsupported (upstream has no slot);
- sampling parameters the upstream cannot apply are accepted and listed in ``ignored_params``;
- empty strings in ``stop`` are dropped (they would match everywhere);
- non-string ``reasoning_content``/``reasoning`` on a message is ignored, as unknown keys are.

Speed matters (every request): one ``orjson.loads`` and plain isinstance checks; parameter
paths are only formatted when there is an error to report, or once per message.
"""

from __future__ import annotations

from qwen_proxy.api.fields import (
    empty_string,
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
from qwen_proxy.api.openai.message_validation import (
    parse_function_call,
    parse_functions,
    parse_messages,
    parse_tool_choice,
    parse_tools,
)
from qwen_proxy.api.openai.request import OpenAIChatRequest
from qwen_proxy.api.requests import json_body
from qwen_proxy.errors import InvalidRequest

__all__ = ["check_supported", "parse_chat_request"]


_RESPONSE_FORMATS = ("text", "json_object", "json_schema")
_REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")

_MAX_STOP = 4

# accepted because clients send them, but the web chat upstream has no knob for them
_NOT_APPLICABLE = (
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "presence_penalty",
    "seed",
    "service_tier",
    "temperature",
    "top_logprobs",
    "top_p",
)
# values that ask for nothing beyond the upstream's own behaviour: not worth reporting
_NO_OP_VALUES: dict[str, tuple[object, ...]] = {
    "frequency_penalty": (0,),
    "logit_bias": ({},),
    "logprobs": (False,),
    "presence_penalty": (0,),
    "service_tier": ("auto", "default"),
}
# OpenAI parameters without an OpenAIChatRequest field; kept in ``extra`` for later stages
_EXTRA_PARAMS = (
    "audio",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "metadata",
    "modalities",
    "prediction",
    "presence_penalty",
    "seed",
    "service_tier",
    "store",
    "top_logprobs",
)


def parse_chat_request(
    body: bytes, *, content_type: str | None, max_body_bytes: int
) -> OpenAIChatRequest:
    """Validate a raw chat completions body; raise the OpenAI-shaped GatewayError for bad input."""
    data = json_body(body, content_type=content_type, max_body_bytes=max_body_bytes)
    if not isinstance(data, dict):
        raise InvalidRequest(
            f"Invalid type for request body: expected an object, but got {kind_of(data)} instead.",
            code="invalid_type",
        )
    return _chat_request(data)


def _chat_request(data: dict[str, object]) -> OpenAIChatRequest:
    model = data.get("model")
    if model is None:
        raise missing("model")
    if not isinstance(model, str):
        raise type_error("model", "a string", model)
    if not model:
        raise empty_string("model")
    messages = parse_messages(data.get("messages"))

    stream = opt_bool(data, "stream") or False
    stream_options = opt_object(data, "stream_options")
    include_usage = False
    if stream_options is not None:
        if not stream:
            raise InvalidRequest(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
            )
        include_usage = opt_bool(stream_options, "include_usage", "stream_options.") or False

    max_tokens = opt_int(data, "max_completion_tokens", 1)
    legacy_max_tokens = opt_int(data, "max_tokens", 1)
    if max_tokens is None:
        max_tokens = legacy_max_tokens

    n = opt_int(data, "n", 1, 128)
    temperature = opt_number(data, "temperature", 0, 2)
    top_p = opt_number(data, "top_p", 0, 1)
    opt_number(data, "presence_penalty", -2, 2)
    opt_number(data, "frequency_penalty", -2, 2)
    opt_int(data, "seed")
    opt_bool(data, "logprobs")
    opt_int(data, "top_logprobs", 0, 20)
    parallel_tool_calls = opt_bool(data, "parallel_tool_calls")
    opt_bool(data, "store")
    opt_str(data, "service_tier")
    opt_object(data, "metadata")
    opt_object(data, "prediction")
    opt_object(data, "audio")
    opt_object(data, "logit_bias")
    _check_modalities(data.get("modalities"))
    response_format = _response_format(data.get("response_format"))

    reasoning_effort = opt_str(data, "reasoning_effort")
    if reasoning_effort is not None and reasoning_effort not in _REASONING_EFFORTS:
        raise invalid_value("reasoning_effort", reasoning_effort, _REASONING_EFFORTS)

    tools = parse_tools(data.get("tools"))
    tool_choice = parse_tool_choice(data.get("tool_choice"), tools)
    legacy = parse_functions(data.get("functions"))
    if legacy and tools:
        raise InvalidRequest(
            "Send either 'tools' or the legacy 'functions', not both.",
            param="functions",
            code="invalid_value",
        )
    if legacy:
        tools = tuple({"type": "function", "function": f} for f in legacy)
        tool_choice = parse_function_call(data.get("function_call"), legacy)
    elif data.get("function_call") is not None:
        raise InvalidRequest(
            "Invalid value for 'function_call': it is only allowed when 'functions' are specified.",
            param="function_call",
            code="invalid_value",
        )

    return OpenAIChatRequest(
        model=model,
        messages=messages,
        stream=stream,
        include_usage=include_usage,
        max_tokens=max_tokens,
        stop=_stop(data.get("stop")),
        n=1 if n is None else n,
        temperature=temperature,
        top_p=top_p,
        user=opt_str(data, "user"),
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel_tool_calls,
        response_format=response_format,
        legacy_functions=bool(legacy),
        reasoning_effort=reasoning_effort,
        enable_thinking=opt_bool(data, "enable_thinking"),
        web_search=opt_object(data, "web_search_options") is not None,
        ignored_params=tuple(
            name
            for name in _NOT_APPLICABLE
            if data.get(name) is not None and data[name] not in _NO_OP_VALUES.get(name, ())
        ),
        extra={name: data[name] for name in _EXTRA_PARAMS if data.get(name) is not None},
    )


def check_supported(request: OpenAIChatRequest) -> None:
    """Refuse, clearly, a valid request the gateway cannot serve yet (never drop it silently)."""
    if request.n != 1:
        raise InvalidRequest(
            "Only n=1 is supported: the upstream produces one answer per request.",
            param="n",
            code="unsupported_value",
        )
    for message in request.messages:
        for image in message.images:
            if not image.url.startswith(("http://", "https://", "data:")):
                raise InvalidRequest(
                    f"Invalid '{image.param}.url': expected an http(s) URL or a data: URL.",
                    param=f"{image.param}.url",
                    code="invalid_value",
                )


# --- other top-level parameters ---------------------------------------------------------------


def _stop(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    if not isinstance(value, list):
        raise type_error("stop", "a string or an array of strings", value)
    if len(value) > _MAX_STOP:
        raise InvalidRequest(
            f"Invalid 'stop': array too long. Expected an array with maximum length {_MAX_STOP}, "
            f"but got an array with length {len(value)} instead.",
            param="stop",
            code="array_above_max_length",
        )
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise type_error(f"stop[{i}]", "a string", item)
    return tuple(item for item in value if item)


def _response_format(value: object) -> dict[str, object] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise type_error("response_format", "an object", value)
    kind = value.get("type")
    if kind is None:
        raise missing("response_format.type")
    if not isinstance(kind, str):
        raise type_error("response_format.type", "a string", kind)
    if kind not in _RESPONSE_FORMATS:
        raise invalid_value("response_format.type", kind, _RESPONSE_FORMATS)
    if kind == "json_schema":
        schema = value.get("json_schema")
        if schema is None:
            raise missing("response_format.json_schema")
        if not isinstance(schema, dict):
            raise type_error("response_format.json_schema", "an object", schema)
        required_str(schema, "name", "response_format.json_schema.")
        opt_object(schema, "schema", "response_format.json_schema.")
        opt_bool(schema, "strict", "response_format.json_schema.")
    return value


def _check_modalities(value: object) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise type_error("modalities", "an array", value)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise type_error(f"modalities[{i}]", "a string", item)
