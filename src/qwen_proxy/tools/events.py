"""What the tool layer hands to the service: text, finished calls, and what went wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

ProblemKind = Literal["cut", "unparsable", "unknown_tool", "extra_call", "duplicate"]
#: problems worth one corrective retry when the request demands a call
RETRYABLE: Final = frozenset({"cut", "unparsable", "unknown_tool"})


@dataclass(frozen=True, slots=True)
class Text:
    """Text for the client (content, or reasoning when the sieve reads reasoning)."""

    text: str


@dataclass(frozen=True, slots=True)
class Call:
    """A finished call: its position in the reply, the client's tool name, and its arguments
    as the text of a JSON object (what OpenAI's ``function.arguments`` carries)."""

    index: int
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Problem:
    """Something that looked like a call and was not used as one; ``source`` is its text."""

    kind: ProblemKind
    detail: str
    source: str

    @property
    def retryable(self) -> bool:
        """Whether a corrective retry may fix it (a duplicate or an extra call needs none)."""
        return self.kind in RETRYABLE


Event = Text | Call
