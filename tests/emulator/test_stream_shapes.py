from __future__ import annotations

import itertools
import json
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qwen_proxy.emulator.faults import Fault
from qwen_proxy.emulator.stream import MALFORMED_LINE, Reply, apply_faults, build
from qwen_proxy.emulator.wire import cut, cuts_inside_characters

pytestmark = pytest.mark.integration

REPLY = Reply("c1", "u1", "r1", "Paris is the capital of France.", 1790000000, 1052)


def _replace(reply: Reply, **changes: Any) -> Reply:
    fields = {name: getattr(reply, name) for name in Reply.__slots__}
    return Reply(**{**fields, **changes})


def payloads(events: list[tuple[str, bytes]]) -> list[Any]:
    return [json.loads(data[6:]) for _, data in events]


def test_created_line_keeps_the_captured_quirks() -> None:
    first = build(REPLY, random.Random(0))[0][1]
    assert first == (
        b'data: {"response.created":{"chat_id": "c1", "parent_id": "u1", "response_id":"r1", '
        b'"response_index": "0"}} \n\n'
    )


def test_answer_is_incremental_with_growing_usage_and_a_bare_finish() -> None:
    events = build(REPLY, random.Random(0))
    bodies = payloads(events)[1:]
    texts = [b["choices"][0]["delta"]["content"] for b in bodies[:-1]]
    assert "".join(texts) == REPLY.answer
    assert texts[-1] == ""
    outputs = [b["usage"]["output_tokens"] for b in bodies[:-2]]
    assert outputs == sorted(set(outputs))
    assert bodies[0]["usage"]["input_tokens"] == 1052
    assert bodies[-1] == {
        "choices": [
            {"delta": {"content": "", "role": "assistant", "status": "finished", "phase": "answer"}}
        ],
        "response_id": "r1",
    }
    assert b"[DONE]" not in b"".join(d for _, d in events)
    assert b'"content": "' in events[1][1]  # Python-style separators


def test_without_phase_schema_no_delta_carries_a_phase() -> None:
    reply = _replace(REPLY, phase=False)
    assert all(b'"phase"' not in data for _, data in build(reply, random.Random(0)))


def test_thinking_summary_arrays_are_cumulative_and_end_with_their_own_finish() -> None:
    reply = _replace(
        REPLY,
        titles=("A", "B"),
        thoughts=("first thought", "second one"),
        thinking_format="summary",
    )
    events = build(reply, random.Random(3))
    kinds = [k for k, _ in events]
    assert kinds.index("think_end") < kinds.index("answer")
    steps = [
        b["choices"][0]["delta"]["extra"]["summary_thought"]["content"]
        for k, b in zip(kinds, payloads(events), strict=True)
        if k == "think"
    ]
    assert steps[-1] == ["first thought", "second one"]
    for before, after in itertools.pairwise(steps):
        assert after[: len(before) - 1] == before[:-1]
        assert after[len(before) - 1].startswith(before[-1])
    grown_in_place = any(len(a) == len(b) and a != b for a, b in itertools.pairwise(steps))
    assert grown_in_place
    usage = payloads(events)[1]["usage"]
    assert usage["output_tokens_details"]["reasoning_tokens"] > 0


def test_think_format_sends_incremental_reasoning_then_the_answer() -> None:
    reply = _replace(REPLY, thoughts=("one", "two"), thinking_format="think")
    bodies = payloads(build(reply, random.Random(0)))
    think = "".join(
        b["choices"][0]["delta"]["content"]
        for b in bodies
        if "choices" in b and b["choices"][0]["delta"].get("phase") == "think"
    )
    assert think == "one\n\ntwo"


def test_search_mode_sends_sources_before_the_answer() -> None:
    hits = ({"url": "https://example.org/x", "title": "X"},)
    events = build(_replace(REPLY, search=hits), random.Random(0))
    assert events[1][0] == "search"
    delta = payloads(events)[1]["choices"][0]["delta"]
    assert delta["name"] == "web_search"
    assert delta["extra"]["web_search_info"] == list(hits)


def test_cumulative_mode_repeats_the_whole_answer_so_far() -> None:
    bodies = payloads(build(_replace(REPLY, cumulative=True), random.Random(0)))
    texts = [b["choices"][0]["delta"]["content"] for b in bodies[1:-1]]
    assert texts[-1] == REPLY.answer
    assert all(REPLY.answer.startswith(t) for t in texts)


def test_stream_faults_cut_insert_and_break_the_stream() -> None:
    events = build(REPLY, random.Random(0))
    assert apply_faults(events, [Fault("cut_after", {"n": 2})], REPLY, "q") == events[:2]
    assert apply_faults(events, [Fault("empty_stream")], REPLY, "q") == []
    broken = apply_faults(events, [Fault("malformed_line", {"at": 2})], REPLY, "q")
    assert broken[2] == ("bad", MALFORMED_LINE)
    assert len(broken) == len(events) + 1
    failed = apply_faults(events, [Fault("error_midstream", {"after": 1})], REPLY, "q")
    assert [k for k, _ in failed] == ["created", "answer", "error"]
    assert json.loads(failed[-1][1][6:])["error"]["code"] == "data_inspection_failed"
    quota = apply_faults(
        events,
        [Fault("error_midstream", {"envelope": "success", "code": "internal_error", "after": 0})],
        REPLY,
        "q",
    )
    assert json.loads(quota[-1][1][6:])["data"]["code"] == "internal_error"
    assert len(quota) == 2


@given(st.text(min_size=1, max_size=400), st.integers(0, 2**32))
def test_fragmented_bytes_reassemble_exactly(text: str, seed: int) -> None:
    data = text.encode() * 3
    assert b"".join(cut(data, random.Random(seed))) == data


def test_fragmenter_cuts_inside_multibyte_characters_and_joins_events() -> None:
    reply = _replace(REPLY, answer="你好，世界 🙂🚀 " * 40)
    body = b"".join(d for _, d in build(reply, random.Random(0)))
    pieces = cut(body, random.Random(1))
    assert cuts_inside_characters(pieces) > 5
    assert any(piece.count(b"\n\ndata: ") >= 2 for piece in pieces)
