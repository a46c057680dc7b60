"""From the text of one block to the calls it names (pure, whole text; the sieve finds blocks).

Inside an explicit block (ours or the native ``<tool_call>``) a model may write:

* one or more JSON calls, in a row or as an array: ``{"name": ..., "arguments": ...}``, with
  ``arguments`` as an object or as a JSON string, ``parameters``/``args``/``input`` for
  ``arguments``, OpenAI's ``{"function": {"name", "arguments"}}`` or ``{"tool_calls": [...]}``;
* the qwen3-coder form ``<function=NAME><parameter=P>value</parameter></function>``, one or
  more functions;
* only the arguments, when the opener names the tool: ``<qp:call name="read_file">{...}``.

Outside explicit blocks (a fenced or bare JSON object) the same JSON shapes count only when an
arguments field is present: ``{"name": "x"}`` alone is ordinary data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qwen_proxy.tools.jsonish import decode_values, loads_lenient
from qwen_proxy.tools.syntax import fold

NAME_KEYS = ("name", "tool_name", "tool", "function")
ARGUMENT_KEYS = ("arguments", "parameters", "args", "input")

_ATTRIBUTE_NAME = re.compile(r"""\bname\s*=\s*["']?([^"'\s>]+)""")
_FUNCTION = re.compile(r"<function\s*=\s*([^>\n]*)>")
_PARAMETER = re.compile(r"<parameter\s*=\s*([^>\n]*)>")
_PARAMETER_END = re.compile(r"</parameter\s*>|<parameter\s*=|</function\s*>")


class Unparsable(ValueError):
    """A block that is clearly meant as a call but cannot be read as one."""


@dataclass(frozen=True, slots=True)
class RawCall:
    """A call as written: the name the model used and its arguments, not yet checked."""

    name: str
    arguments: Any


def calls_from_json(value: Any, *, need_arguments: bool) -> list[RawCall] | None:
    """The calls a decoded JSON value names, None when it does not have the shape of calls."""
    if isinstance(value, list):
        calls: list[RawCall] = []
        for item in value:
            found = calls_from_json(item, need_arguments=need_arguments)
            if not found:
                return None
            calls.extend(found)
        return calls or None
    if not isinstance(value, Mapping):
        return None
    nested = value.get("tool_calls")
    if isinstance(nested, list):
        return calls_from_json(nested, need_arguments=need_arguments)
    function = value.get("function")
    if isinstance(function, Mapping):
        return calls_from_json(function, need_arguments=need_arguments)
    name = next((value[k] for k in NAME_KEYS if isinstance(value.get(k), str)), None)
    if not name or not name.strip():
        return None
    present = [k for k in ARGUMENT_KEYS if k in value]
    if need_arguments and not present:
        return None
    return [RawCall(name.strip(), value[present[0]] if present else {})]


def arguments_object(arguments: Any) -> dict[str, Any]:
    """The arguments of a call as an object (a JSON string is decoded; null or "" is ``{}``)."""
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, str):
        try:
            arguments = loads_lenient(arguments)
        except ValueError as error:
            raise Unparsable(f"arguments are not a JSON object: {error}") from None
    if not isinstance(arguments, dict):
        raise Unparsable("arguments are not a JSON object")
    return arguments


def opener_name(attributes: str) -> str | None:
    """The tool an opener names in a ``name="..."`` attribute, if any."""
    found = _ATTRIBUTE_NAME.search(fold(attributes))
    if found is None:
        return None
    start, end = found.span(1)
    return attributes[start:end]


def coder_value(text: str) -> str:
    """A qwen3-coder parameter value: one newline around it dropped; a one-line value is
    stripped, since the indentation around it is layout."""
    text = text.removeprefix("\n").removesuffix("\n")
    return text.strip() if "\n" not in text.strip() else text


def parse_coder(content: str) -> list[RawCall]:
    """The calls of qwen3-coder ``<function=NAME>`` sections (values stay text)."""
    view = fold(content)
    starts = list(_FUNCTION.finditer(view))
    calls = []
    for i, head in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(view)
        name = content[head.start(1) : head.end(1)].strip().strip("\"'")
        if not name:
            raise Unparsable("a <function=...> without a name")
        arguments: dict[str, str] = {}
        for parameter in _PARAMETER.finditer(view, head.end(), end):
            key = content[parameter.start(1) : parameter.end(1)].strip().strip("\"'")
            stop = _PARAMETER_END.search(view, parameter.end(), end)
            value_end = stop.start() if stop else end
            arguments[key] = coder_value(content[parameter.end() : value_end])
        calls.append(RawCall(name, arguments))
    return calls


def parse_block(content: str, attributes: str = "") -> list[RawCall]:
    """The calls of one explicit block; ``Unparsable`` when it holds none that can be read."""
    if _FUNCTION.search(fold(content)):
        return parse_coder(content)
    named = opener_name(attributes)
    try:
        values = decode_values(content)
    except ValueError as error:
        raise Unparsable(f"the block is not complete JSON ({error})") from None
    if named and len(values) == 1 and calls_from_json(values[0], need_arguments=False) is None:
        return [RawCall(named, values[0])]
    calls: list[RawCall] = []
    for value in values:
        found = calls_from_json(value, need_arguments=False)
        if found is None:
            raise Unparsable("the block holds JSON without a tool name")
        calls.extend(found)
    if not calls:
        if named:
            return [RawCall(named, {})]
        raise Unparsable("the block is empty")
    return calls
