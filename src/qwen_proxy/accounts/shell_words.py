"""Split a copied command line into the words the program would receive (pure).

Browsers copy requests "as cURL" for two shells. The bash form uses single quotes, ANSI-C
``$'...'`` quotes (for values holding ``'``, ``!`` or control characters) and ``\\``
line continuations; ``shlex`` reads everything but the last two, which are rewritten first.
The Windows form is read as ``cmd.exe`` and then the C runtime would read it: ``^`` escapes
one character (at a line end it continues the line), and the program's own parser then splits
on blanks outside ``"``, with ``\\"`` a literal quote.
"""

from __future__ import annotations

import re
import shlex

_ANSI_SIMPLE = {
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}
_ANSI_NUMERIC = {"x": (16, 2), "u": (16, 4), "U": (16, 8)}
_HEX = frozenset("0123456789abcdefABCDEF")
_OCT = frozenset("01234567")
_BLANKS = " \t\r\n"


class ShellSyntaxError(ValueError):
    """The text is not a complete command line (an open quote, a dangling escape)."""


def split_bash(text: str) -> list[str]:
    """The words of a bash command line, quotes and escapes applied."""
    try:
        return shlex.split(_bash_for_shlex(text), posix=True)
    except ValueError as exc:
        raise ShellSyntaxError(f"the command cannot be read as bash: {exc}") from None


def split_cmd(text: str) -> list[str]:
    """The words of a Windows ``cmd.exe`` command line, as the program's C runtime sees them."""
    return _split_crt(_cmd_unescape(text))


# -- bash -----------------------------------------------------------------------------------


def _bash_for_shlex(text: str) -> str:
    """``text`` with line continuations removed and each ``$'...'`` word re-quoted for shlex."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if text.startswith("\r\n", i + 1):
                i += 3
            elif text.startswith("\n", i + 1):
                i += 2
            else:
                out.append(text[i : i + 2])
                i += 2
        elif c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError("the command has an unclosed ' quote")
            out.append(text[i : end + 1])
            i = end + 1
        elif c == '"':
            end = _closing_double_quote(text, i)
            # inside double quotes too, a backslash before a newline continues the line
            out.append(re.sub(r"\\\r?\n", "", text[i : end + 1]))
            i = end + 1
        elif c == "$" and text.startswith("'", i + 1):
            value, i = _ansi_c(text, i + 2)
            out.append(shlex.quote(value))
        elif c == "\r":
            out.append(" ")  # a Windows line end pasted into a terminal
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _closing_double_quote(text: str, start: int) -> int:
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == '"':
            return i
        else:
            i += 1
    raise ShellSyntaxError('the command has an unclosed " quote')


def _ansi_c(text: str, i: int) -> tuple[str, int]:
    """Decode a ``$'...'`` body starting at ``i``; the value and the index after its quote."""
    units: list[str] = []
    n = len(text)
    while i < n:
        c = text[i]
        if c == "'":
            return _join_surrogates(units), i + 1
        if c != "\\" or i + 1 >= n:
            units.append(c)
            i += 1
            continue
        e = text[i + 1]
        i += 2
        if e in _ANSI_SIMPLE:
            units.append(_ANSI_SIMPLE[e])
        elif e in _ANSI_NUMERIC:
            base, width = _ANSI_NUMERIC[e]
            digits = _take(text, i, _HEX, width)
            if not digits:
                units.append("\\" + e)
                continue
            units.append(chr(int(digits, base)))
            i += len(digits)
        elif e in _OCT:
            digits = e + _take(text, i, _OCT, 2)
            units.append(chr(int(digits, 8) & 0xFF))
            i += len(digits) - 1
        elif e == "c" and i < n:
            units.append(chr(ord(text[i]) & 0x1F))
            i += 1
        else:
            units.append("\\" + e)
    raise ShellSyntaxError("the command has an unclosed $' quote")


def _take(text: str, i: int, allowed: frozenset[str], most: int) -> str:
    end = i
    while end < len(text) and end - i < most and text[end] in allowed:
        end += 1
    return text[i:end]


def _join_surrogates(units: list[str]) -> str:
    # browsers write characters beyond the BMP as two \uXXXX halves, as JavaScript stores them
    text = "".join(units)
    if not any("\ud800" <= ch <= "\udfff" for ch in text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


# -- cmd.exe and the C runtime ----------------------------------------------------------------


def _cmd_unescape(text: str) -> str:
    """What ``cmd.exe`` hands the program: carets applied, continued lines joined.

    Chrome writes ``^"`` for every quote and escapes every special character with ``^`` even
    between quotes, so when the text holds ``^"`` a caret escapes everywhere; otherwise (an
    older Firefox), a caret between quotes is a plain character, as ``cmd.exe`` has it.
    """
    carets_everywhere = '^"' in text
    out: list[str] = []
    quoted = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "^" and (carets_everywhere or not quoted):
            if text.startswith("\r\n", i + 1):
                i += 3
            elif text.startswith("\n", i + 1):
                i += 2
            else:
                i += 1
            if i < n:  # the character after an escape (or after a continued line) is literal
                out.append(text[i])
                i += 1
            continue
        if c == '"':
            quoted = not quoted
        out.append(c)
        i += 1
    return "".join(out)


def _split_crt(text: str) -> list[str]:
    """Split into words as the Microsoft C runtime does, but as the browsers meant it.

    Blanks outside ``"`` separate words, and ``""`` inside quotes is one literal quote, as in
    the C runtime. A backslash before a backslash or a quote stands for that character: both
    browsers double every backslash of a value and write its quotes as ``\\"``, counting on
    the runtime to collapse them, which it does only before a quote.
    """
    words: list[str] = []
    current: list[str] = []
    started = quoted = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in '\\"':
            current.append(text[i + 1])
            i += 2
            started = True
        elif c == '"':
            if quoted and text.startswith('"', i + 1):
                current.append('"')  # "" inside quotes is one literal quote
                i += 2
            else:
                quoted = not quoted
                i += 1
            started = True
        elif c in _BLANKS and not quoted:
            if started:
                words.append("".join(current))
                current, started = [], False
            i += 1
        else:
            current.append(c)
            started = True
            i += 1
    if quoted:
        raise ShellSyntaxError('the command has an unclosed " quote')
    if started:
        words.append("".join(current))
    return words
