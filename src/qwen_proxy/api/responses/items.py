"""A Responses ``input`` (a string or a list of items) as the gateway's messages, the same ones an
OpenAI chat client sending the same conversation produces.

- a string is one user message;
- ``message`` items (``type`` may be left out): roles ``user``, ``assistant``, ``system``, and
  ``developer`` as system; parts ``input_text``/``output_text`` (text, joined by a newline as
  chat content parts are), ``refusal``, ``input_image`` (its ``image_url``);
- ``function_call``, ``custom_tool_call`` and ``local_shell_call`` items are the assistant's
  tool calls (as the functions they were offered as, see ``calls``), joined to the assistant
  message just before them as a chat client sends both in one message; their ``*_output``
  items are tool messages;
- ``reasoning`` and ``web_search_call`` items clients echo back are dropped: neither is part of
  a conversation.
"""

from __future__ import annotations

from dataclasses import replace

from qwen_proxy.api.fields import (
    empty_array,
    invalid_value,
    missing,
    opt_str,
    required_str,
    type_error,
)
from qwen_proxy.api.responses.calls import custom_tool_call, function_call, local_shell_call
from qwen_proxy.errors import InvalidRequest
from qwen_proxy.messages import ChatMessage, ImagePart, Role, ToolCall

_ROLES: dict[str, Role] = {
    "user": "user",
    "assistant": "assistant",
    "system": "system",
    "developer": "system",
}
_TEXT_PARTS = frozenset({"input_text", "output_text", "text"})
_PART_TYPES = ("input_text", "output_text", "refusal", "input_image")
_CALLS = ("function_call", "custom_tool_call", "local_shell_call")
_OUTPUTS = ("function_call_output", "custom_tool_call_output", "local_shell_call_output")
_DROPPED = ("reasoning", "web_search_call")
_ITEM_TYPES = ("message", *_CALLS, *_OUTPUTS, *_DROPPED)
_IMAGE_DETAILS = ("auto", "low", "high", "original")


def parse_input(value: object) -> tuple[ChatMessage, ...]:
    """The ``input`` of a request as messages."""
    if value is None:
        raise missing("input")
    if isinstance(value, str):
        return (ChatMessage(role="user", text=value),)
    if not isinstance(value, list):
        raise type_error("input", "a string or an array of input items", value)
    if not value:
        raise empty_array("input")
    out: list[ChatMessage] = []
    for i, item in enumerate(value):
        path = f"input[{i}]"
        if not isinstance(item, dict):
            raise type_error(path, "an object", item)
        kind = item.get("type", "message")
        if kind == "message":
            out.append(_message(item, path))
        elif kind in _CALLS:
            _add_call(out, _call(item, str(kind), path))
        elif kind in _OUTPUTS:
            out.append(_output(item, path))
        elif kind in _DROPPED:
            continue
        elif not isinstance(kind, str):
            raise type_error(f"{path}.type", "a string", kind)
        else:
            raise invalid_value(f"{path}.type", kind, _ITEM_TYPES)
    return tuple(out)


def _message(item: dict[str, object], path: str) -> ChatMessage:
    raw_role = item.get("role")
    role = _ROLES.get(raw_role) if isinstance(raw_role, str) else None
    if role is None:
        if raw_role is None:
            raise missing(f"{path}.role")
        if not isinstance(raw_role, str):
            raise type_error(f"{path}.role", "a string", raw_role)
        raise invalid_value(f"{path}.role", raw_role, tuple(_ROLES))
    content = item.get("content")
    if content is None:
        raise missing(f"{path}.content")
    if isinstance(content, str):
        return ChatMessage(role=role, text=content)
    if not isinstance(content, list):
        raise type_error(f"{path}.content", "a string or an array of content parts", content)
    text, images = _parts(content, f"{path}.content")
    return ChatMessage(role=role, text=text, images=images)


def _parts(content: list[object], path: str) -> tuple[str, tuple[ImagePart, ...]]:
    texts: list[str] = []
    images: list[ImagePart] = []
    for j, part in enumerate(content):
        where = f"{path}[{j}]"
        if not isinstance(part, dict):
            raise type_error(where, "an object", part)
        kind = part.get("type")
        if kind in _TEXT_PARTS:
            texts.append(required_str(part, "text", f"{where}."))
        elif kind == "refusal":
            texts.append(required_str(part, "refusal", f"{where}."))
        elif kind == "input_image":
            images.append(_image(part, where))
        elif kind is None:
            raise missing(f"{where}.type")
        elif kind == "input_file":
            raise InvalidRequest(
                "Input parts of type 'input_file' are not supported: send text or images.",
                param=f"{where}.type",
                code="unsupported_value",
            )
        elif not isinstance(kind, str):
            raise type_error(f"{where}.type", "a string", kind)
        else:
            raise invalid_value(f"{where}.type", kind, _PART_TYPES)
    return "\n".join(texts), tuple(images)


def _image(part: dict[str, object], path: str) -> ImagePart:
    detail = opt_str(part, "detail", f"{path}.")
    if detail is not None and detail not in _IMAGE_DETAILS:
        raise invalid_value(f"{path}.detail", detail, _IMAGE_DETAILS)
    url = opt_str(part, "image_url", f"{path}.")
    if url:
        # named so, an error about the image's bytes points at the part
        return ImagePart(url=url, detail=detail, param=f"{path}.image_url")
    if part.get("file_id") is not None:
        raise InvalidRequest(
            "Images by 'file_id' are not supported: send an 'image_url'.",
            param=f"{path}.file_id",
            code="unsupported_value",
        )
    raise missing(f"{path}.image_url")


def _call(item: dict[str, object], kind: str, path: str) -> ToolCall:
    """A call item as the call to the function its tool was offered as."""
    if kind == "local_shell_call":
        # Codex sends ``call_id``; the chat wire's ``id`` stands in for it
        call_id = opt_str(item, "call_id", f"{path}.") or required_str(item, "id", f"{path}.")
        action = item.get("action")
        if not isinstance(action, dict):
            raise type_error(f"{path}.action", "an object", action)
        return local_shell_call(call_id, action)
    call_id = required_str(item, "call_id", f"{path}.")
    name = required_str(item, "name", f"{path}.")
    namespace = opt_str(item, "namespace", f"{path}.")
    if kind == "custom_tool_call":
        return custom_tool_call(call_id, name, required_str(item, "input", f"{path}."), namespace)
    arguments = required_str(item, "arguments", f"{path}.")
    return function_call(call_id, name, arguments, namespace)


def _add_call(out: list[ChatMessage], call: ToolCall) -> None:
    """Join a call to the assistant message just before it, else start one."""
    if out and out[-1].role == "assistant":
        out[-1] = replace(out[-1], tool_calls=(*out[-1].tool_calls, call))
    else:
        out.append(ChatMessage(role="assistant", text="", tool_calls=(call,)))


def _output(item: dict[str, object], path: str) -> ChatMessage:
    """A call's output item as a tool message."""
    call_id = opt_str(item, "call_id", f"{path}.") or required_str(item, "id", f"{path}.")
    output = item.get("output")
    images: tuple[ImagePart, ...] = ()
    if isinstance(output, str):
        text = output
    elif isinstance(output, list):
        text, images = _parts(output, f"{path}.output")
    elif output is None:
        raise missing(f"{path}.output")
    else:
        raise type_error(f"{path}.output", "a string or an array of content parts", output)
    return ChatMessage(role="tool", text=text, images=images, tool_call_id=call_id)
