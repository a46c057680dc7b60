"""The gateway's internal request: what every API face produces and the service answers.

Face-neutral: each face (OpenAI chat completions today, Anthropic messages and Responses later)
validates its own body and maps it onto a ``CompletionRequest``; presentation options (streaming,
usage chunks, limits the face enforces) stay with the face.

Frozen dataclasses: they cross module boundaries (api -> service -> conversations -> qwen
payloads), so they are immutable and typed, never loose dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["system", "developer", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image the client attached: an http(s) URL, or its bytes as a ``data:`` URL.

    Every face makes these (OpenAI ``image_url`` parts, Anthropic ``image`` blocks, Responses
    ``input_image``; base64 sources become ``data:<type>;base64,<data>``); the service fetches,
    checks and uploads them. ``param`` names the part in the face's own terms
    (``messages[1].content[2]``), so an error about the image points at it.
    """

    url: str
    detail: str | None = None
    param: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class FilePart:
    """A document the client attached: its bytes as a ``data:`` URL, and its file name.

    Made by the faces (OpenAI ``file`` parts, Anthropic ``document`` blocks); uploaded and
    parsed upstream as a document. ``param`` as for ``ImagePart``.
    """

    data_url: str
    filename: str
    param: str | None = field(default=None, compare=False)


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
    #: documents attached to a user message
    files: tuple[FilePart, ...] = ()


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
