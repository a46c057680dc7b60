"""A validated Anthropic Messages request, and the internal request it produces."""

from __future__ import annotations

from dataclasses import dataclass, field

from qwen_proxy.api.anthropic.tools import AnthropicTools
from qwen_proxy.messages import ChatMessage, CompletionRequest

#: how the ids of ``tool_use`` blocks begin (the service mints them so)
TOOL_USE_PREFIX = "toolu_"


@dataclass(frozen=True, slots=True)
class AnthropicRequest:
    """A validated ``POST /v1/messages`` (or ``count_tokens``) body: the service's part is
    ``completion()``; streaming, limits and what to report are how the face answers."""

    #: the client's model name (a Claude name is mapped to a Qwen model by the face)
    model: str
    #: the system prompt first (when given), then the conversation
    messages: tuple[ChatMessage, ...]
    #: required on /v1/messages; None only for count_tokens
    max_tokens: int | None
    stream: bool = False
    stop_sequences: tuple[str, ...] = ()
    #: reasoning asked on (enabled, adaptive) or off (disabled); None when not asked
    thinking: bool | None = None
    #: False when the client asked for thinking with ``display: "omitted"``
    show_thinking: bool = True
    #: the tool definitions, the choice, and whether web search was offered
    tools: AnthropicTools = field(default_factory=AnthropicTools)
    #: names of accepted parameters the upstream cannot apply (reported to the client)
    ignored_params: tuple[str, ...] = ()

    def completion(self, model: str) -> CompletionRequest:
        """The internal request the service runs, for the Qwen ``model`` the name maps to."""
        tools = self.tools
        return CompletionRequest(
            model=model,
            messages=self.messages,
            thinking=self.thinking,
            web_search=tools.web_search,
            tools=tools.definitions,
            tool_choice=tools.choice,
            parallel_tool_calls=tools.parallel,
            call_id_prefix=TOOL_USE_PREFIX,
        )
