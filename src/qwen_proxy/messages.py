"""The gateway's own view of an OpenAI chat request, after validation.

Frozen dataclasses: they cross module boundaries (api -> conversations -> qwen payloads), so
they are immutable and typed, never loose dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["system", "developer", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image the client attached (``image_url`` content part): an http(s) or data: URL."""

    url: str
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call an assistant message made."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of the history. ``text`` is the content's text parts joined with "\\n"."""

    role: Role
    text: str
    images: tuple[ImagePart, ...] = ()
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    #: reasoning text a client echoed back; never part of the conversation's identity
    reasoning: str | None = None


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A validated ``POST /v1/chat/completions`` body."""

    model: str
    messages: tuple[ChatMessage, ...]
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    n: int = 1
    temperature: float | None = None
    top_p: float | None = None
    user: str | None = None
    tools: tuple[dict[str, object], ...] = ()
    tool_choice: str | dict[str, object] | None = None
    reasoning_effort: str | None = None
    enable_thinking: bool | None = None
    web_search: bool = False
    #: names of accepted parameters the upstream cannot apply (reported to the client)
    ignored_params: tuple[str, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)
