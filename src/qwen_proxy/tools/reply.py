"""Whole-reply decisions: split a reply, prefer the answer's calls, decide on a retry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from qwen_proxy.tools.events import Call, Problem, Text
from qwen_proxy.tools.sieve import Sieve
from qwen_proxy.tools.toolset import ToolChoice, ToolSet


@dataclass(frozen=True, slots=True)
class Split:
    """A whole reply split by the sieve: its text, its calls, what went wrong."""

    text: str
    calls: tuple[Call, ...]
    problems: tuple[Problem, ...]


def split_reply(text: str, tools: ToolSet, *, parallel: bool = True) -> Split:
    """Run a whole reply through a sieve (the non-streamed path, and reasoning text)."""
    sieve = Sieve(tools, parallel=parallel)
    events = [*sieve.feed(text), *sieve.close()]
    content = "".join(e.text for e in events if isinstance(e, Text))
    return Split(content, tuple(sieve.calls), tuple(sieve.problems))


def pick_calls(answer: Sequence[Call], reasoning: Sequence[Call]) -> tuple[Call, ...]:
    """The reply's calls: the answer's when it made any, else those written while thinking
    (a model that decides on a call in its reasoning sometimes writes no answer at all)."""
    if answer:
        return tuple(answer)
    return tuple(replace(call, index=i) for i, call in enumerate(reasoning))


def needs_retry(calls: Sequence[Call], choice: ToolChoice) -> bool:
    """Whether the one hidden corrective retry is due: ``required`` and no call, a named
    function not called, or a call although ``none`` forbade it. ``problems`` are not needed
    for the decision; they say what to correct (:func:`tools.prompt.correction`)."""
    if choice.mode == "none":
        return bool(calls)
    if choice.mode == "function":
        return not any(call.name == choice.name for call in calls)
    # with auto a failed block simply goes back as text, as the request allows no call
    return choice.mode == "required" and not calls
