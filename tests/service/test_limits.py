"""Gateway-enforced stop sequences and token budgets, fed text in every possible split."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qwen_proxy.qwen.events import (
    AnswerDelta,
    Created,
    Event,
    Finished,
    ReasoningDelta,
    SearchResult,
    SearchResults,
    Usage,
)
from qwen_proxy.service.limits import (
    ReplyLimiter,
    StopScanner,
    TokenBudget,
    estimate_tokens,
    limiter_for,
)

pytestmark = pytest.mark.unit


def feed_all(scanner: StopScanner, pieces: list[str]) -> str:
    return "".join(scanner.feed(piece) for piece in pieces) + scanner.flush()


def split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(max(c, 0), len(text)) for c in cuts})
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in pairwise(bounds)]


def text_of(events: list[Event], kind: type[AnswerDelta] | type[ReasoningDelta]) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


# --- stop sequences ---------------------------------------------------------------------------


def test_text_before_a_stop_is_sent_and_the_stop_is_not() -> None:
    scanner = StopScanner(["\nObservation:"])
    assert feed_all(scanner, ["Thought: look it up\nObserv", "ation: 42 degrees"]) == (
        "Thought: look it up"
    )
    assert scanner.hit


def test_the_stop_completed_first_wins() -> None:
    scanner = StopScanner(["END", "b"])
    assert feed_all(scanner, ["a", "bc END"]) == "a"
    # "b" is complete before "aba" could be, whatever the split
    assert feed_all(StopScanner(["aba", "b"]), ["aba"]) == "a"
    assert feed_all(StopScanner(["aba", "b"]), ["ab", "a"]) == "a"


def test_text_that_cannot_begin_a_stop_is_sent_at_once() -> None:
    scanner = StopScanner(["STOP"])
    assert scanner.feed("hello S") == "hello "
    assert scanner.feed("x") == "Sx"


def test_held_tail_is_released_when_the_reply_ends_without_a_stop() -> None:
    scanner = StopScanner(["</answer>"])
    assert scanner.feed("done </ans") == "done "
    assert scanner.flush() == "</ans"
    assert not scanner.hit


def test_overlapping_stop_prefixes_never_leak_the_stop() -> None:
    scanner = StopScanner(["abab"])
    assert feed_all(scanner, ["xab", "a", "bab"]) == "x"


def test_the_stop_that_ended_the_text_is_named() -> None:
    scanner = StopScanner(["END", "b"])
    feed_all(scanner, ["a", "bc END"])
    assert scanner.matched == "b"
    limiter = ReplyLimiter(max_tokens=None, stop=("\nObservation:", "\nFinal"))
    limiter.filter([AnswerDelta("x\nFin"), AnswerDelta("al answer")], None)
    assert (limiter.finish_reason, limiter.stop_sequence) == ("stop", "\nFinal")


def test_no_stop_named_when_none_ended_the_text() -> None:
    limiter = ReplyLimiter(max_tokens=1, stop=("STOP",))
    limiter.filter([AnswerDelta("a long answer")], usage(4))
    assert (limiter.finish_reason, limiter.stop_sequence) == ("length", None)
    assert ReplyLimiter(max_tokens=1, stop=()).stop_sequence is None


def test_nothing_after_a_stop_is_let_through() -> None:
    scanner = StopScanner(["."])
    assert scanner.feed("One. Two.") == "One"
    assert scanner.feed(" Three") == ""
    assert scanner.flush() == ""


@given(
    text=st.text(alphabet="abc.\n", max_size=40),
    stops=st.lists(st.text(alphabet="abc.\n", min_size=1, max_size=4), min_size=1, max_size=4),
    cuts=st.lists(st.integers(0, 40), max_size=8),
)
def test_any_split_sends_exactly_the_text_before_the_first_completed_stop(
    text: str, stops: list[str], cuts: list[int]
) -> None:
    # (end, start) of each stop's first occurrence: the one completed first wins
    found = [(i + len(s), i) for s in stops if (i := text.find(s)) >= 0]
    expected = text[: min(found)[1]] if found else text
    scanner = StopScanner(stops)
    sent = ""
    for piece in split(text, cuts):
        sent += scanner.feed(piece)
        # never more than the answer so far, and the held tail could still begin a stop
        assert expected.startswith(sent)
        held = scanner._held
        assert held == "" or any(s.startswith(held) and s != held for s in stops)
    assert sent + scanner.flush() == expected


# --- token budget -----------------------------------------------------------------------------


def test_budget_follows_the_upstream_usage_and_cuts_proportionally() -> None:
    budget = TokenBudget(2)
    budget.start_read(["abcdefghij"], output_tokens=5)  # 2 characters per token
    assert budget.take("abcdefghij") == "abcd"
    assert budget.exhausted
    assert budget.counted == 2


def test_budget_without_usage_estimates_four_bytes_per_token() -> None:
    budget = TokenBudget(2)
    budget.start_read(["12345678abcd"], output_tokens=None)
    assert budget.take("12345678abcd") == "12345678"
    assert budget.exhausted
    assert estimate_tokens("你好") == 1.5


def test_budget_reached_exactly_lets_the_text_through_and_cuts_the_next() -> None:
    budget = TokenBudget(3)
    budget.start_read(["abc"], output_tokens=3)
    assert budget.take("abc") == "abc"
    assert not budget.exhausted
    budget.start_read(["d"], output_tokens=4)
    assert budget.take("d") == ""
    assert budget.exhausted


def test_a_stale_usage_snapshot_falls_back_to_the_estimate() -> None:
    budget = TokenBudget(None)
    budget.start_read(["abcd"], output_tokens=1)
    budget.take("abcd")
    budget.start_read(["efghefgh"], output_tokens=1)  # the snapshot did not move
    budget.take("efghefgh")
    assert budget.counted == 3


# --- the limiter over event batches -------------------------------------------------------------


def usage(output: int, reasoning: int = 0) -> Usage:
    return Usage(input_tokens=100, output_tokens=output, reasoning_tokens=reasoning)


def test_no_limits_means_no_limiter_at_all() -> None:
    assert limiter_for(None, ()) is None
    assert limiter_for(None, ("",)) is None
    assert limiter_for(10, ()) is not None


def test_max_tokens_counts_reasoning_and_can_cut_inside_thinking() -> None:
    limiter = ReplyLimiter(max_tokens=4, stop=())
    batch: list[Event] = [Created("c", "p", "r"), ReasoningDelta("aaaa"), ReasoningDelta("bbbb")]
    out = limiter.filter(batch, usage(8, 8))
    assert text_of(out, ReasoningDelta) == "aaaa"
    assert limiter.finish_reason == "length"
    assert limiter.filter([AnswerDelta("late")], usage(9, 8)) == []
    reported = limiter.usage(usage(8, 8))
    assert reported is not None
    assert (reported.output_tokens, reported.reasoning_tokens) == (4, 4)


def test_stop_ends_the_reply_and_drops_the_finish_event() -> None:
    limiter = ReplyLimiter(max_tokens=None, stop=("\n\n",))
    out = limiter.filter([AnswerDelta("line one\n"), AnswerDelta("\nline two"), Finished()], None)
    assert text_of(out, AnswerDelta) == "line one"
    assert not any(isinstance(e, Finished) for e in out)
    assert limiter.finish_reason == "stop"


def test_held_text_is_sent_before_a_normal_finish() -> None:
    limiter = ReplyLimiter(max_tokens=None, stop=("STOP",))
    first = limiter.filter([AnswerDelta("almost ST")], None)
    assert text_of(first, AnswerDelta) == "almost "
    last = limiter.filter([Finished()], None)
    assert last == [AnswerDelta("ST"), Finished()]
    assert limiter.finish_reason is None


def test_length_cut_releases_a_held_tail_that_can_no_longer_become_a_stop() -> None:
    limiter = ReplyLimiter(max_tokens=2, stop=("STOP",))
    out = limiter.filter([AnswerDelta("abcS"), AnswerDelta("TOzz")], usage(4))
    assert text_of(out, AnswerDelta) == "abcS"
    assert limiter.finish_reason == "length"


def test_sources_and_ids_pass_through_untouched() -> None:
    limiter = ReplyLimiter(max_tokens=100, stop=("x",))
    sources = SearchResults((SearchResult(url="https://example.org", title="t"),))
    created = Created("c", "p", "r")
    assert limiter.filter([created, sources], None) == [created, sources]


def test_uncut_reply_reports_the_upstream_usage() -> None:
    limiter = ReplyLimiter(max_tokens=100, stop=())
    limiter.filter([AnswerDelta("short"), Finished()], usage(2))
    assert limiter.usage(usage(2)) == usage(2)
