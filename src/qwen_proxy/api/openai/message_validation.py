"""Validate the ``messages``, ``tools`` and ``tool_choice`` of a chat request (OpenAI's rules)."""

from __future__ import annotations

import re

from qwen_proxy.api.fields import (
    empty_array,
    empty_string,
    invalid_value,
    missing,
    opt_bool,
    opt_object,
    opt_str,
    required_str,
    type_error,
)
from qwen_proxy.errors import InvalidRequest
from qwen_proxy.messages import ChatMessage, FilePart, ImagePart, Role, ToolCall

_ROLES: dict[str, Role] = {
    "system": "system",
    "developer": "developer",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}
_ROLE_NAMES = ("system", "developer", "user", "assistant", "tool")

# content part types each role may send; anything else is rejected naming the part's type
_USER_PARTS = ("text", "image_url", "file")
_ASSISTANT_PARTS = ("text", "refusal")
_TEXT_PARTS = ("text",)
_UNSUPPORTED_PARTS = frozenset({"input_audio"})

_IMAGE_DETAILS = ("auto", "low", "high")
_TOOL_CHOICE_MODES = ("none", "auto", "required")
_FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]+")
_FUNCTION_NAME_MAX = 64


# --- messages ---------------------------------------------------------------------------------


def parse_messages(value: object) -> tuple[ChatMessage, ...]:
    if value is None:
        raise missing("messages")
    if not isinstance(value, list):
        raise type_error("messages", "an array", value)
    if not value:
        raise empty_array("messages")
    return tuple(_message(item, i) for i, item in enumerate(value))


def _message(item: object, i: int) -> ChatMessage:
    # the common case (known role, string content) formats no parameter path at all
    if not isinstance(item, dict):
        raise type_error(f"messages[{i}]", "an object", item)
    raw_role = item.get("role")
    role = _ROLES.get(raw_role) if isinstance(raw_role, str) else None
    if role is None:
        raise _bad_role(raw_role, f"messages[{i}].role")
    name = item.get("name")
    if name is not None and not isinstance(name, str):
        raise type_error(f"messages[{i}].name", "a string", name)
    content = item.get("content")

    if role == "assistant":
        tool_calls = _tool_calls(item.get("tool_calls"), i)
        reasoning = item.get("reasoning_content")
        if not isinstance(reasoning, str):
            reasoning = item.get("reasoning")
        if content is None and not tool_calls:
            raise missing(f"messages[{i}].content")
        return ChatMessage(
            role=role,
            text=_text(content, i, _ASSISTANT_PARTS),
            name=name,
            tool_calls=tool_calls,
            reasoning=reasoning if isinstance(reasoning, str) else None,
        )

    if content is None:
        raise missing(f"messages[{i}].content")
    if role == "user":
        if isinstance(content, str):
            return ChatMessage(role=role, text=content, name=name)
        text, images, files = _content(content, f"messages[{i}].content", _USER_PARTS)
        return ChatMessage(role=role, text=text, images=images, name=name, files=files)
    text = _text(content, i, _TEXT_PARTS)
    if role == "tool":
        tool_call_id = item.get("tool_call_id")
        if not isinstance(tool_call_id, str):
            param = f"messages[{i}].tool_call_id"
            if tool_call_id is None:
                raise missing(param)
            raise type_error(param, "a string", tool_call_id)
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
        return missing(param)
    if not isinstance(value, str):
        return type_error(param, "a string", value)
    if value == "function":
        return InvalidRequest(
            "Invalid value: 'function'. The 'function' role is deprecated and not supported: "
            "send tool results as messages with role 'tool' and a 'tool_call_id'.",
            param=param,
            code="invalid_value",
        )
    return invalid_value(param, value, _ROLE_NAMES)


def _content(
    value: object, path: str, allowed: tuple[str, ...]
) -> tuple[str, tuple[ImagePart, ...], tuple[FilePart, ...]]:
    if isinstance(value, str):
        return value, (), ()
    if not isinstance(value, list):
        raise type_error(path, "a string or an array of content parts", value)
    if not value:
        raise empty_array(path)
    texts: list[str] = []
    images: list[ImagePart] = []
    files: list[FilePart] = []
    for j, part in enumerate(value):
        if not isinstance(part, dict):
            raise type_error(f"{path}[{j}]", "an object", part)
        kind = part.get("type")
        if kind == "text":
            texts.append(required_str(part, "text", f"{path}[{j}]."))
        elif kind == "image_url" and kind in allowed:
            images.append(_image(part.get("image_url"), f"{path}[{j}].image_url"))
        elif kind == "file" and kind in allowed:
            files.append(_file(part.get("file"), f"{path}[{j}].file"))
        elif kind == "refusal" and kind in allowed:
            texts.append(required_str(part, "refusal", f"{path}[{j}]."))
        else:
            raise _bad_part_type(kind, f"{path}[{j}].type", allowed)
    return "\n".join(texts), tuple(images), tuple(files)


def _bad_part_type(kind: object, param: str, allowed: tuple[str, ...]) -> InvalidRequest:
    if kind is None:
        return missing(param)
    if not isinstance(kind, str):
        return type_error(param, "a string", kind)
    if kind in _UNSUPPORTED_PARTS and "image_url" in allowed:
        return InvalidRequest(
            f"Content parts of type '{kind}' are not supported: send 'text', 'image_url' or "
            "'file' parts.",
            param=param,
            code="unsupported_value",
        )
    return invalid_value(param, kind, allowed)


def _image(value: object, path: str) -> ImagePart:
    if value is None:
        raise missing(path)
    if not isinstance(value, dict):
        raise type_error(path, "an object", value)
    url = required_str(value, "url", f"{path}.")
    if not url:
        raise empty_string(f"{path}.url")
    detail = opt_str(value, "detail", f"{path}.")
    if detail is not None and detail not in _IMAGE_DETAILS:
        raise invalid_value(f"{path}.detail", detail, _IMAGE_DETAILS)
    return ImagePart(url=url, detail=detail, param=path)


def _file(value: object, path: str) -> FilePart:
    """A ``file`` part: its ``file_data`` (a data: URL, or bare base64) and ``filename``."""
    if value is None:
        raise missing(path)
    if not isinstance(value, dict):
        raise type_error(path, "an object", value)
    if value.get("file_id") is not None and value.get("file_data") is None:
        raise InvalidRequest(
            f"Invalid '{path}.file_id': files uploaded to OpenAI cannot be read through this "
            "gateway; send the file's bytes as 'file_data' (a data: URL) with a 'filename'.",
            param=f"{path}.file_id",
            code="unsupported_value",
        )
    data = required_str(value, "file_data", f"{path}.")
    if not data:
        raise empty_string(f"{path}.file_data")
    filename = required_str(value, "filename", f"{path}.")
    if not filename.strip():
        raise empty_string(f"{path}.filename")
    if not data.startswith("data:"):
        data = "data:application/octet-stream;base64," + data
    return FilePart(data_url=data, filename=filename, param=path)


def _tool_calls(value: object, i: int) -> tuple[ToolCall, ...]:
    if value is None:
        return ()
    path = f"messages[{i}].tool_calls"
    if not isinstance(value, list):
        raise type_error(path, "an array", value)
    if not value:
        raise empty_array(path)
    calls: list[ToolCall] = []
    for k, call in enumerate(value):
        call_path = f"{path}[{k}]"
        if not isinstance(call, dict):
            raise type_error(call_path, "an object", call)
        call_id = required_str(call, "id", f"{call_path}.")
        _check_function_type(call.get("type"), f"{call_path}.type")
        function = call.get("function")
        if function is None:
            raise missing(f"{call_path}.function")
        if not isinstance(function, dict):
            raise type_error(f"{call_path}.function", "an object", function)
        name = _function_name(function.get("name"), f"{call_path}.function.name")
        arguments = required_str(function, "arguments", f"{call_path}.function.")
        calls.append(ToolCall(id=call_id, name=name, arguments=arguments))
    return tuple(calls)


# --- tools ------------------------------------------------------------------------------------


def parse_tools(value: object) -> tuple[dict[str, object], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise type_error("tools", "an array", value)
    if not value:
        raise empty_array("tools")
    for i, tool in enumerate(value):
        path = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise type_error(path, "an object", tool)
        _check_function_type(tool.get("type"), f"{path}.type")
        function = tool.get("function")
        if function is None:
            raise missing(f"{path}.function")
        if not isinstance(function, dict):
            raise type_error(f"{path}.function", "an object", function)
        _function_name(function.get("name"), f"{path}.function.name")
        opt_str(function, "description", f"{path}.function.")
        opt_object(function, "parameters", f"{path}.function.")
        opt_bool(function, "strict", f"{path}.function.")
    return tuple(value)


def parse_functions(value: object) -> tuple[dict[str, object], ...]:
    """The legacy ``functions`` list (each item what ``tools[i].function`` holds)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise type_error("functions", "an array", value)
    if not value:
        raise empty_array("functions")
    for i, function in enumerate(value):
        path = f"functions[{i}]"
        if not isinstance(function, dict):
            raise type_error(path, "an object", function)
        _function_name(function.get("name"), f"{path}.name")
        opt_str(function, "description", f"{path}.")
        opt_object(function, "parameters", f"{path}.")
    return tuple(value)


def parse_function_call(
    value: object, functions: tuple[dict[str, object], ...]
) -> str | dict[str, object] | None:
    """The legacy ``function_call`` (``none``, ``auto`` or ``{"name": ...}``) as a tool choice."""
    if value is None:
        return None
    if isinstance(value, str):
        if value not in ("none", "auto"):
            raise invalid_value("function_call", value, ("none", "auto"))
        return value
    if not isinstance(value, dict):
        raise type_error("function_call", "a string or an object", value)
    name = required_str(value, "name", "function_call.")
    if not any(f.get("name") == name for f in functions):
        raise InvalidRequest(
            f"Invalid value for 'function_call': no function named '{name}' is defined in "
            "'functions'.",
            param="function_call",
            code="invalid_value",
        )
    return {"type": "function", "function": {"name": name}}


def parse_tool_choice(
    value: object, tools: tuple[dict[str, object], ...]
) -> str | dict[str, object] | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value not in _TOOL_CHOICE_MODES:
            raise invalid_value("tool_choice", value, _TOOL_CHOICE_MODES)
    elif isinstance(value, dict):
        _check_function_type(value.get("type"), "tool_choice.type")
        function = value.get("function")
        if function is None:
            raise missing("tool_choice.function")
        if not isinstance(function, dict):
            raise type_error("tool_choice.function", "an object", function)
        name = required_str(function, "name", "tool_choice.function.")
        if tools and not any(_tool_name(tool) == name for tool in tools):
            raise InvalidRequest(
                f"Invalid value for 'tool_choice': no function named '{name}' "
                "is defined in 'tools'.",
                param="tool_choice",
                code="invalid_value",
            )
    else:
        raise type_error("tool_choice", "a string or an object", value)
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
        raise missing(param)
    if not isinstance(value, str):
        raise type_error(param, "a string", value)
    raise invalid_value(param, value, ("function",))


def _function_name(value: object, param: str) -> str:
    if value is None:
        raise missing(param)
    if not isinstance(value, str):
        raise type_error(param, "a string", value)
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
