"""What the model is told: the tool definitions, the per-message reminder, the corrections.

Two texts with different lifetimes:

* :func:`tools_prompt` (definitions and calling rules) depends on the tool set only. It goes
  with the system text of a chat's first message, so it is identical on every turn and the
  chat can be continued natively.
* :func:`turn_reminder` is a short line appended to every new message: in a long agent chat
  the definitions sit far back and the newest message is usually a tool result, so the model
  needs the syntax and the request's ``tool_choice``/``parallel_tool_calls`` said again, right
  where it reads last. It is where the per-request choices live, so they may change per turn.
"""

from __future__ import annotations

from collections.abc import Sequence

from qwen_proxy.tools.schema_text import parameters_text
from qwen_proxy.tools.syntax import CALL_CLOSE, CALL_OPEN, RESULT_TAG
from qwen_proxy.tools.toolset import ToolChoice, ToolSet, ToolSpec

TOOLS_HEADER = "# Tools"
TOOLS_LIST_HEADER = "## Available tools"

_RULES = f"""\
{TOOLS_HEADER}

You can call the tools listed below. To call a tool, write a block like this on its own lines:

{CALL_OPEN}
{{"name": "TOOL_NAME", "arguments": {{"PARAMETER": "VALUE"}}}}
{CALL_CLOSE}

Rules for calling:
- Write the block exactly like that, as plain text: no code fence around it, never \
<tool_call>, and no built-in tool of your own. The tools below are the only tools you have.
- "name" is one of the tool names below. "arguments" is one JSON object with the tool's \
parameters; every value keeps its JSON type, and a text value is a JSON string even when it \
holds code or JSON (escape quotes and newlines).
- To call several tools at once, write one block per call, one after another. Never repeat \
the same call in one reply.
- After your call blocks, stop writing. Each result comes back in a later message as \
<{RESULT_TAG} id="..." name="TOOL_NAME">...</{RESULT_TAG}>. Never write a result yourself \
and never guess what it would say.
- When no tool is needed, answer normally, without any block."""


def tool_definition(spec: ToolSpec) -> str:
    """One tool's section: its name as the model sees it, description, parameters."""
    parts = [f"### {spec.alias}"]
    if spec.description.strip():
        parts.append(spec.description.strip())
    parts.append(parameters_text(spec.parameters))
    return "\n".join(parts)


def tools_prompt(tools: ToolSet) -> str:
    """The definitions and calling rules, sent once with the chat's system text."""
    sections = [_RULES, TOOLS_LIST_HEADER, *(tool_definition(s) for s in tools.specs)]
    return "\n\n".join(sections)


def choice_line(tools: ToolSet, choice: ToolChoice, *, parallel: bool = True) -> str:
    """The sentence that says whether this reply may, must or must not call a tool."""
    if choice.mode == "none":
        return "Do not call any tool in this reply; answer in text."
    if choice.mode == "function" and choice.name:
        return f"You must call the tool {tools.alias_of(choice.name)} in this reply."
    line = (
        "You must call at least one tool in this reply."
        if choice.mode == "required"
        else "Call a tool only when you need one; otherwise answer in text."
    )
    if not parallel:
        line += " Call at most one tool in this reply."
    return line


def turn_reminder(tools: ToolSet, choice: ToolChoice, *, parallel: bool = True) -> str:
    """The short reminder appended to each new message of a chat with tools."""
    if choice.mode == "none":
        return f"[Tools: {choice_line(tools, choice)}]"
    names = ", ".join(spec.alias for spec in tools.specs)
    return (
        f'[Tools: to call one, write {CALL_OPEN}{{"name": ..., "arguments": {{...}}}}{CALL_CLOSE}'
        f" (one block per call), then stop. Tools: {names}. "
        f"{choice_line(tools, choice, parallel=parallel)}]"
    )


def correction(problems: Sequence[str], tools: ToolSet, choice: ToolChoice) -> str:
    """The hidden follow-up message of the one corrective retry, naming what went wrong.

    ``problems`` are the ``detail`` of the reply's retryable problems, empty when the reply
    simply made no call although ``choice`` demanded one.
    """
    if choice.mode == "none":
        return (
            "Your last reply called a tool, but no tool may be called now. Reply again in "
            "text only, without any block."
        )
    what = "; ".join(problems) if problems else "it made no tool call"
    names = ", ".join(spec.alias for spec in tools.specs)
    demand = choice_line(tools, choice)
    return (
        f"Your last reply could not be used: {what}. Reply again now. Write each call as "
        f'{CALL_OPEN}{{"name": "TOOL_NAME", "arguments": {{...}}}}{CALL_CLOSE} with complete '
        f"JSON, using only these tools: {names}. {demand}"
    )
