"""An Anthropic ``system`` and ``messages`` as the gateway's messages, the same ones an OpenAI
client sending the same conversation produces (so both reach the same conversation node).

- ``system`` (a string, or text blocks joined by a newline) is the first message, role system;
- text blocks of one message are joined by a newline, as OpenAI content parts are;
- ``image`` and ``document`` blocks are attachments (``attachments`` says how);
- ``thinking`` and ``redacted_thinking`` blocks are dropped: reasoning is never sent upstream;
- ``tool_use`` blocks are the assistant's tool calls (``input`` as JSON arguments); a user
  message's ``tool_result`` blocks become tool messages before the rest of its content, the
  order an OpenAI client sends them in; a result marked ``is_error`` says so in its text, so
  the model reads that the call failed, and a ``tool_reference`` in a result says the tool is
  loaded;
- empty text blocks carry nothing and are skipped.
"""

from __future__ import annotations

import orjson

from qwen_proxy.api.anthropic.attachments import parse_document, parse_image
from qwen_proxy.api.anthropic.fields import (
    missing,
    one_of,
    opt_bool,
    opt_object,
    problem,
    req_str,
    wrong_type,
)
from qwen_proxy.messages import ChatMessage, FilePart, ImagePart, Role, ToolCall

_ROLES: dict[str, Role] = {"user": "user", "assistant": "assistant"}
_DROPPED = frozenset({"thinking", "redacted_thinking"})
_RESULT_PARTS = ("text", "image", "tool_reference")
_USER_BLOCKS = ("text", "image", "document", "tool_result")
#: what starts the text of a result the client marked ``is_error``
ERROR_MARK = "Error: "
_ASSISTANT_BLOCKS = ("text", "thinking", "redacted_thinking", "tool_use")


def parse_system(value: object) -> ChatMessage | None:
    """The system prompt as a message; None when there is none (or it is empty)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, list):
        texts = []
        for i, block in enumerate(value):
            path = f"system.{i}"
            if not isinstance(block, dict):
                raise wrong_type(path, "a valid dictionary", block)
            if block.get("type") != "text":
                raise one_of(f"{path}.type", block.get("type"), ("text",))
            texts.append(req_str(block, "text", f"{path}."))
        text = "\n".join(t for t in texts if t)
    else:
        raise wrong_type("system", "a valid string or a list of text blocks", value)
    return ChatMessage(role="system", text=text) if text else None


def parse_messages(value: object) -> list[ChatMessage]:
    """The conversation's messages (tool results split out as tool messages)."""
    if value is None:
        raise missing("messages")
    if not isinstance(value, list):
        raise wrong_type("messages", "a valid list", value)
    if not value:
        raise problem("messages", "at least one message is required")
    out: list[ChatMessage] = []
    for i, item in enumerate(value):
        path = f"messages.{i}"
        if not isinstance(item, dict):
            raise wrong_type(path, "a valid dictionary", item)
        raw_role = item.get("role")
        role = _ROLES.get(raw_role) if isinstance(raw_role, str) else None
        if role is None:
            if raw_role is None:
                raise missing(f"{path}.role")
            raise one_of(f"{path}.role", raw_role, tuple(_ROLES))
        content = item.get("content")
        if content is None:
            raise missing(f"{path}.content")
        if isinstance(content, str):
            out.append(ChatMessage(role=role, text=content))
        elif isinstance(content, list):
            out.extend(_blocks(role, content, f"{path}.content"))
        else:
            raise wrong_type(f"{path}.content", "a valid string or a list of blocks", content)
    return out


def _blocks(role: Role, blocks: list[object], path: str) -> list[ChatMessage]:
    allowed = _USER_BLOCKS if role == "user" else _ASSISTANT_BLOCKS
    texts: list[str] = []
    images: list[ImagePart] = []
    files: list[FilePart] = []
    calls: list[ToolCall] = []
    results: list[ChatMessage] = []
    for j, block in enumerate(blocks):
        where = f"{path}.{j}"
        if not isinstance(block, dict):
            raise wrong_type(where, "a valid dictionary", block)
        kind = block.get("type")
        if kind not in allowed:
            raise _bad_block(kind, f"{where}.type", allowed)
        if kind == "text":
            text = req_str(block, "text", f"{where}.")
            if text:
                texts.append(text)
        elif kind in _DROPPED:
            continue
        elif kind == "image":
            images.append(parse_image(block, where))
        elif kind == "document":
            files.append(parse_document(block, where))
        elif kind == "tool_use":
            calls.append(_tool_use(block, where))
        else:
            results.append(_tool_result(block, where))
    out = results
    if role == "assistant" or texts or images or files or not results:
        out.append(
            ChatMessage(
                role=role,
                text="\n".join(texts),
                images=tuple(images),
                tool_calls=tuple(calls),
                files=tuple(files),
            )
        )
    return out


def _bad_block(kind: object, path: str, allowed: tuple[str, ...]) -> Exception:
    if kind is None:
        return missing(path)
    if isinstance(kind, str) and kind in ("search_result", "container_upload"):
        return problem(path, f"'{kind}' blocks are not supported by this gateway")
    return one_of(path, kind, allowed)


def _tool_use(block: dict[str, object], path: str) -> ToolCall:
    call_id = req_str(block, "id", f"{path}.")
    name = req_str(block, "name", f"{path}.")
    arguments = opt_object(block, "input", f"{path}.")
    return ToolCall(id=call_id, name=name, arguments=orjson.dumps(arguments or {}).decode())


def _tool_result(block: dict[str, object], path: str) -> ChatMessage:
    call_id = req_str(block, "tool_use_id", f"{path}.")
    failed = opt_bool(block, "is_error", f"{path}.")
    content = block.get("content")
    texts: list[str] = []
    images: list[ImagePart] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, part in enumerate(content):
            where = f"{path}.content.{k}"
            if not isinstance(part, dict):
                raise wrong_type(where, "a valid dictionary", part)
            if part.get("type") == "text":
                texts.append(req_str(part, "text", f"{where}."))
            elif part.get("type") == "image":
                images.append(parse_image(part, where))
            elif part.get("type") == "tool_reference":
                # the named (deferred) tool is offered from now on: tell the model
                texts.append(f"Tool loaded: {req_str(part, 'tool_name', f'{where}.')}")
            else:
                raise one_of(f"{where}.type", part.get("type"), _RESULT_PARTS)
    elif content is not None:
        raise wrong_type(f"{path}.content", "a valid string or a list of blocks", content)
    text = "\n".join(texts)
    if failed:
        text = ERROR_MARK + text if text else ERROR_MARK.rstrip(": ")
    return ChatMessage(role="tool", text=text, images=tuple(images), tool_call_id=call_id)
