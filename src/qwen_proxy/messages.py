"""The gateway's internal request: what every API face produces and the service answers.

Face-neutral: each face (OpenAI chat completions today, Anthropic messages and Responses later)
validates its own body and maps it onto a ``CompletionRequest``; presentation options (streaming,
usage chunks, limits the face enforces) stay with the face.

Frozen dataclasses: they cross module boundaries (api -> service -> conversations -> qwen
payloads), so they are immutable and typed, never loose dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "developer", "user", "assistant", "tool"]
ChoiceMode = Literal["none", "auto", "required", "function"]
FormatKind = Literal["text", "json_object", "json_schema"]


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
class ToolDefinition:
    """A function the client offers the model: its name, what it does, its JSON schema."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The definition as one JSON object (the same whichever face it came through)."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """What the request allows or demands: ``function`` names the one tool to call."""

    mode: ChoiceMode = "auto"
    name: str | None = None

    @property
    def demands_call(self) -> bool:
        """Whether a reply without a call breaks the request's contract."""
        return self.mode in ("required", "function")


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """The reply's required shape: text, any JSON object, or JSON following ``schema``."""

    kind: FormatKind = "text"
    name: str = ""
    description: str = ""
    schema: Mapping[str, Any] | None = None
    strict: bool = False

    @classmethod
    def from_openai(cls, value: object) -> ResponseFormat:
        """From a validated OpenAI ``response_format`` (None or unknown means text)."""
        if not isinstance(value, Mapping):
            return cls()
        kind = value.get("type")
        if kind == "json_object":
            return cls("json_object")
        if kind != "json_schema":
            return cls()
        spec = value.get("json_schema")
        spec = spec if isinstance(spec, Mapping) else {}
        schema = spec.get("schema")
        return cls(
            "json_schema",
            name=str(spec.get("name") or ""),
            description=str(spec.get("description") or ""),
            schema=schema if isinstance(schema, Mapping) else {},
            strict=spec.get("strict") is True,
        )

    @property
    def wants_json(self) -> bool:
        """Whether the reply must be JSON."""
        return self.kind != "text"


TEXT = ResponseFormat()


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
    #: functions the model may call (empty: a plain chat, served exactly as without tools)
    tools: tuple[ToolDefinition, ...] = ()
    tool_choice: ToolChoice = ToolChoice()
    #: several calls in one reply allowed
    parallel_tool_calls: bool = True
    response_format: ResponseFormat = TEXT
    #: how the ids of the reply's calls begin, in the face's style (``toolu_`` for Anthropic):
    #: the service mints them, so the ids the client echoes back are the ids it recorded
    call_id_prefix: str = "call_"
