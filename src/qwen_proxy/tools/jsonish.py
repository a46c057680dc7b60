"""JSON as models write it: forgiving decoding and an incremental structural scanner.

Forgiven: trailing commas, several values in a row (separated by blanks or commas), a stray
closing bracket after a value, smart quotes used as string delimiters, a code fence around the
JSON. Never forgiven: a value that is
cut short. Adding the missing braces would turn a cut call into a call the model never finished,
so an incomplete value is an error.
"""

from __future__ import annotations

import json
import re
from typing import Any

_DECODER = json.JSONDecoder()
# between values: blanks, commas, and stray closing brackets (models add an extra brace)
_BLANK_OR_COMMA = re.compile(r"[\s,\]}]*")
_TRAILING_COMMA = re.compile(r",\s*[}\]]")
_FENCE = re.compile(r"^\s*```[^\n`]*\n(.*?)\n?\s*```\s*$", re.DOTALL)
_SMART = str.maketrans({"“": '"', "”": '"', "„": '"', "‟": '"'})
_IN_STRING = re.compile(r'["\\]')
_INSIDE = re.compile(r'[{}\[\]"]')
_TOP_LEVEL = re.compile(r"[^\s,\]}]")


def without_trailing_commas(text: str) -> str:
    """``text`` with every comma that directly precedes ``}`` or ``]`` (outside strings) gone."""
    if _TRAILING_COMMA.search(text) is None:
        return text
    out: list[str] = []
    in_string = escape = False
    pending: list[str] = []  # a comma and the blanks after it, not yet known to be trailing
    for ch in text:
        if pending:
            if ch.isspace():
                pending.append(ch)
                continue
            if ch in "}]":
                out.extend(pending[1:])
            else:
                out.extend(pending)
            pending = []
        if in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == ",":
            pending = [ch]
            continue
        out.append(ch)
    out.extend(pending)
    return "".join(out)


def _values(text: str) -> list[Any]:
    values: list[Any] = []
    pos = _BLANK_OR_COMMA.match(text, 0).end()  # type: ignore[union-attr]
    while pos < len(text):
        value, pos = _DECODER.raw_decode(text, pos)
        values.append(value)
        pos = _BLANK_OR_COMMA.match(text, pos).end()  # type: ignore[union-attr]
    return values


def decode_values(text: str) -> list[Any]:
    """Every JSON value in ``text``, in order; ``ValueError`` if any part is not JSON.

    A code fence around the whole text is removed first.
    """
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    repaired = without_trailing_commas(text)
    try:
        return _values(repaired)
    except ValueError:
        smart = repaired.translate(_SMART)
        if smart == repaired:
            raise
        return _values(smart)


def loads_lenient(text: str) -> Any:
    """Exactly one JSON value in ``text`` (forgiving as above), else ``ValueError``."""
    values = decode_values(text)
    if len(values) != 1:
        raise ValueError(f"expected one JSON value, found {len(values)}")
    return values[0]


class JsonScanner:
    """Follows JSON structure across chunks: nesting depth and whether inside a string.

    It does not validate; it answers "where does this value end" and "where does something
    other than JSON start at the top level" without buffering anything.
    """

    __slots__ = ("depth", "escape", "in_string", "started")

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escape = False
        self.started = False

    def advance(self, text: str, pos: int = 0, *, stop_at_top_level: bool = False) -> int:
        """Scan ``text`` from ``pos`` and return where to look next.

        Plain: just after the outermost value closes, or ``len(text)``. With
        ``stop_at_top_level``: values may follow each other (blanks, commas, stray closing
        brackets between), and the scan stops *at* the first other character outside every
        value (a tag, prose).
        """
        end = len(text)
        while pos < end:
            if self.in_string:
                if self.escape:
                    self.escape = False
                    pos += 1
                    continue
                found = _IN_STRING.search(text, pos)
                if found is None:
                    return end
                pos = found.end()
                if found.group() == "\\":
                    self.escape = True
                else:
                    self.in_string = False
                continue
            if self.depth == 0:
                found = _TOP_LEVEL.search(text, pos)
                if found is None:
                    return end
                pos = found.start()
                if found.group() in "{[":
                    self.depth = 1
                    self.started = True
                elif stop_at_top_level:
                    return pos
                pos += 1
                continue
            found = _INSIDE.search(text, pos)
            if found is None:
                return end
            ch, pos = found.group(), found.start() + 1
            if ch == '"':
                self.in_string = True
            elif ch in "{[":
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 0 and not stop_at_top_level:
                    return pos
        return end

    @property
    def closed(self) -> bool:
        """Whether a value was opened and every bracket closed again."""
        return self.started and self.depth == 0 and not self.in_string
