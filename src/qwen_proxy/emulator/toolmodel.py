"""The emulator's model with tools: calls in every shape real models write, and result replies.

Independent of the gateway on purpose (it imports none of its code): it reads the tool
definitions the gateway puts in the prompt with its own patterns, and writes each call shape
with its own renderer, so the gateway's parser is checked against a second reading of the
protocol rather than against itself.

Tools are on when a message of the branch holds the definitions (a ``# Tools`` section whose
``## Available tools`` lists ``### NAME`` headings and ``- param (type, required)`` lines).
Then, for the last message (first rule that applies wins):

1. It holds tool results (``<qp:result id="..." name="...">...</qp:result>``) and nothing but
   the reminder after the last one: the answer is one line per result,
   ``Result of NAME (ID): FIRST LINE`` (the first line cut at 60 characters), proof that the
   result was read. ``[[tools:SHAPE]]`` may still ask for another call (below).
2. The reminder says ``Do not call any tool`` (``tool_choice: none``), or the magic word is
   ``[[tools:text]]``: no call, the ordinary model answers.
3. Otherwise a call. The tool is the one named by the last ``call NAME`` in the message (its JSON
   arguments may follow: ``call read_file {"path": "a.py"}``), else the tool the reminder
   says must be called, else the first tool listed. Arguments not given are made from the
   tool's required parameters: string ``"example"``, integer 1, number 1.5, boolean true,
   array ``[]``, object ``{}``, an enum's first value (a second call uses ``"example 2"``, 2).

The shape comes from ``[[tools:SHAPE]]`` in the last message (default ``own``):

====================  =====================================================================
own                   ``<qp:call>`` block (the syntax the gateway teaches)
native                ``<tool_call>{"name", "arguments": {...}}</tool_call>``
native_string         native, with an ``id`` and the arguments as a JSON string
coder                 qwen3-coder ``<tool_call><function=N><parameter=P>v</parameter>...``
fenced                ``I will call N.`` then a fenced ```json call
bare                  ``I will call N.`` then the call as bare JSON
unclosed              ``<qp:call>`` block without its closing tag
fullwidth             full-width markers and smart quotes (argument text kept as it is)
trailing_comma        trailing commas inside the JSON
in_thinking           the block is written in the thinking (thinking forced on), no answer
cut                   the reply stops inside the block
unknown               a call to ``undefined_tool``
repeat                the same block three times
multi                 two blocks: the chosen tool, then the next tool listed (or the same
                      tool with the second arguments)
multi_block           the same two calls inside one block
example               a fenced example call followed by prose (not a call)
intercepted           what the real service answers to a native call: ``Tool N does not
                      exists.``
text                  no call (rule 2)
====================  =====================================================================
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qwen_proxy.emulator.model import Turn

#: markers of the gateway's prompt protocol, written here again on purpose (see docstring)
TOOLS_HEADER = "# Tools"
TOOLS_LIST = "## Available tools"
OPEN, CLOSE = "<qp:call>", "</qp:call>"
UNKNOWN_TOOL = "undefined_tool"
SHAPES = frozenset(
    {
        "own",
        "native",
        "native_string",
        "coder",
        "fenced",
        "bare",
        "unclosed",
        "fullwidth",
        "trailing_comma",
        "in_thinking",
        "cut",
        "unknown",
        "repeat",
        "multi",
        "multi_block",
        "example",
        "intercepted",
        "text",
    }
)
MAGIC = re.compile(r"\[\[tools:([a-z_]+)\]\]", re.IGNORECASE)
_HEADING = re.compile(r"^### (\S+)\s*$", re.MULTILINE)
_PARAM = re.compile(r"^- (\S+) \((.*)\)(?::.*)?$")
_RESULT = re.compile(
    r'<qp:result id="([^"]*)"(?: name="([^"]*)")?>\n?(.*?)\n?</qp:result>', re.DOTALL
)
_REMINDER = re.compile(r"\[Tools:.*?\]\s*$", re.DOTALL)
_CALL = re.compile(r"\bcall (\w+(?:[.-]\w+)*)[ \t]*")
_DECODER = json.JSONDecoder()
_MUST = re.compile(r"You must call the tool (\S+) in this reply")
_FULL_WIDTH = str.maketrans({"<": "＜", ">": "＞"})


@dataclass(frozen=True, slots=True)
class Param:
    """One top-level parameter as the prompt lists it."""

    name: str
    label: str
    required: bool


@dataclass(frozen=True, slots=True)
class ToolReply:
    """What the model says when tools are on: the answer, and a thought holding a call."""

    answer: str
    thought: str | None = None


def definitions(branch: Sequence[Turn]) -> dict[str, list[Param]]:
    """The tools the newest definitions in the branch list, in order, with their parameters."""
    for turn in reversed(branch):
        start = turn.text.find(TOOLS_LIST)
        if TOOLS_HEADER in turn.text and start != -1:
            return _parse_definitions(turn.text[start:])
    return {}


def _parse_definitions(text: str) -> dict[str, list[Param]]:
    tools: dict[str, list[Param]] = {}
    headings = list(_HEADING.finditer(text))
    for i, heading in enumerate(headings):
        end = headings[i + 1].start() if i + 1 < len(headings) else len(text)
        params = []
        for line in text[heading.end() : end].splitlines():
            found = _PARAM.match(line)
            if found:
                notes = found.group(2).split(", ")
                params.append(Param(found.group(1), notes[0], "required" in notes[1:]))
        tools[heading.group(1)] = params
    return tools


def example_value(label: str, n: int) -> Any:
    """A value of the type a parameter line names (``n`` picks the first or second set)."""
    first = label.split(" | ")[0]
    if first.startswith('"') or first[:1].isdigit():
        return json.loads(first)
    return {
        "integer": n,
        "number": n + 0.5,
        "boolean": True,
        "null": None,
        "object": {},
    }.get(first, [] if first.startswith("array") else ("example" if n == 1 else f"example {n}"))


def made_arguments(params: Sequence[Param], n: int = 1) -> dict[str, Any]:
    """Arguments for the required parameters of a tool."""
    return {p.name: example_value(p.label, n) for p in params if p.required}


def shape_of(text: str) -> str:
    """The shape a message asks for (``own`` when it names none or an unknown one)."""
    found = MAGIC.search(text)
    shape = found.group(1).lower() if found else "own"
    return shape if shape in SHAPES else "own"


def clean(text: str) -> str:
    """The text without ``[[tools:...]]`` magic words."""
    return MAGIC.sub("", text)


def result_answer(text: str) -> str | None:
    """One line per tool result in ``text`` when the results end it (only a reminder after)."""
    results = list(_RESULT.finditer(text))
    if not results:
        return None
    after = _REMINDER.sub("", clean(text[results[-1].end() :])).strip()
    if after:
        return None
    lines = []
    for found in results:
        call_id, name, body = found.group(1), found.group(2), found.group(3)
        first = (body.strip().splitlines() or [""])[0][:60]
        label = f"{name} ({call_id})" if name else call_id
        lines.append(f"Result of {label}: {first}")
    return "\n".join(lines)


def _chosen(text: str, tools: dict[str, list[Param]]) -> tuple[str, dict[str, Any]]:
    said = clean(_REMINDER.sub("", text))
    # the last mention wins: a folded first message holds the system prompt (which may name
    # tools in passing) before the user's words
    for asked in reversed(list(_CALL.finditer(said))):
        name = asked.group(1)
        if name not in tools:
            continue
        if said[asked.end() : asked.end() + 1] == "{":
            try:
                given = _DECODER.raw_decode(said, asked.end())[0]
            except ValueError:
                given = None
            if isinstance(given, dict):
                return name, given
        return name, made_arguments(tools[name])
    must = _MUST.search(text)
    name = must.group(1) if must and must.group(1) in tools else next(iter(tools))
    return name, made_arguments(tools[name])


def _smart_quotes(text: str) -> str:
    """Straight double quotes as typographic pairs (opening, closing, opening, ...)."""
    parts = text.split('"')
    out = parts[0]
    for i, part in enumerate(parts[1:]):
        out += ("“" if i % 2 == 0 else "”") + part
    return out


def _json(name: str, arguments: Any, **extra: Any) -> str:
    return json.dumps({**extra, "name": name, "arguments": arguments}, ensure_ascii=False)


def _own(name: str, arguments: Any) -> str:
    return f"{OPEN}\n{_json(name, arguments)}\n{CLOSE}"


def _coder(name: str, arguments: dict[str, Any]) -> str:
    params = "".join(
        f"<parameter={k}>\n{v if isinstance(v, str) else json.dumps(v)}\n</parameter>\n"
        for k, v in arguments.items()
    )
    return f"<tool_call>\n<function={name}>\n{params}</function>\n</tool_call>"


def render(shape: str, calls: list[tuple[str, dict[str, Any]]]) -> ToolReply:
    """The reply of ``shape`` making ``calls`` (the first call for single-call shapes)."""
    name, arguments = calls[0]
    if shape == "native":
        return ToolReply(f"<tool_call>\n{_json(name, arguments)}\n</tool_call>")
    if shape == "native_string":
        body = _json(name, json.dumps(arguments), id="call_0")
        return ToolReply(f"<tool_call>\n{body}\n</tool_call>")
    if shape == "coder":
        return ToolReply(_coder(name, arguments))
    if shape == "fenced":
        return ToolReply(f"I will call {name}.\n```json\n{_json(name, arguments)}\n```")
    if shape == "bare":
        return ToolReply(f"I will call {name}.\n{_json(name, arguments)}")
    if shape == "unclosed":
        return ToolReply(f"{OPEN}\n{_json(name, arguments)}\n")
    if shape == "fullwidth":
        # the markers only: a model writing full-width tags still writes its code as it is
        body = _smart_quotes(_json(name, arguments))
        opener, closer = OPEN.translate(_FULL_WIDTH), CLOSE.translate(_FULL_WIDTH)
        return ToolReply(f"{opener}\n{body}\n{closer}")
    if shape == "trailing_comma":
        inner = json.dumps(arguments, ensure_ascii=False)
        inner = inner[:-1] + ",}" if arguments else inner
        return ToolReply(f'{OPEN}\n{{"name": "{name}", "arguments": {inner},}}\n{CLOSE}')
    if shape == "in_thinking":
        return ToolReply("", thought=f"I need {name}.\n{_own(name, arguments)}")
    if shape == "cut":
        block = _own(name, arguments)
        return ToolReply(block[: block.index('"arguments"') + 6])
    if shape == "unknown":
        return ToolReply(_own(UNKNOWN_TOOL, arguments))
    if shape == "repeat":
        return ToolReply("\n".join([_own(name, arguments)] * 3))
    if shape == "multi":
        return ToolReply("\n".join(_own(n, a) for n, a in calls[:2]))
    if shape == "multi_block":
        body = "\n".join(_json(n, a) for n, a in calls[:2])
        return ToolReply(f"{OPEN}\n{body}\n{CLOSE}")
    if shape == "example":
        return ToolReply(
            f"A call looks like this:\n```json\n{_json(name, arguments)}\n```\n"
            "I did not call anything."
        )
    if shape == "intercepted":
        return ToolReply(f"Tool {name} does not exists.")
    return ToolReply(_own(name, arguments))


def tool_reply(branch: Sequence[Turn]) -> ToolReply | None:
    """The reply when the branch's prompt defines tools, None to let the plain model answer."""
    tools = definitions(branch)
    if not tools or not branch:
        return None
    text = branch[-1].text
    shape = shape_of(text)
    if MAGIC.search(text) is None:
        answered = result_answer(text)
        if answered is not None:
            return ToolReply(answered)
    if shape == "text" or "Do not call any tool" in text:
        return None
    name, arguments = _chosen(text, tools)
    names = list(tools)
    following = names[(names.index(name) + 1) % len(names)]
    second = (following, made_arguments(tools[following], 2))
    if following == name:
        second = (name, made_arguments(tools[name], 2))
    return render(shape, [(name, arguments), second])
