"""Recognising where a call may start, on the folded view of a text (see ``syntax.fold``).

Each matcher looks at a position and answers with a :class:`Match`: ``YES`` (and where the
marker ends), ``NO``, or ``MORE`` when the text ends before the answer is known. ``MORE`` is
what makes the sieve hold back a tail: only text whose verdict is ``MORE`` ever waits. At the
end of a reply the caller treats ``MORE`` as ``NO``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from qwen_proxy.tools.parse import ARGUMENT_KEYS, NAME_KEYS
from qwen_proxy.tools.syntax import CLOSERS, MAX_ATTRIBUTES, OPENERS

Verdict = Literal["yes", "no", "more"]
FENCE: Final = "```"
#: a fence's info string that may hold a JSON call
JSON_INFOS: Final = frozenset({"", "json", "jsonc", "json5", "tool_call", "tool_calls"})
#: a JSON object whose first key is one of these may be a call (held until it closes)
CALL_KEYS: Final = frozenset({*NAME_KEYS, *ARGUMENT_KEYS, "tool_calls", "type", "id"})
_MAX_INFO = 100
_MAX_KEY = 40


@dataclass(frozen=True, slots=True)
class Match:
    """A matcher's answer; ``end`` is just past the marker, ``detail`` the opener's name."""

    verdict: Verdict
    end: int = 0
    detail: str = ""


NO: Final = Match("no")
MORE: Final = Match("more")


def opener(view: str, pos: int) -> Match:
    """An explicit block opener (``<qp:call ...>``, ``<tool_call>``, ``<function=NAME>``)."""
    possible = False
    for name in OPENERS:
        head = view[pos : pos + len(name)]
        if head != name:
            possible = possible or (len(head) < len(name) and name.startswith(head))
            continue
        after = pos + len(name)
        if after == len(view):
            possible = True
            continue
        if name.endswith("="):
            found = _tag_end(view, after)
        elif view[after] == ">":
            found = Match("yes", after + 1, name)
        elif view[after] in " \t":
            found = _tag_end(view, after)
        else:
            continue
        if found.verdict == "yes":
            return Match("yes", found.end, name)
        possible = possible or found.verdict == "more"
    return MORE if possible else NO


def _tag_end(view: str, pos: int) -> Match:
    """The ``>`` ending an opener's attributes: on the same line, no ``<`` before it."""
    limit = min(len(view), pos + MAX_ATTRIBUTES)
    for i in range(pos, limit):
        ch = view[i]
        if ch == ">":
            return Match("yes", i + 1)
        if ch in "<\n":
            return NO
    return MORE if limit == len(view) else NO


def closer(view: str, pos: int, closers: tuple[str, ...] = CLOSERS) -> Match:
    """One of ``closers`` (``</qp:call>``, ...), blanks allowed before its ``>``."""
    possible = False
    for name in closers:
        stem = name[:-1]
        head = view[pos : pos + len(stem)]
        if head != stem:
            possible = possible or (len(head) < len(stem) and stem.startswith(head))
            continue
        i = pos + len(stem)
        while i < len(view) and view[i] in " \t":
            i += 1
        if i == len(view):
            possible = True
        elif view[i] == ">":
            return Match("yes", i + 1, name)
    return MORE if possible else NO


def first_key(view: str, pos: int) -> Match:
    """Whether the JSON at ``pos`` (``{`` or ``[{``) starts with a key a call may start with."""
    i = _skip_blank(view, pos + 1)
    if view[pos] == "[":
        if i == len(view):
            return MORE
        if view[i] != "{":
            return NO
        i = _skip_blank(view, i + 1)
    if i == len(view):
        return MORE
    if view[i] != '"':
        return NO
    close = view.find('"', i + 1, i + 2 + _MAX_KEY)
    if close == -1:
        return MORE if len(view) - i <= _MAX_KEY else NO
    return Match("yes", close + 1) if view[i + 1 : close] in CALL_KEYS else NO


def _skip_blank(view: str, pos: int) -> int:
    while pos < len(view) and view[pos].isspace():
        pos += 1
    return pos


@dataclass(frozen=True, slots=True)
class Fence:
    """A code fence's first line: what its body starts with decides what it is.

    ``kind``: ``call`` (the body starts with an explicit opener: a call wrapped in a fence),
    ``json`` (a JSON fence whose object starts with a call key), ``text`` (code to show).
    ``body`` is where the body starts, ``first`` its first non-blank character.
    """

    verdict: Verdict
    kind: Literal["call", "json", "text", ""] = ""
    body: int = 0
    first: int = 0


def fence(view: str, pos: int) -> Fence:
    """Classify the code fence starting at ``pos`` (a line start holding a backtick)."""
    head = view[pos : pos + len(FENCE)]
    if head != FENCE:
        return Fence("more") if FENCE.startswith(head) and len(head) < 3 else Fence("no")
    newline = view.find("\n", pos + 3, pos + 4 + _MAX_INFO)
    if newline == -1:
        rest = view[pos + 3 :]
        return Fence("more") if len(rest) <= _MAX_INFO and "`" not in rest else Fence("no")
    info = view[pos + 3 : newline].strip()
    if "`" in info:
        return Fence("no")
    body = newline + 1
    first = _skip_blank(view, body)
    if first == len(view):
        return Fence("more", body=body)
    ch = view[first]
    if ch == "<":
        found = opener(view, first)
        if found.verdict != "no":
            return Fence(found.verdict, "call" if found.verdict == "yes" else "", body, first)
    elif ch in "{[" and info in JSON_INFOS:
        found = first_key(view, first)
        if found.verdict == "more":
            return Fence("more", "json", body, first)
        if found.verdict == "yes":
            return Fence("yes", "json", body, first)
    return Fence("yes", "text", body, first)
