"""A turn too big for one upstream request: which messages stay inline, which go to the file."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_proxy.conversations.fold import REPLY_MARK, TRANSCRIPT_INTRO
from qwen_proxy.messages import ChatMessage
from qwen_proxy.service.oversize import NOTE, split_turn

pytestmark = pytest.mark.unit


def history(turns: int, size: int) -> list[ChatMessage]:
    """``turns`` user/assistant pairs of about ``size`` characters each, then a question."""
    out: list[ChatMessage] = [ChatMessage("system", "Be brief.")]
    for n in range(turns):
        out.append(ChatMessage("user", f"u{n} " + "x" * size))
        out.append(ChatMessage("assistant", f"a{n} " + "y" * size))
    out.append(ChatMessage("user", "what now?"))
    return out


def test_the_newest_messages_stay_inline_and_the_older_ones_go_to_the_file() -> None:
    messages = history(10, 1000)
    split = split_turn(messages, fits=lambda text: len(text) <= 5000)
    assert split is not None
    assert len(split.inline) <= 5000
    assert split.inline.startswith("<system>\nBe brief.\n</system>\n\n" + NOTE)
    assert split.inline.endswith("[User]" + REPLY_MARK + "\nwhat now?")
    assert TRANSCRIPT_INTRO in split.attached
    assert REPLY_MARK not in split.attached
    assert "u0 " in split.attached
    assert "a9 " in split.inline  # as much of the newest as fits
    assert split_turn(messages, fits=lambda text: len(text) <= 3000) != split


def test_a_lone_newest_user_message_is_sent_as_it_is_after_the_note() -> None:
    messages = history(3, 3000)
    split = split_turn(messages, fits=lambda text: len(text) <= 500)
    assert split is not None
    assert split.inline == "<system>\nBe brief.\n</system>\n\n" + NOTE + "\n\nwhat now?"


def test_a_system_prompt_too_big_to_stay_inline_goes_into_the_file() -> None:
    messages = [ChatMessage("system", "rules " * 2000), *history(2, 100)[1:]]
    split = split_turn(messages, fits=lambda text: len(text) <= 1000)
    assert split is not None
    assert "rules rules" in split.attached
    assert "<system>" not in split.inline


def test_a_newest_message_that_alone_does_not_fit_cannot_be_split() -> None:
    messages = [ChatMessage("user", "z" * 10_000)]
    assert split_turn(messages, fits=lambda text: len(text) <= 5000) is None
    assert split_turn([*history(3, 10)[:-1], messages[0]], fits=lambda t: len(t) <= 5000) is None


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=400), min_size=2, max_size=12),
    budget=st.integers(min_value=200, max_value=3000),
)
def test_every_message_is_either_inline_or_in_the_file_and_the_inline_part_fits(
    sizes: list[int], budget: int
) -> None:
    messages = [
        ChatMessage("user" if n % 2 == 0 else "assistant", f"m{n}:" + "w" * size)
        for n, size in enumerate(sizes)
    ]
    if messages[-1].role != "user":
        messages.append(ChatMessage("user", "m-last:?"))
    split = split_turn(messages, fits=lambda text: len(text) <= budget)
    if split is None:
        return
    assert len(split.inline) <= budget
    for m in messages:
        marker = m.text.split(":", 1)[0] + ":"
        assert (marker in split.inline) != (marker in split.attached), marker
