"""The upstream request for one attempt: thinking on or off, the chat type, the message body."""

from __future__ import annotations

import uuid
from typing import Any

from qwen_proxy.messages import CompletionRequest
from qwen_proxy.qwen.payloads import completion_body
from qwen_proxy.service.models import ResolvedModel
from qwen_proxy.service.plan import Plan


def thinking_for(request: CompletionRequest, model: ResolvedModel) -> bool:
    """Thinking on or off: a thinking-only model, then the model name's suffix, then the
    request's choice; off when nothing asks for it."""
    if model.upstream.thinking_only:
        return True
    if model.thinking is not None:
        return model.thinking
    if request.thinking is not None:
        return request.thinking
    return False


def chat_type(request: CompletionRequest, model: ResolvedModel) -> str:
    """The upstream chat type: "search" when the model name or the request asks for the web,
    unless the request has tools (a searching model answers from the web instead of calling
    them, and the client's tools are the only ones it may use)."""
    if request.tools:
        return "t2t"
    return "search" if model.search or request.web_search else "t2t"


def attempt_body(
    request: CompletionRequest,
    model: ResolvedModel,
    plan: Plan,
    *,
    chat_id: str,
    thinking: bool,
    thinking_format: str,
    now: float,
    files: list[dict[str, Any]] | None = None,
    content: str | None = None,
) -> dict[str, Any]:
    """The completion body for ``plan`` in ``chat_id``: the plan's text (or ``content`` in its
    place), the uploaded attachments' ``files`` entries, and a continued chat's parent."""
    return turn_body(
        request,
        model,
        chat_id=chat_id,
        parent_id=plan.node.parent_id if plan.node is not None else None,
        content=plan.content if content is None else content,
        thinking=thinking,
        thinking_format=thinking_format,
        now=now,
        files=files,
    )


def turn_body(
    request: CompletionRequest,
    model: ResolvedModel,
    *,
    chat_id: str,
    parent_id: str | None,
    content: str,
    thinking: bool,
    thinking_format: str,
    now: float,
    files: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The completion body of one user turn in ``chat_id`` after ``parent_id``."""
    return completion_body(
        chat_id=chat_id,
        model=model.upstream.id,
        parent_id=parent_id,
        content=content,
        files=files,
        fid=str(uuid.uuid4()),
        child_id=str(uuid.uuid4()),
        now_s=int(now),
        chat_type=chat_type(request, model),
        thinking=thinking,
        thinking_format=thinking_format,
    )
