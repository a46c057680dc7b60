"""Tool calling and structured output over a chat that knows neither (pure, face-independent).

The service drives it; the faces only translate :class:`Call` and :class:`Problem` into their
wire shapes. For one request with tools:

1. ``tools = ToolSet.from_openai(request.tools)``, ``choice = parse_tool_choice(...)``;
   mix :func:`tool_set_digest` into the conversation's identity.
2. Upstream text: :func:`tools_prompt` with the system text of a new chat,
   the history in the block syntax, :func:`turn_reminder` after the new message.
3. Reply: one :class:`Sieve` for the answer (and one for reasoning); ``feed`` each delta,
   ``close`` at the end; :class:`Text` goes out as content, :class:`Call` as a tool call.
4. No call although ``choice.demands_call``, or a retryable :class:`Problem`: one hidden
   retry with :func:`correction`.
"""

from qwen_proxy.tools.prompt import correction, tools_prompt, turn_reminder
from qwen_proxy.tools.sieve import Call, Event, Problem, Sieve, Split, Text, split_reply
from qwen_proxy.tools.toolset import (
    ToolChoice,
    ToolSet,
    ToolSpec,
    parse_tool_choice,
    tool_set_digest,
)

__all__ = [
    "Call",
    "Event",
    "Problem",
    "Sieve",
    "Split",
    "Text",
    "ToolChoice",
    "ToolSet",
    "ToolSpec",
    "correction",
    "parse_tool_choice",
    "split_reply",
    "tool_set_digest",
    "tools_prompt",
    "turn_reminder",
]
