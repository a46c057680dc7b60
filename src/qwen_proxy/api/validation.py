"""Validate a ``POST /v1/chat/completions`` body the way OpenAI does, into a ``ChatRequest``.

Errors name the offending parameter with OpenAI's path syntax (``messages[2].content[0].type``)
and use OpenAI's wording and codes, so clients and their users see familiar messages.

Decisions where OpenAI's behaviour does not fit a gateway:
- unknown top-level fields are accepted and dropped (clients send many vendor extensions);
- the legacy ``function`` role is rejected: ``tool`` messages with ``tool_call_id`` replace it;
- ``input_audio`` and ``file`` content parts are rejected as unsupported (upstream has no slot);
- sampling parameters the upstream cannot apply are accepted and listed in ``ignored_params``;
- empty strings in ``stop`` are dropped (they would match everywhere);
- non-string ``reasoning_content``/``reasoning`` on a message is ignored, as unknown keys are.

Speed matters (every request): one ``orjson.loads`` and plain isinstance checks; parameter
paths are only formatted when there is an error to report, or once per message.
"""

from __future__ import annotations

import re

import orjson

from qwen_proxy.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from qwen_proxy.messages import ChatMessage, ChatRequest, ImagePart, Role, ToolCall

__all__ = ["parse_chat_request"]

_INVALID_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The API expects a JSON payload, but what was sent was "
    "not valid JSON.)"
)

_ROLES: dict[str, Role] = {
    "system": "system",
    "developer": "developer",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}
_ROLE_NAMES = ("system", "developer", "user", "assistant", "tool")

# content part types each role may send; anything else is rejected naming the part's type
_USER_PARTS = ("text", "image_url")
_ASSISTANT_PARTS = ("text", "refusal")
_TEXT_PARTS = ("text",)
_UNSUPPORTED_PARTS = frozenset({"input_audio", "file"})

_IMAGE_DETAILS = ("auto", "low", "high")
_TOOL_CHOICE_MODES = ("none", "auto", "required")
_RESPONSE_FORMATS = ("text", "json_object", "json_schema")
_REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")

_FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]+")
_FUNCTION_NAME_MAX = 64
_MAX_STOP = 4

# accepted because clients send them, but the web chat upstream has no knob for them
_NOT_APPLICABLE = (
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "parallel_tool_calls",
    "presence_penalty",
    "response_format",
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
    "parallel_tool_calls": (True, False),
    "presence_penalty": (0,),
    "response_format": ({"type": "text"},),
    "service_tier": ("auto", "default"),
}
# OpenAI parameters without a ChatRequest field; kept in ``extra`` for later stages
_EXTRA_PARAMS = (
    "audio",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "metadata",
    "modalities",
    "parallel_tool_calls",
    "prediction",
    "presence_penalty",
    "response_format",
    "seed",
    "service_tier",
    "store",
    "top_logprobs",
)


def parse_chat_request(
    body: bytes, *, content_type: str | None, max_body_bytes: int
) -> ChatRequest:
    """Validate a raw chat completions body; raise the OpenAI-shaped GatewayError for bad input."""
    if len(body) > max_body_bytes:
        raise PayloadTooLarge(
            f"Request body is {len(body)} bytes, over the limit of {max_body_bytes} bytes."
        )
    _check_content_type(content_type)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequest(_INVALID_JSON, code="invalid_json") from None
    if not isinstance(data, dict):
        raise InvalidRequest(
            f"Invalid type for request body: expected an object, but got {_kind(data)} instead.",
            code="invalid_type",
        )
    return _chat_request(data)


def _check_content_type(content_type: str | None) -> None:
    # a missing or empty header is read as JSON, as OpenAI does; parameters (charset) don't matter
    if not content_type:
        return
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return
    raise UnsupportedMediaType(
        f"Unsupported Content-Type '{media_type}': send the body as JSON "
        "with 'Content-Type: application/json'."
    )


def _chat_request(data: dict[str, object]) -> ChatRequest:
    model = data.get("model")
    if model is None:
        raise _missing("model")
    if not isinstance(model, str):
        raise _type_error("model", "a string", model)
    if not model:
        raise _empty_string("model")
    messages = _messages(data.get("messages"))

    stream = _opt_bool(data, "stream") or False
    stream_options = _opt_object(data, "stream_options")
    include_usage = False
    if stream_options is not None:
        if not stream:
            raise InvalidRequest(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
            )
        include_usage = _opt_bool(stream_options, "include_usage", "stream_options.") or False

    max_tokens = _opt_int(data, "max_completion_tokens", 1)
    legacy_max_tokens = _opt_int(data, "max_tokens", 1)
    if max_tokens is None:
        max_tokens = legacy_max_tokens

    n = _opt_int(data, "n", 1, 128)
    temperature = _opt_number(data, "temperature", 0, 2)
    top_p = _opt_number(data, "top_p", 0, 1)
    _opt_number(data, "presence_penalty", -2, 2)
    _opt_number(data, "frequency_penalty", -2, 2)
    _opt_int(data, "seed")
    _opt_bool(data, "logprobs")
    _opt_int(data, "top_logprobs", 0, 20)
    _opt_bool(data, "parallel_tool_calls")
    _opt_bool(data, "store")
    _opt_str(data, "service_tier")
    _opt_object(data, "metadata")
    _opt_object(data, "prediction")
    _opt_object(data, "audio")
    _opt_object(data, "logit_bias")
    _check_modalities(data.get("modalities"))
    _check_response_format(data.get("response_format"))

    reasoning_effort = _opt_str(data, "reasoning_effort")
    if reasoning_effort is not None and reasoning_effort not in _REASONING_EFFORTS:
        raise _invalid_value("reasoning_effort", reasoning_effort, _REASONING_EFFORTS)

    tools = _tools(data.get("tools"))
    tool_choice = _tool_choice(data.get("tool_choice"), tools)

    return ChatRequest(
        model=model,
        messages=messages,
        stream=stream,
        include_usage=include_usage,
        max_tokens=max_tokens,
        stop=_stop(data.get("stop")),
        n=1 if n is None else n,
        temperature=temperature,
        top_p=top_p,
        user=_opt_str(data, "user"),
        tools=tools,
        tool_choice=tool_choice,
        reasoning_effort=reasoning_effort,
        enable_thinking=_opt_bool(data, "enable_thinking"),
        web_search=_opt_object(data, "web_search_options") is not None,
        ignored_params=tuple(
            name
            for name in _NOT_APPLICABLE
            if data.get(name) is not None and data[name] not in _NO_OP_VALUES.get(name, ())
        ),
        extra={name: data[name] for name in _EXTRA_PARAMS if data.get(name) is not None},
    )


# --- messages ---------------------------------------------------------------------------------


def _messages(value: object) -> tuple[ChatMessage, ...]:
    if value is None:
        raise _missing("messages")
    if not isinstance(value, list):
        raise _type_error("messages", "an array", value)
    if not value:
        raise _empty_array("messages")
    return tuple(_message(item, i) for i, item in enumerate(value))


def _message(item: object, i: int) -> ChatMessage:
    # the common case (known role, string content) formats no parameter path at all
    if not isinstance(item, dict):
        raise _type_error(f"messages[{i}]", "an object", item)
    raw_role = item.get("role")
    role = _ROLES.get(raw_role) if isinstance(raw_role, str) else None
    if role is None:
        raise _bad_role(raw_role, f"messages[{i}].role")
    name = item.get("name")
    if name is not None and not isinstance(name, str):
        raise _type_error(f"messages[{i}].name", "a string", name)
    content = item.get("content")

    if role == "assistant":
        tool_calls = _tool_calls(item.get("tool_calls"), i)
        reasoning = item.get("reasoning_content")
        if not isinstance(reasoning, str):
            reasoning = item.get("reasoning")
        if content is None and not tool_calls:
            raise _missing(f"messages[{i}].content")
        return ChatMessage(
            role=role,
            text=_text(content, i, _ASSISTANT_PARTS),
            name=name,
            tool_calls=tool_calls,
            reasoning=reasoning if isinstance(reasoning, str) else None,
        )

    if content is None:
        raise _missing(f"messages[{i}].content")
    if role == "user":
        if isinstance(content, str):
            return ChatMessage(role=role, text=content, name=name)
        text, images = _content(content, f"messages[{i}].content", _USER_PARTS)
        return ChatMessage(role=role, text=text, images=images, name=name)
    text = _text(content, i, _TEXT_PARTS)
    if role == "tool":
        tool_call_id = item.get("tool_call_id")
        if not isinstance(tool_call_id, str):
            param = f"messages[{i}].tool_call_id"
            if tool_call_id is None:
                raise _missing(param)
            raise _type_error(param, "a string", tool_call_id)
        return ChatMessage(role=role, text=text, name=name, tool_call_id=tool_call_id)
    return ChatMessage(role=role, text=text, name=name)


def _text(content: object, i: int, allowed: tuple[str, ...]) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return _content(content, f"messages[{i}].content", allowed)[0]


def _bad_role(value: object, param: str) -> InvalidRequest:
    if value is None:
        return _missing(param)
    if not isinstance(value, str):
        return _type_error(param, "a string", value)
    if value == "function":
        return InvalidRequest(
            "Invalid value: 'function'. The 'function' role is deprecated and not supported: "
            "send tool results as messages with role 'tool' and a 'tool_call_id'.",
            param=param,
            code="invalid_value",
        )
    return _invalid_value(param, value, _ROLE_NAMES)


def _content(
    value: object, path: str, allowed: tuple[str, ...]
) -> tuple[str, tuple[ImagePart, ...]]:
    if isinstance(value, str):
        return value, ()
    if not isinstance(value, list):
        raise _type_error(path, "a string or an array of content parts", value)
    if not value:
        raise _empty_array(path)
    texts: list[str] = []
    images: list[ImagePart] = []
    for j, part in enumerate(value):
        if not isinstance(part, dict):
            raise _type_error(f"{path}[{j}]", "an object", part)
        kind = part.get("type")
        if kind == "text":
            texts.append(_required_str(part, "text", f"{path}[{j}]."))
        elif kind == "image_url" and kind in allowed:
            images.append(_image(part.get("image_url"), f"{path}[{j}].image_url"))
        elif kind == "refusal" and kind in allowed:
            texts.append(_required_str(part, "refusal", f"{path}[{j}]."))
        else:
            raise _bad_part_type(kind, f"{path}[{j}].type", allowed)
    return "\n".join(texts), tuple(images)


def _bad_part_type(kind: object, param: str, allowed: tuple[str, ...]) -> InvalidRequest:
    if kind is None:
        return _missing(param)
    if not isinstance(kind, str):
        return _type_error(param, "a string", kind)
    if kind in _UNSUPPORTED_PARTS and "image_url" in allowed:
        return InvalidRequest(
            f"Content parts of type '{kind}' are not supported: send 'text' or 'image_url' parts.",
            param=param,
            code="unsupported_value",
        )
    return _invalid_value(param, kind, allowed)


def _image(value: object, path: str) -> ImagePart:
    if value is None:
        raise _missing(path)
    if not isinstance(value, dict):
        raise _type_error(path, "an object", value)
    url = _required_str(value, "url", f"{path}.")
    if not url:
        raise _empty_string(f"{path}.url")
    detail = _opt_str(value, "detail", f"{path}.")
    if detail is not None and detail not in _IMAGE_DETAILS:
        raise _invalid_value(f"{path}.detail", detail, _IMAGE_DETAILS)
    return ImagePart(url=url, detail=detail)


def _tool_calls(value: object, i: int) -> tuple[ToolCall, ...]:
    if value is None:
        return ()
    path = f"messages[{i}].tool_calls"
    if not isinstance(value, list):
        raise _type_error(path, "an array", value)
    if not value:
        raise _empty_array(path)
    calls: list[ToolCall] = []
    for k, call in enumerate(value):
        call_path = f"{path}[{k}]"
        if not isinstance(call, dict):
            raise _type_error(call_path, "an object", call)
        call_id = _required_str(call, "id", f"{call_path}.")
        _check_function_type(call.get("type"), f"{call_path}.type")
        function = call.get("function")
        if function is None:
            raise _missing(f"{call_path}.function")
        if not isinstance(function, dict):
            raise _type_error(f"{call_path}.function", "an object", function)
        name = _function_name(function.get("name"), f"{call_path}.function.name")
        arguments = _required_str(function, "arguments", f"{call_path}.function.")
        calls.append(ToolCall(id=call_id, name=name, arguments=arguments))
    return tuple(calls)


# --- tools ------------------------------------------------------------------------------------


def _tools(value: object) -> tuple[dict[str, object], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _type_error("tools", "an array", value)
    if not value:
        raise _empty_array("tools")
    for i, tool in enumerate(value):
        path = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise _type_error(path, "an object", tool)
        _check_function_type(tool.get("type"), f"{path}.type")
        function = tool.get("function")
        if function is None:
            raise _missing(f"{path}.function")
        if not isinstance(function, dict):
            raise _type_error(f"{path}.function", "an object", function)
        _function_name(function.get("name"), f"{path}.function.name")
        _opt_str(function, "description", f"{path}.function.")
        _opt_object(function, "parameters", f"{path}.function.")
        _opt_bool(function, "strict", f"{path}.function.")
    return tuple(value)


def _tool_choice(
    value: object, tools: tuple[dict[str, object], ...]
) -> str | dict[str, object] | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value not in _TOOL_CHOICE_MODES:
            raise _invalid_value("tool_choice", value, _TOOL_CHOICE_MODES)
    elif isinstance(value, dict):
        _check_function_type(value.get("type"), "tool_choice.type")
        function = value.get("function")
        if function is None:
            raise _missing("tool_choice.function")
        if not isinstance(function, dict):
            raise _type_error("tool_choice.function", "an object", function)
        name = _required_str(function, "name", "tool_choice.function.")
        if tools and not any(_tool_name(tool) == name for tool in tools):
            raise InvalidRequest(
                f"Invalid value for 'tool_choice': no function named '{name}' "
                "is defined in 'tools'.",
                param="tool_choice",
                code="invalid_value",
            )
    else:
        raise _type_error("tool_choice", "a string or an object", value)
    if not tools:
        raise InvalidRequest(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed "
            "when 'tools' are specified.",
            param="tool_choice",
            code="invalid_value",
        )
    return value


def _tool_name(tool: dict[str, object]) -> object:
    function = tool["function"]
    return function.get("name") if isinstance(function, dict) else None


def _check_function_type(value: object, param: str) -> None:
    if value == "function":
        return
    if value is None:
        raise _missing(param)
    if not isinstance(value, str):
        raise _type_error(param, "a string", value)
    raise _invalid_value(param, value, ("function",))


def _function_name(value: object, param: str) -> str:
    if value is None:
        raise _missing(param)
    if not isinstance(value, str):
        raise _type_error(param, "a string", value)
    if len(value) > _FUNCTION_NAME_MAX:
        raise InvalidRequest(
            f"Invalid '{param}': string too long. Expected a string with maximum length "
            f"{_FUNCTION_NAME_MAX}, but got a string with length {len(value)} instead.",
            param=param,
            code="string_above_max_length",
        )
    if _FUNCTION_NAME.fullmatch(value) is None:
        raise InvalidRequest(
            f"Invalid '{param}': string does not match pattern. "
            "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
            param=param,
            code="invalid_value",
        )
    return value


# --- other top-level parameters ---------------------------------------------------------------


def _stop(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    if not isinstance(value, list):
        raise _type_error("stop", "a string or an array of strings", value)
    if len(value) > _MAX_STOP:
        raise InvalidRequest(
            f"Invalid 'stop': array too long. Expected an array with maximum length {_MAX_STOP}, "
            f"but got an array with length {len(value)} instead.",
            param="stop",
            code="array_above_max_length",
        )
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _type_error(f"stop[{i}]", "a string", item)
    return tuple(item for item in value if item)


def _check_response_format(value: object) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise _type_error("response_format", "an object", value)
    kind = value.get("type")
    if kind is None:
        raise _missing("response_format.type")
    if not isinstance(kind, str):
        raise _type_error("response_format.type", "a string", kind)
    if kind not in _RESPONSE_FORMATS:
        raise _invalid_value("response_format.type", kind, _RESPONSE_FORMATS)
    if kind == "json_schema":
        schema = value.get("json_schema")
        if schema is None:
            raise _missing("response_format.json_schema")
        if not isinstance(schema, dict):
            raise _type_error("response_format.json_schema", "an object", schema)
        _required_str(schema, "name", "response_format.json_schema.")


def _check_modalities(value: object) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise _type_error("modalities", "an array", value)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _type_error(f"modalities[{i}]", "a string", item)


# --- typed field readers: null counts as absent, as in OpenAI's API ---------------------------


def _opt_bool(obj: dict[str, object], key: str, prefix: str = "") -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise _type_error(prefix + key, "a boolean", value)


def _opt_str(obj: dict[str, object], key: str, prefix: str = "") -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _type_error(prefix + key, "a string", value)


def _required_str(obj: dict[str, object], key: str, prefix: str = "") -> str:
    value = obj.get(key)
    if isinstance(value, str):
        return value
    if value is None:
        raise _missing(prefix + key)
    raise _type_error(prefix + key, "a string", value)


def _opt_object(obj: dict[str, object], key: str, prefix: str = "") -> dict[str, object] | None:
    value = obj.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise _type_error(prefix + key, "an object", value)


def _opt_int(
    obj: dict[str, object], key: str, low: int | None = None, high: int | None = None
) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    # bool is an int subclass in Python, but true is not a number in JSON
    if not isinstance(value, int) or isinstance(value, bool):
        raise _type_error(key, "an integer", value)
    _check_range(key, value, low, high, "integer")
    return value


def _opt_number(obj: dict[str, object], key: str, low: int, high: int) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _type_error(key, "a number", value)
    _check_range(key, value, low, high, "decimal")
    return float(value)


def _check_range(param: str, value: float, low: int | None, high: int | None, noun: str) -> None:
    if low is not None and value < low:
        raise InvalidRequest(
            f"Invalid '{param}': {noun} below minimum value. "
            f"Expected a value >= {low}, but got {value} instead.",
            param=param,
            code=f"{noun}_below_min_value",
        )
    if high is not None and value > high:
        raise InvalidRequest(
            f"Invalid '{param}': {noun} above maximum value. "
            f"Expected a value <= {high}, but got {value} instead.",
            param=param,
            code=f"{noun}_above_max_value",
        )


# --- OpenAI's error wording -------------------------------------------------------------------


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _missing(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def _type_error(param: str, expected: str, value: object) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid type for '{param}': expected {expected}, but got {_kind(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _invalid_value(param: str, value: str, supported: tuple[str, ...]) -> InvalidRequest:
    quoted = [f"'{option}'" for option in supported]
    if len(quoted) > 2:
        listed = ", ".join(quoted[:-1]) + ", and " + quoted[-1]
    else:
        listed = " and ".join(quoted)
    return InvalidRequest(
        f"Invalid value: '{value}'. Supported values are: {listed}.",
        param=param,
        code="invalid_value",
    )


def _empty_array(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid '{param}': empty array. Expected an array with minimum length 1, "
        "but got an empty array instead.",
        param=param,
        code="empty_array",
    )


def _empty_string(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid '{param}': empty string. Expected a string with minimum length 1, "
        "but got an empty string instead.",
        param=param,
        code="empty_string",
    )
