"""The emulator's deterministic "model": it answers from the branch it has on record.

Pure functions; the input is the branch (root → parent, plus the new message(s)) as ``Turn``s.
Other tests depend on these formats, so they are exact. Matching is case-insensitive. Magic
words (``[[fault:...]]``, ``[[tools:...]]``, ``[[json:...]]``) are removed from every text
before anything below is applied. When the prompt defines tools, ``toolmodel`` answers first
(calls and results); when the last message asks for JSON output, ``jsonmodel`` does (an
``echo:`` still echoes).

The last user message decides the answer, first rule that applies wins:

1. ``echo: <text>``: the answer is exactly ``<text>``, everything after the first ``echo: ``
   of the last message, verbatim (multi-line allowed).
2. ``long answer <N>``: an answer of exactly N characters (code points), a fixed text with
   ASCII, accents, CJK and emoji repeated and cut at N (N capped at 2,000,000).
3. ``how many turns``: ``I see <N> user turns.`` where N counts the user messages of the branch,
   the new one included (a folded transcript is one message, so it counts as one).
3a. ``what did i attach``: the files the last message names in its ``files[]``, as the
   storage holds them: ``Attachments: <name> (<file_class>, <content type>, <size> bytes,
   sha256 <first 12 hex digits>); ...`` in the order sent, ``<name> (missing)`` for an entry
   whose bytes never arrived, ``<name> (not parsed)`` for a document nobody asked to parse;
   ``No attachments.`` when there are none. The text of a parsed text document counts as part
   of its message for every other rule (facts told in an attached transcript are known).
4. ``what is my <key>`` / ``what's my <key>``: ``Your <key> is <value>.`` or
   ``I don't know your <key>.``; ``what is the <key>`` / ``what's the <key>``:
   ``The <key> is <value>.`` or ``I don't know the <key>.``. Facts come from every
   ``my <key> is <value>`` / ``the <key> is <value>`` in the branch's user and system text
   (a folded transcript inside one message counts too), the latest wins. ``<key>`` is one or
   more words, compared and answered in lower case; ``<value>`` is one whitespace-free token
   with trailing punctuation (``.,;:!?"')``) removed, answered as written.
5. ``unicode``: exactly ``UNICODE_ANSWER`` (ASCII, CJK, emoji, combining characters).
6. otherwise ``Hello! This is turn <N>.`` (N as in rule 3). When the ``answer_length`` knob is
   set, this default answer is replaced by the rule-2 text of that length.

Thinking (when the request turns it on) is two steps: titles
``["Reading the question", "Preparing the reply"]`` and thoughts
``["The user asks: <last message, first 80 chars, one line>", "This is turn <N>, so I answer
deterministically."]``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MAGIC_WORDS = re.compile(r"\[\[(?:fault|tools|json):[^\]]*\]\]")
UNICODE_ANSWER = "Unicode: ASCII, 你好，世界, emoji 🙂🚀, combining e\u0301 and n\u0303."
LONG_TEXT_UNIT = "Lorem ipsum — café 你好 🙂 dolor sit amet. "
MAX_LONG = 2_000_000
THINKING_TITLES = ("Reading the question", "Preparing the reply")

_ECHO = re.compile(r"echo: ", re.IGNORECASE)
_LONG = re.compile(r"long answer (\d+)", re.IGNORECASE)
_TURNS = re.compile(r"how many turns", re.IGNORECASE)
_ATTACHED = re.compile(r"what did i attach", re.IGNORECASE)
_WORDS = r"[a-z][a-z0-9_-]*(?: [a-z][a-z0-9_-]*)*?"
_FACT = re.compile(rf"\b(my|the) ({_WORDS}) is (\S+)", re.IGNORECASE)
_QUESTION = re.compile(rf"\bwhat(?: is|'s) (my|the) ({_WORDS})\s*(?:\?|$|\.)", re.IGNORECASE)
_UNICODE = re.compile(r"unicode", re.IGNORECASE)
_TRAILING = ".,;:!?\"')"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file a message named, as the storage holds it (``sha256`` None: never arrived)."""

    name: str
    file_class: str
    content_type: str = ""
    size: int = 0
    sha256: str | None = None
    parsed: bool = True

    def describe(self) -> str:
        """How rule 3a shows it."""
        if self.sha256 is None:
            return f"{self.name} (missing)"
        if not self.parsed:
            return f"{self.name} (not parsed)"
        return (
            f"{self.name} ({self.file_class}, {self.content_type}, {self.size} bytes, "
            f"sha256 {self.sha256[:12]})"
        )


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of the branch, as plain text, with the files it named."""

    role: str
    text: str
    attachments: tuple[Attachment, ...] = ()


def clean(text: str) -> str:
    """The text without magic words (faults, tool shapes)."""
    return MAGIC_WORDS.sub("", text)


def user_turns(branch: Sequence[Turn]) -> int:
    """How many user messages the branch holds."""
    return sum(1 for turn in branch if turn.role == "user")


def long_text(length: int) -> str:
    """The deterministic text of exactly ``length`` characters."""
    length = max(0, min(length, MAX_LONG))
    unit = LONG_TEXT_UNIT
    return (unit * (length // len(unit) + 1))[:length]


def facts(branch: Sequence[Turn]) -> dict[tuple[str, str], str]:
    """Every ``my/the <key> is <value>`` told in user or system text; the latest wins."""
    known: dict[tuple[str, str], str] = {}
    for turn in branch:
        if turn.role not in ("user", "system"):
            continue
        for owner, key, value in _FACT.findall(clean(turn.text)):
            value = value.rstrip(_TRAILING)
            if value:
                known[(owner.lower(), key.lower())] = value
    return known


def answer(branch: Sequence[Turn], answer_length: int | None = None) -> str:
    """The reply to the last message of ``branch`` (rules in the module docstring)."""
    last = clean(branch[-1].text) if branch else ""
    echo = _ECHO.search(last)
    if echo:
        return last[echo.end() :]
    long = _LONG.search(last)
    if long:
        return long_text(int(long.group(1)))
    if _TURNS.search(last):
        return f"I see {user_turns(branch)} user turns."
    if _ATTACHED.search(last):
        attached = branch[-1].attachments
        if not attached:
            return "No attachments."
        return "Attachments: " + "; ".join(a.describe() for a in attached) + "."
    question = _QUESTION.search(last)
    if question:
        owner, key = question.group(1).lower(), question.group(2).lower()
        value = facts(branch).get((owner, key))
        if owner == "my":
            return f"Your {key} is {value}." if value else f"I don't know your {key}."
        return f"The {key} is {value}." if value else f"I don't know the {key}."
    if _UNICODE.search(last):
        return UNICODE_ANSWER
    if answer_length is not None:
        return long_text(answer_length)
    return f"Hello! This is turn {user_turns(branch)}."


def thinking(branch: Sequence[Turn]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The (titles, thoughts) of the thinking phase; deterministic, mentions the question."""
    last = clean(branch[-1].text) if branch else ""
    question = " ".join(last.split())[:80]
    thoughts = (
        f"The user asks: {question}",
        f"This is turn {user_turns(branch)}, so I answer deterministically.",
    )
    return THINKING_TITLES, thoughts


def context_chars(branch: Sequence[Turn]) -> int:
    """Characters of context the reply is based on (drives ``input_tokens``)."""
    return sum(len(turn.text) for turn in branch)
