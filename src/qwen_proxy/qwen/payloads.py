"""Request bodies for Qwen's web API v2, built as the web app builds them (docs/upstream.md).

Since autumn 2026 the completion route validates the body strictly: it names the chat and the
parent in both spellings (``chatId``/``chat_id``, ``parentId``/``parent_id``), and the message
carries every field the web app sends (``id: null``, ``files: []``, ...). Pure: ids and clocks
come in as arguments, so the same inputs always give the same body.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

COMPLETIONS_PATH = "/api/v2/chat/completions"


def new_chat_body(
    model: str, *, chat_type: str = "t2t", now_ms: int, chat_mode: str = "normal"
) -> dict[str, Any]:
    """Body of ``POST /api/v2/chats/new``; ``now_ms`` is the clock in milliseconds."""
    return {
        "title": "New Chat",
        "models": [model],
        "chat_mode": chat_mode,
        "chat_type": chat_type,
        "timestamp": now_ms,
        "project_id": "",
    }


def feature_config(
    *, thinking: bool, thinking_format: str = "summary", auto_search: bool = False
) -> dict[str, Any]:
    """The message's ``feature_config``; native tools stay off (they make Qwen fail)."""
    return {
        # Without "phase" the stream carries no phase and routing answer/reasoning breaks.
        "output_schema": "phase",
        "thinking_enabled": thinking,
        "thinking_mode": "Thinking" if thinking else "Fast",
        "auto_thinking": False,
        "thinking_format": thinking_format,
        "research_mode": "normal",
        "auto_search": auto_search,
        "code_interpreter": False,
        "plugins_enabled": False,
        "function_calling": False,
        "enable_tools": False,
        "enable_function_call": False,
        "tool_choice": "none",
    }


def completion_body(
    *,
    chat_id: str,
    model: str,
    parent_id: str | None,
    content: str | list[dict[str, Any]],
    fid: str,
    child_id: str,
    now_s: int,
    chat_type: str = "t2t",
    thinking: bool = False,
    thinking_format: str = "summary",
    files: list[dict[str, Any]] | None = None,
    auto_search: bool | None = None,
    chat_mode: str = "normal",
    size: str | None = None,
) -> dict[str, Any]:
    """Body of ``POST /api/v2/chat/completions`` with one new user message.

    ``parent_id`` is None for a chat's first turn, else the node to continue from;
    ``auto_search`` defaults to on only for the ``search`` chat type; ``size`` is an image
    turn's aspect ratio (``t2i``, ``image_edit``), sent on the body, the message and its meta.
    """
    if auto_search is None:
        auto_search = chat_type == "search"
    meta: dict[str, Any] = {"subChatType": chat_type}
    message: dict[str, Any] = {
        # the web app leaves the message id to the server
        "id": None,
        "fid": fid,
        "parentId": parent_id,
        "childrenIds": [child_id],
        "role": "user",
        "content": content,
        "user_action": "chat",
        "files": list(files) if files else [],
        "timestamp": now_s,
        "models": [model],
        "chat_type": chat_type,
        "feature_config": feature_config(
            thinking=thinking, thinking_format=thinking_format, auto_search=auto_search
        ),
        "extra": {"meta": meta},
        "sub_chat_type": chat_type,
        "parent_id": parent_id,
    }
    if size is not None:
        message["size"] = size
        meta["size"] = size
    body: dict[str, Any] = {
        "stream": True,
        "version": "2.1",
        "incremental_output": True,
        "chat_id": chat_id,
        "chatId": chat_id,
        "chat_mode": chat_mode,
        "model": model,
        "parent_id": parent_id,
        "parentId": parent_id,
        "messages": [message],
        "timestamp": now_s,
    }
    if size is not None:
        body["size"] = size
    return body


def completion_url(base_url: str, chat_id: str) -> str:
    """URL of the completions endpoint for ``chat_id`` (``base_url`` may be "" for a path)."""
    return f"{base_url.rstrip('/')}{COMPLETIONS_PATH}?chat_id={quote(chat_id, safe='')}"
