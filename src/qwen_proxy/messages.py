"""The gateway's internal request: what every API face produces and the service answers.

Face-neutral: each face (OpenAI chat completions today, Anthropic messages and Responses later)
validates its own body and maps it onto a ``CompletionRequest``; presentation options (streaming,
usage chunks, limits the face enforces) stay with the face.

Frozen dataclasses: they cross module boundaries (api -> service -> conversations -> qwen
payloads), so they are immutable and typed, never loose dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
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
class CompletionRequest:
    """One completion to run, whichever face it came through."""

    #: the client's model name (suffixes such as ``-thinking`` included)
    model: str
    messages: tuple[ChatMessage, ...]
    #: reasoning asked on (True) or off (False); None leaves it to the model
    thinking: bool | None = None
    #: answer with web search
    web_search: bool = False
