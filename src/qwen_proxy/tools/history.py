"""Past tool calls and their results, written back in the block syntax the model knows.

An assistant message's ``tool_calls`` become ``<qp:call id="...">`` blocks after its text; a
``role: tool`` message becomes a user message holding one ``<qp:result id="..." name="...">``
block (a web chat has no tool role, and the model reads results as something it was told).
Tool names are shown as the model knows them (aliases), arguments re-serialised from their
JSON, so the same message always renders to the same text: a folded history and a continued
chat read the same way, and the canonical form (which keeps the original fields) is untouched.

Huge results are capped: the head and the tail are kept around a marker saying how much was
left out, since an agent's tool output (a build log, a file) usually matters at both ends.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from qwen_proxy.conversations.canonical import without_reasoning
from qwen_proxy.messages import ChatMessage, ToolCall
from qwen_proxy.tools.syntax import render_call, render_result
from qwen_proxy.tools.toolset import ToolSet

#: characters of one tool result kept before it is capped (head + tail)
RESULT_CAP: Final = 32_000
#: share of a capped result kept from its head; the rest comes from its tail
HEAD_SHARE: Final = 0.75


def capped(text: str, limit: int = RESULT_CAP) -> str:
    """``text`` itself, or its head and tail around a marker when it is longer than ``limit``."""
    if len(text) <= limit:
        return text
    head = int(limit * HEAD_SHARE)
    tail = limit - head
    left_out = len(text) - head - tail
    return f"{text[:head]}\n[... {left_out} characters left out ...]\n{text[len(text) - tail :]}"


def _arguments(call: ToolCall) -> object:
    try:
        return json.loads(call.arguments)
    except ValueError:
        return call.arguments.strip()


def render_calls(calls: Sequence[ToolCall], tools: ToolSet) -> str:
    """The blocks of an assistant message's calls, one after another."""
    return "\n".join(render_call(tools.alias_of(c.name), _arguments(c), c.id) for c in calls)


def render_assistant(message: ChatMessage, tools: ToolSet) -> str:
    """An assistant message's text (reasoning dropped) followed by its call blocks."""
    text = without_reasoning(message.text).strip()
    if not message.tool_calls:
        return text
    blocks = render_calls(message.tool_calls, tools)
    return f"{text}\n\n{blocks}" if text else blocks


def render_tool_result(
    message: ChatMessage, name: str | None, tools: ToolSet, *, limit: int = RESULT_CAP
) -> str:
    """A ``role: tool`` message as one result block (``name`` is the called tool's, if known)."""
    shown = tools.alias_of(name) if name else None
    return render_result(message.tool_call_id or "?", shown, capped(message.text.strip(), limit))


def rewrite_history(
    messages: Sequence[ChatMessage],
    tools: ToolSet,
    *,
    earlier: Sequence[ChatMessage] = (),
    limit: int = RESULT_CAP,
) -> tuple[ChatMessage, ...]:
    """The messages as the upstream should read them, one for one (same length and order).

    Assistant messages with calls get their blocks as text; tool results become user
    messages with a result block. ``earlier`` (messages before these, e.g. a known prefix)
    only supplies the tool names of results whose call lies there.
    """
    names = {c.id: c.name for m in (*earlier, *messages) for c in m.tool_calls}
    out = []
    for m in messages:
        if m.role == "assistant" and m.tool_calls:
            out.append(replace(m, text=render_assistant(m, tools), tool_calls=()))
        elif m.role == "tool":
            name = names.get(m.tool_call_id or "") or m.name
            text = render_tool_result(m, name, tools, limit=limit)
            out.append(ChatMessage(role="user", text=text, images=m.images))
        else:
            out.append(m)
    return tuple(out)
