"""Tool calling and structured output over a chat that knows neither (pure, face-independent).

The service drives it; the faces only turn :class:`Text` and :class:`Call` into their wire
shapes. For one request with tools:

1. ``tools = ToolSet.from_openai(request.tools)``, ``choice = parse_tool_choice(...)``;
   mix :func:`tool_set_digest` into the conversation's identity.
2. Upstream text: :func:`tools_prompt` with the system text of a new chat,
   :func:`rewrite_history` over the messages, :func:`turn_reminder` after the new message.
3. Reply: one :class:`Sieve` for the answer and one for the reasoning; ``feed`` each delta,
   ``close`` at the end; :class:`Text` goes out as content (or reasoning), :class:`Call` as a
   tool call; :func:`pick_calls` prefers the answer's calls over the reasoning's.
4. :func:`needs_retry`: one hidden retry with :func:`correction` (built from the retryable
   :class:`Problem` details).

Structured output: :class:`ResponseFormat`, :func:`format_instruction`, :func:`check_reply`,
:func:`structured_correction`.
"""

from qwen_proxy.messages import ResponseFormat, ToolChoice
from qwen_proxy.tools.events import Call, Event, Problem, Text
from qwen_proxy.tools.history import capped, render_assistant, render_tool_result, rewrite_history
from qwen_proxy.tools.prompt import correction, tools_prompt, turn_reminder
from qwen_proxy.tools.reply import Split, needs_retry, pick_calls, split_reply
from qwen_proxy.tools.sieve import Sieve
from qwen_proxy.tools.structured import Checked, check_reply, format_instruction
from qwen_proxy.tools.structured import correction as structured_correction
from qwen_proxy.tools.toolset import (
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
    "needs_retry",
    "parse_tool_choice",
    "pick_calls",
    "render_assistant",
    "render_tool_result",
    "rewrite_history",
    "split_reply",
    "structured_correction",
    "tool_set_digest",
    "tools_prompt",
    "turn_reminder",
]
