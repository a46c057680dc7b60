"""A validated Responses request, and the internal request it produces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qwen_proxy.messages import ChatMessage, CompletionRequest

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
    #: tool definitions and choice as sent (the tool layer reads them)
    tools: tuple[dict[str, Any], ...] = ()
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
        return CompletionRequest(
            model=self.model,
            messages=(*system, *history, *self.input),
            thinking=self.thinking,
        )


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
