"""A validated Responses request, and the internal request it produces."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qwen_proxy.api.responses.tools import ResponsesTools
from qwen_proxy.messages import ChatMessage, CompletionRequest, ResponseFormat

#: ``reasoning.effort`` values that turn thinking on (lower ones turn it off)
_THINKING_EFFORTS = ("medium", "high", "xhigh")


@dataclass(frozen=True, slots=True)
class ResponsesRequest:
    """A validated ``POST /v1/responses`` body: the service's part is ``completion()``, the
    rest is how the face answers (and what the response object echoes back)."""

    model: str
    #: the turn's input items as messages (``instructions`` not included)
    input: tuple[ChatMessage, ...]
    instructions: str | None = None
    previous_response_id: str | None = None
    store: bool = True
    stream: bool = False
    max_output_tokens: int | None = None
    reasoning_effort: str | None = None
    reasoning_summary: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    #: ``text.format`` as sent (the structured-output layer reads it); None for plain text
    text_format: dict[str, Any] | None = None
    #: tool definitions and choice as sent (echoed in the response object)
    tools: tuple[dict[str, Any], ...] = ()
    #: the tools as the functions the tool layer offers, and how each maps back
    tooling: ResponsesTools = field(default_factory=ResponsesTools)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool = True
    metadata: dict[str, Any] | None = None
    user: str | None = None
    #: names of accepted parameters the upstream cannot apply (reported to the client)
    ignored_params: tuple[str, ...] = ()

    @property
    def thinking(self) -> bool | None:
        """Reasoning on or off as ``reasoning.effort`` asks; None when it asks nothing."""
        if self.reasoning_effort is None:
            return None
        return self.reasoning_effort in _THINKING_EFFORTS

    def completion(self, history: Sequence[ChatMessage] = ()) -> CompletionRequest:
        """The internal request: the instructions as the system message, then ``history``
        (the stored conversation ``previous_response_id`` names), then this turn's input."""
        system = (ChatMessage(role="system", text=self.instructions),) if self.instructions else ()
        tooling = self.tooling
        return CompletionRequest(
            model=self.model,
            messages=(*system, *history, *self.input),
            thinking=self.thinking,
            web_search=tooling.web_search,
            tools=tooling.definitions,
            tool_choice=tooling.choice,
            parallel_tool_calls=tooling.parallel,
            response_format=response_format(self.text_format),
        )


def response_format(text_format: Mapping[str, Any] | None) -> ResponseFormat:
    """``text.format`` (flat: ``{type, name, schema, strict}``) as the reply's format."""
    if text_format is None or text_format.get("type") != "json_schema":
        return ResponseFormat.from_openai(text_format)
    spec = {k: text_format.get(k) for k in ("name", "description", "schema", "strict")}
    return ResponseFormat.from_openai({"type": "json_schema", "json_schema": spec})


def response_base(request: ResponsesRequest, response_id: str, created_at: int) -> dict[str, Any]:
    """The response object's fields that echo the request (status and output come later)."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": "in_progress",
        "error": None,
        "incomplete_details": None,
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "model": request.model,
        "output": [],
        "parallel_tool_calls": request.parallel_tool_calls,
        "previous_response_id": request.previous_response_id,
        "reasoning": {"effort": request.reasoning_effort, "summary": request.reasoning_summary},
        "store": request.store,
        "temperature": 1.0 if request.temperature is None else request.temperature,
        "text": {"format": request.text_format or {"type": "text"}},
        "tool_choice": request.tool_choice or "auto",
        "tools": list(request.tools),
        "top_p": 1.0 if request.top_p is None else request.top_p,
        "truncation": "disabled",
        "usage": None,
        "user": request.user,
        "metadata": request.metadata or {},
    }
