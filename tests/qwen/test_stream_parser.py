"""The Qwen stream parser against recorded-shape fixture streams and edge cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_proxy.qwen.errors import (
    ContentFiltered,
    EmptyReply,
    QuotaExceeded,
    StreamCut,
    UpstreamCaptcha,
    UpstreamRateLimited,
)
from qwen_proxy.qwen.events import (
    AnswerDelta,
    Created,
    Event,
    Finished,
    ReasoningDelta,
    SearchResult,
    SearchResults,
    StreamFailed,
    Usage,
)
from qwen_proxy.qwen.stream import QwenStreamParser

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent / "fixtures"
PLAIN = (FIXTURES / "plain_answer.sse").read_bytes()
SUMMARY = (FIXTURES / "thinking_summary.sse").read_bytes()
THINK = (FIXTURES / "think_phase.sse").read_bytes()
SEARCH = (FIXTURES / "web_search.sse").read_bytes()
FILTERED = (FIXTURES / "content_filter_mid_stream.sse").read_bytes()


def parse(data: bytes, cuts: list[int] | None = None) -> tuple[QwenStreamParser, list[Event]]:
    parser = QwenStreamParser()
    events: list[Event] = []
    start = 0
    for cut in sorted(set(cuts or [])):
        events += parser.feed(data[start:cut])
        start = cut
    events += parser.feed(data[start:])
    events += parser.close()
    return parser, events


def answer(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, AnswerDelta))


def reasoning(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, ReasoningDelta))


def comparable(events: list[Event]) -> list[object]:
    """Events with errors replaced by (class, message): exceptions do not compare by value."""
    return [(type(e.error), e.error.message) if isinstance(e, StreamFailed) else e for e in events]


def line(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def delta(
    content: str, phase: str | None = "answer", status: str = "typing", **extra: Any
) -> bytes:
    body: dict[str, Any] = {"role": "assistant", "content": content, "status": status, **extra}
    if phase is not None:
        body["phase"] = phase
    return line({"choices": [{"delta": body}]})


FINISHED = delta("", status="finished")


def summary(*thoughts: str) -> bytes:
    extra = {"summary_thought": {"content": list(thoughts)}}
    return delta("", phase="thinking_summary", extra=extra)


def test_plain_answer_gives_text_ids_usage_and_finish() -> None:
    parser, events = parse(PLAIN)
    assert answer(events) == "Paris is the capital of France."
    assert events[0] == Created(
        chat_id="7d1f0c2a-5b8e-4e3a-9c61-2f4b8a0e1d11",
        parent_id="a3c9e2f0-1b47-4d2e-8f5a-6c0b9d3e7a22",
        response_id="e8b4d6a1-3f2c-4b9e-a7d0-1c5e9f2b8a33",
    )
    assert events[-1] == Finished()
    assert parser.finished
    assert parser.usage == Usage(input_tokens=1052, output_tokens=7)
    assert parser.response_id == "e8b4d6a1-3f2c-4b9e-a7d0-1c5e9f2b8a33"
    assert parser.answer_chars == len("Paris is the capital of France.")
    assert parser.malformed_lines == 0
    assert parser.eof_error() is None


def test_empty_content_deltas_produce_no_events() -> None:
    _, events = parse(PLAIN)
    assert [type(e) for e in events] == [Created, AnswerDelta, AnswerDelta, AnswerDelta, Finished]


@pytest.mark.parametrize("data", [PLAIN, SUMMARY, THINK, SEARCH, FILTERED])
def test_byte_by_byte_feeding_gives_the_same_events_as_one_feed(data: bytes) -> None:
    _, whole = parse(data)
    _, split = parse(data, list(range(len(data))))
    assert comparable(split) == comparable(whole)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([PLAIN, SUMMARY, THINK, SEARCH, FILTERED]),
    st.lists(st.integers(min_value=0, max_value=2200), max_size=20),
)
def test_random_splits_give_the_same_texts_and_usage(data: bytes, cuts: list[int]) -> None:
    whole_parser, whole = parse(data)
    parser, events = parse(data, [c for c in cuts if c <= len(data)])
    assert answer(events) == answer(whole)
    assert reasoning(events) == reasoning(whole)
    assert parser.usage == whole_parser.usage
    assert parser.finished == whole_parser.finished


def test_thinking_summary_arrives_as_two_increments_and_does_not_end_the_stream() -> None:
    parser, events = parse(SUMMARY)
    increments = [e.text for e in events if isinstance(e, ReasoningDelta)]
    assert increments == [
        "The user asks for 17 times 3.",
        "\n\n17 times 3 is 51, so the answer is 51.",
    ]
    assert answer(events) == "17 × 3 = 51."
    assert parser.finished
    assert parser.usage == Usage(input_tokens=1061, output_tokens=40, reasoning_tokens=31)


def test_think_phase_is_streamed_as_reasoning() -> None:
    parser, events = parse(THINK)
    assert reasoning(events) == "Red plus blue gives purple."
    assert answer(events) == "Purple."
    assert parser.usage == Usage(input_tokens=40, output_tokens=8)


def test_web_search_results_come_before_the_answer() -> None:
    _, events = parse(SEARCH)
    assert events[1] == SearchResults(
        (
            SearchResult(
                url="https://example.org/tides",
                title="Tide tables",
                snippet="High tide at 06:12.",
                hostname="example.org",
                date="2026-11-20",
            ),
        )
    )
    assert answer(events) == "High tide is at 06:12 [1]."


def test_repeated_search_results_are_reported_once() -> None:
    info = [{"url": "https://a.example", "title": "A"}]
    event = delta("", phase="web_search", name="web_search", extra={"web_search_info": info})
    _, events = parse(event + event)
    assert [type(e) for e in events] == [SearchResults]


def test_content_filter_mid_stream_keeps_partial_text_then_fails() -> None:
    parser, events = parse(FILTERED + delta("more text"))
    assert answer(events) == "Here is the first"
    assert isinstance(events[-1], StreamFailed)
    assert isinstance(events[-1].error, ContentFiltered)
    assert not parser.finished
    assert isinstance(parser.eof_error(), ContentFiltered)


def test_quota_envelope_mid_stream_fails_with_quota_exceeded() -> None:
    quota = {
        "success": False,
        "request_id": "9d0e1f2a",
        "data": {
            "code": "internal_error",
            "details": "Allocated quota exceeded, please increase your quota limit.",
        },
    }
    _, events = parse(delta("Partial") + line(quota) + delta(" ignored"))
    assert answer(events) == "Partial"
    assert isinstance(events[-1], StreamFailed)
    assert isinstance(events[-1].error, QuotaExceeded)


def test_nested_data_error_envelope_fails_the_stream() -> None:
    envelope = {"data": {"error": {"code": "RateLimited", "details": "upper limit", "num": 2}}}
    _, events = parse(line(envelope))
    assert isinstance(events[-1], StreamFailed)
    assert isinstance(events[-1].error, UpstreamRateLimited)
    assert events[-1].error.retry_after == 7200


def test_error_status_on_a_delta_fails_the_stream() -> None:
    _, events = parse(delta("Something went wrong", status="error") + FINISHED)
    assert len(events) == 1
    assert isinstance(events[0], StreamFailed)


def test_truncated_stream_is_not_finished_and_reports_a_cut() -> None:
    lines = PLAIN.split(b"\n\n")
    parser, events = parse(b"\n\n".join(lines[:3]) + b"\n\n")
    assert answer(events) == "Paris is the capital"
    assert not parser.finished
    assert isinstance(parser.eof_error(), StreamCut)


def test_stream_without_content_reports_an_empty_reply() -> None:
    first_line = PLAIN.split(b"\n\n")[0] + b"\n\n"
    parser, _ = parse(first_line)
    assert isinstance(parser.eof_error(), EmptyReply)


def test_bytes_after_the_answer_finished_are_ignored() -> None:
    parser, events = parse(PLAIN + delta("late text") + b"data: {not json\n\n")
    assert answer(events) == "Paris is the capital of France."
    assert parser.malformed_lines == 0
    assert parser.feed(delta("later still")) == []


def test_finished_thinking_phase_does_not_end_the_stream() -> None:
    _, events = parse(delta("", phase="thinking_summary", status="finished") + delta("Answer"))
    assert answer(events) == "Answer"


def test_malformed_line_is_skipped_and_counted() -> None:
    parser, events = parse(delta("Hello") + b"data: {not json\n\n" + delta(" world") + FINISHED)
    assert answer(events) == "Hello world"
    assert parser.malformed_lines == 1
    assert parser.finished


def test_tolerated_done_marker_is_ignored_without_counting() -> None:
    parser, events = parse(delta("Hi") + FINISHED + b"data: [DONE]\n\n")
    parser2, _ = parse(delta("Hi") + b"data: [DONE]\n\n")
    assert answer(events) == "Hi"
    assert parser.malformed_lines == 0
    assert parser2.malformed_lines == 0


def test_delta_without_phase_counts_as_answer() -> None:
    parser, events = parse(delta("No phase", phase=None) + delta("", phase=None, status="finished"))
    assert answer(events) == "No phase"
    assert parser.finished


def test_objects_without_choices_are_skipped() -> None:
    info = line({"response.info": {"x": 1}})
    _, events = parse(info + delta("Hi") + FINISHED)
    assert [type(e) for e in events] == [AnswerDelta, Finished]


def test_multibyte_character_split_across_feeds_is_decoded_whole() -> None:
    data = delta("17 × 3 = 51 😀")
    cut = data.index("😀".encode()) + 2
    parser = QwenStreamParser()
    assert parser.feed(data[:cut]) == []
    assert parser.feed(data[cut:]) == [AnswerDelta("17 × 3 = 51 😀")]


def test_summary_whose_last_item_grows_in_place_never_repeats_text() -> None:
    data = (
        summary("First thought")
        + summary("First thought, longer")
        + summary("First thought, longer", "Second")
        + summary("First thought, longer", "Second one")
        + summary("First thought, longer", "Second one")
    )
    _, events = parse(data)
    increments = [e.text for e in events if isinstance(e, ReasoningDelta)]
    assert increments == ["First thought", ", longer", "\n\nSecond", " one"]
    assert reasoning(events) == "First thought, longer\n\nSecond one"


def test_rewritten_summary_only_adds_genuinely_new_text() -> None:
    data = summary("Alpha", "Beta") + summary("Alpha!", "Beta", "Gamma")
    _, events = parse(data)
    assert reasoning(events) == "Alpha\n\nBeta\n\nGamma"


def test_cumulative_answer_deltas_are_reduced_to_their_new_suffix() -> None:
    data = (
        delta("Paris")
        + delta("Paris is the capital")
        + delta("Paris is the capital of France.")
        + delta("Paris is the capital of France.")
        + FINISHED
    )
    parser, events = parse(data)
    assert answer(events) == "Paris is the capital of France."
    assert parser.cumulative
    # the second event is held until the third shows the mode; then everything flows
    assert [e.text for e in events if isinstance(e, AnswerDelta)] == [
        "Paris",
        " is the capital of France.",
    ]


@pytest.mark.parametrize("first", ["H", "He", "Hel", "Hell", "Hello"])
def test_cumulative_replies_whatever_the_length_of_their_first_event(first: str) -> None:
    text = "Hello! This is a cumulative reply."
    growing = [first, text[: len(first) + 3], text[: len(first) + 9], text]
    parser, events = parse(b"".join(delta(piece) for piece in growing) + FINISHED)
    assert answer(events) == text
    assert parser.cumulative


def test_a_two_event_cumulative_reply_settles_at_the_end() -> None:
    _, events = parse(delta("Hel") + delta("Hello!") + delta("Hello!") + FINISHED)
    assert answer(events) == "Hello!"


def test_incremental_pieces_that_repeat_the_text_so_far_stay_intact() -> None:
    _, events = parse(delta("abcd") + delta("abcd") + delta("abcd") + FINISHED)
    assert answer(events) == "abcdabcdabcd"
    _, events = parse(delta("abcd") + delta("abcd") + FINISHED)
    assert answer(events) == "abcdabcd"


def counted(content: str, output_tokens: int) -> bytes:
    event = {"role": "assistant", "content": content, "status": "typing", "phase": "answer"}
    return line({"choices": [{"delta": event}], "usage": {"output_tokens": output_tokens}})


def test_a_repeat_without_new_tokens_is_a_snapshot_of_a_one_event_cumulative_reply() -> None:
    _, events = parse(counted("hi", 1) + counted("hi", 1) + FINISHED)
    assert answer(events) == "hi"


def test_a_repeat_with_new_tokens_is_new_text() -> None:
    _, events = parse(counted("hi", 1) + counted("hi", 2) + FINISHED)
    assert answer(events) == "hihi"


def test_held_text_is_not_lost_when_the_reply_is_cut_or_fails() -> None:
    parser, events = parse(delta("Hel") + delta("Hello!"))
    assert answer(events + parser.close()) == "Hello!"


def test_repeated_short_tokens_are_not_mistaken_for_cumulative_content() -> None:
    _, events = parse(delta("ha") + delta("haha") + delta("ha") + FINISHED)
    assert answer(events) == "hahahaha"


def test_usage_fills_missing_reasoning_and_cached_from_earlier_snapshots() -> None:
    first = line(
        {
            "choices": [{"delta": {"content": "a", "phase": "answer"}}],
            "usage": {
                "input_tokens": 10,
                "output_tokens": 5,
                "cached_tokens": 3,
                "output_tokens_details": {"reasoning_tokens": 2},
            },
        }
    )
    second = line(
        {
            "choices": [{"delta": {"content": "b", "phase": "answer"}}],
            "usage": {"input_tokens": 10, "output_tokens": 9},
        }
    )
    parser, _ = parse(first + second)
    assert parser.usage == Usage(
        input_tokens=10, output_tokens=9, reasoning_tokens=2, cached_tokens=3
    )


def test_no_usage_seen_means_usage_is_none() -> None:
    parser, _ = parse(delta("x") + FINISHED)
    assert parser.usage is None


_TEXT = st.text(alphabet="ab c😀é", min_size=2, max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    text=_TEXT,
    data=st.data(),
    trailing_repeat=st.booleans(),
)
def test_any_cumulative_reply_in_any_split_is_its_answer(
    text: str, data: st.DataObject, trailing_repeat: bool
) -> None:
    # growing prefixes: the first of any length, at least two events
    ends = sorted(data.draw(st.sets(st.integers(1, len(text) - 1), min_size=1)))
    pieces = [text[:end] for end in ends] + [text]
    if trailing_repeat:
        pieces.append(text)
    stream = b"".join(delta(piece) for piece in pieces) + FINISHED
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    _, events = parse(stream, cuts)
    assert answer(events) == text


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.text(alphabet="ab c😀é", min_size=1, max_size=6), min_size=2), data=st.data()
)
def test_any_incremental_reply_in_any_split_is_its_pieces_joined(
    pieces: list[str], data: st.DataObject
) -> None:
    first, second = pieces[0], pieces[1]
    # a second event that extends or repeats the first could start a cumulative reply too:
    # those replies are told by what follows (see the parser's rule), so here such a reply
    # is the plain repeat "abcd", "abcd", ... that must stay intact
    ambiguous = second.startswith(first)
    repeated = [first] * data.draw(st.integers(2, 4))
    chosen = repeated if ambiguous else pieces
    stream = b"".join(delta(piece) for piece in chosen) + FINISHED
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    _, events = parse(stream, cuts)
    assert answer(events) == "".join(chosen)


# -- challenges in place of, or inside, the stream ------------------------------------------------

CHALLENGE = {
    "ret": ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM::crowded"],
    "data": {"url": "https://chat.qwen.ai/_____tmd_____/punish?x5secdata=q"},
}
SLIDER_PAGE = (
    b"\n<!doctype html><html><body><div id='nc_1_n1z'>captcha</div>"
    b"<script>var punish_url='/_____tmd_____/punish?x5secdata=s';</script></body></html>"
)


def first_answer_event(text: str) -> bytes:
    delta = {"choices": [{"delta": {"role": "assistant", "content": text, "phase": "answer"}}]}
    return b"data: " + orjson.dumps(delta) + b"\n\n"


@given(st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_a_challenge_in_place_of_the_stream_is_a_captcha_in_any_split(cuts: list[int]) -> None:
    parser, events = parse(orjson.dumps(CHALLENGE), cuts)
    assert isinstance(parser.error, UpstreamCaptcha)
    assert parser.error.verify_url == CHALLENGE["data"]["url"]  # type: ignore[index]
    assert isinstance(events[-1], StreamFailed)
    assert parser.eof_error() is parser.error


@given(st.lists(st.integers(min_value=0, max_value=len(SLIDER_PAGE)), max_size=8))
def test_a_slider_page_in_place_of_the_stream_is_a_captcha_in_any_split(cuts: list[int]) -> None:
    parser, _ = parse(SLIDER_PAGE, cuts)
    assert isinstance(parser.error, UpstreamCaptcha)
    assert parser.error.verify_url == "/_____tmd_____/punish?x5secdata=s"


@pytest.mark.parametrize("framing", [b"data: %s\n\n", b"%s\n"])
def test_a_challenge_inside_the_stream_ends_it_as_a_captcha_after_the_text_so_far(
    framing: bytes,
) -> None:
    body = first_answer_event("Hello") + framing % orjson.dumps(CHALLENGE)
    parser, events = parse(body)
    assert answer(events) == "Hello"
    assert isinstance(parser.error, UpstreamCaptcha)
    assert parser.error.verify_url == CHALLENGE["data"]["url"]  # type: ignore[index]
