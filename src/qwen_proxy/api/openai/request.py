"""A validated OpenAI chat completions request, and the internal request it produces."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from qwen_proxy.messages import (
    ChatMessage,
    CompletionRequest,
    ResponseFormat,
    ToolDefinition,
)
from qwen_proxy.tools import parse_tool_choice

#: ``reasoning_effort`` values that turn thinking on (lower ones turn it off)
_THINKING_EFFORTS = ("medium", "high", "xhigh")


@dataclass(frozen=True, slots=True)
class OpenAIChatRequest:
    """A validated ``POST /v1/chat/completions`` body: the service's part is ``completion()``,
    the rest (streaming, usage, limits, what to report) is how the OpenAI face answers."""

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
    parallel_tool_calls: bool | None = None
    response_format: dict[str, object] | None = None
    #: the tools came as the legacy ``functions`` (answered with ``function_call``)
    legacy_functions: bool = False
    reasoning_effort: str | None = None
    enable_thinking: bool | None = None
    web_search: bool = False
    #: names of accepted parameters the upstream cannot apply (reported to the client)
    ignored_params: tuple[str, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def thinking(self) -> bool | None:
        """Reasoning on or off as the request asks: Qwen's ``enable_thinking`` first, then
        OpenAI's ``reasoning_effort``; None when it asks nothing."""
        if self.enable_thinking is not None:
            return self.enable_thinking
        if self.reasoning_effort is not None:
            return self.reasoning_effort in _THINKING_EFFORTS
        return None

    def completion(self) -> CompletionRequest:
        """The internal request the service runs."""
        return CompletionRequest(
            model=self.model,
            messages=self.messages,
            thinking=self.thinking,
            web_search=self.web_search,
            tools=tuple(_definition(tool) for tool in self.tools),
            tool_choice=parse_tool_choice(self.tool_choice),
            # a legacy function_call carries one call
            parallel_tool_calls=self.parallel_tool_calls is not False and not self.legacy_functions,
            response_format=ResponseFormat.from_openai(self.response_format),
        )


def _definition(tool: Mapping[str, object]) -> ToolDefinition:
    function = tool.get("function", tool)
    assert isinstance(function, Mapping)  # validated
    parameters = function.get("parameters")
    return ToolDefinition(
        name=str(function["name"]),
        description=str(function.get("description") or ""),
        parameters=parameters if isinstance(parameters, Mapping) else {},
    )
