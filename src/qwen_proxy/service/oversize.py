"""A turn too big for one upstream request: its older part as a text file, the newest inline.

Past about 128 KB the upstream answers a request with a challenge, so the gateway never sends
a body over ``QWEN_PROXY_MAX_UPSTREAM_BODY``. When the messages a turn sends (a whole history
folded into a new chat, usually) would make a bigger body, ``split_turn`` keeps as many of the
newest messages inline as fit, and writes the older ones as a transcript that goes up as an
attached text file. The system prompt stays inline when it can (it holds the instructions); the
newest message always does, since it is the one to answer: when even it does not fit, the
request is refused.

Pure: the caller says what fits (``fits`` builds the body around a text and measures it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qwen_proxy.conversations.fold import continuation_text, transcript
from qwen_proxy.messages import ChatMessage

FILE_NAME = "conversation.txt"
NOTE = (
    f"[The earlier part of this conversation is in the attached file {FILE_NAME}: read it "
    "first. The newest messages follow; reply to the last one.]"
)
_SYSTEM_ROLES = frozenset({"system", "developer"})


@dataclass(frozen=True, slots=True)
class Split:
    """The text of the upstream message, and the transcript to attach as a file."""

    inline: str
    attached: str


def split_turn(
    sent: Sequence[ChatMessage],
    *,
    earlier: Sequence[ChatMessage] = (),
    fits: Callable[[str], bool],
) -> Split | None:
    """The split keeping the most newest messages inline that ``fits``; None when not even
    the newest message fits."""
    system = [m for m in sent if m.role in _SYSTEM_ROLES]
    turns = [m for m in sent if m.role not in _SYSTEM_ROLES]
    # first with the system prompt inline (all but the newest message may go into the file),
    # then with it in the file too (every message but the newest)
    for system_inline in (True, False):
        if not system_inline and not system:
            break
        most = len(turns) - 1 if system_inline else len(turns)

        def split_at(kept: int, system_inline: bool = system_inline) -> Split:
            return _split(system, turns, earlier, kept=kept, system_inline=system_inline)

        best = _largest(1, most, lambda kept: fits(split_at(kept).inline))
        if best is not None:
            return split_at(best)
    return None


def _split(
    system: list[ChatMessage],
    turns: list[ChatMessage],
    earlier: Sequence[ChatMessage],
    *,
    kept: int,
    system_inline: bool,
) -> Split:
    """The split keeping the ``kept`` newest turns inline."""
    older, newest = turns[: len(turns) - kept], turns[len(turns) - kept :]
    parts = [continuation_text(system)] if system and system_inline else []
    parts += [NOTE, continuation_text(newest, earlier=[*earlier, *older])]
    filed = older if system_inline else [*system, *older]
    return Split(inline="\n\n".join(parts), attached=transcript(filed, earlier=earlier))


def _largest(low: int, high: int, ok: Callable[[int], bool]) -> int | None:
    """The largest ``n`` in ``low..high`` with ``ok(n)``, for an ``ok`` true up to some point
    and false after it; None when ``ok(low)`` is false."""
    if high < low or not ok(low):
        return None
    while low < high:
        middle = (low + high + 1) // 2
        if ok(middle):
            low = middle
        else:
            high = middle - 1
    return low
