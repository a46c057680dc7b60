"""Tool calling and structured output over a chat that knows neither (pure, face-independent).

The service drives it; the faces only translate :class:`Call` and :class:`Problem` into their
wire shapes. For one request with tools:

1. ``tools = ToolSet.from_openai(request.tools)``, ``choice = parse_tool_choice(...)``;
   mix :func:`tool_set_digest` into the conversation's identity.
2. Upstream text: :func:`tools_prompt` with the system text of a new chat,
   :func:`rewrite_history` over the messages, :func:`turn_reminder` after the new message.
3. Reply: one :class:`Sieve` for the answer (and one for reasoning); ``feed`` each delta,
   ``close`` at the end; :class:`Text` goes out as content, :class:`Call` as a tool call.
4. No call although ``choice.demands_call``, or a retryable :class:`Problem`: one hidden
   retry with :func:`correction`.

Structured output: :class:`ResponseFormat`, :func:`format_instruction`, :func:`check_reply`,
:func:`structured_correction`.
"""

from qwen_proxy.tools.history import capped, render_assistant, render_tool_result, rewrite_history
from qwen_proxy.tools.prompt import correction, tools_prompt, turn_reminder
from qwen_proxy.tools.sieve import Call, Event, Problem, Sieve, Split, Text, split_reply
from qwen_proxy.tools.structured import Checked, ResponseFormat, check_reply, format_instruction
from qwen_proxy.tools.structured import correction as structured_correction
from qwen_proxy.tools.toolset import (
    ToolChoice,
    ToolSet,
    ToolSpec,
    parse_tool_choice,
    tool_set_digest,
)

__all__ = [
    "Call",
    "Checked",
    "Event",
    "Problem",
    "ResponseFormat",
    "Sieve",
    "Split",
    "Text",
    "ToolChoice",
    "ToolSet",
    "ToolSpec",
    "capped",
    "check_reply",
    "correction",
    "format_instruction",
    "parse_tool_choice",
    "render_assistant",
    "render_tool_result",
    "rewrite_history",
    "split_reply",
    "structured_correction",
    "tool_set_digest",
    "tools_prompt",
    "turn_reminder",
]
