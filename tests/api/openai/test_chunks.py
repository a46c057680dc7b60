"""Qwen events to OpenAI chunks and completions: exact OpenAI shapes, parsed back as JSON."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from qwen_proxy.api.openai.chunks import (
    ChunkEncoder,
    CompletionAccumulator,
    new_completion_id,
    openai_usage,
)
from qwen_proxy.errors import RateLimited
from qwen_proxy.qwen.events import (
    AnswerDelta,
    Finished,
    ReasoningDelta,
    SearchResult,
    SearchResults,
    Usage,
)

pytestmark = pytest.mark.unit

USAGE = Usage(input_tokens=1061, output_tokens=40, reasoning_tokens=31, cached_tokens=5)


def encoder(**kwargs: Any) -> ChunkEncoder:
    return ChunkEncoder(
        completion_id="chatcmpl-1", created=1790000000, model="qwen3.7-plus", **kwargs
    )


def frames(data: bytes) -> list[Any]:
    """Split SSE bytes into parsed frames; every frame must be exactly ``data: ...\\n\\n``."""
    text = data.decode()
    assert text.endswith("\n\n")
    out: list[Any] = []
    for frame in text[:-2].split("\n\n"):
        assert frame.startswith("data: ")
        payload = frame[len("data: ") :]
        out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def content_of(chunks: list[Any]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or ""
        for c in chunks
        if c != "[DONE]" and c["choices"]
    )


def test_content_chunk_has_exactly_openais_shape() -> None:
    (chunk,) = frames(encoder().content("Hello"))
    assert chunk == {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1790000000,
        "model": "qwen3.7-plus",
        "system_fingerprint": None,
        "choices": [
            {"index": 0, "delta": {"content": "Hello"}, "logprobs": None, "finish_reason": None}
        ],
    }


def test_first_chunk_announces_the_assistant_role() -> None:
    (chunk,) = frames(encoder().role())
    assert chunk["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunk["choices"][0]["finish_reason"] is None


def test_non_ascii_content_survives_byte_exact() -> None:
    text = 'Ünïcödé 17 × 3 = 51 😀 "quoted" \\ back\nline\t中文'
    (chunk,) = frames(encoder().content(text))
    assert chunk["choices"][0]["delta"]["content"] == text


def test_finish_sends_reason_then_done_without_usage_by_default() -> None:
    chunks = frames(encoder().finish("stop", USAGE))
    assert len(chunks) == 2
    assert chunks[0]["choices"] == [
        {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    ]
    assert "usage" not in chunks[0]
    assert chunks[1] == "[DONE]"


def test_include_usage_adds_null_usage_everywhere_and_a_final_usage_chunk() -> None:
    enc = encoder(include_usage=True)
    chunks = frames(
        enc.role() + enc.content("Hi") + enc.reasoning("hmm") + enc.finish("stop", USAGE)
    )
    *deltas, usage_chunk, done = chunks
    assert done == "[DONE]"
    assert all("usage" in c and c["usage"] is None for c in deltas)
    assert deltas[-1]["choices"][0]["finish_reason"] == "stop"
    assert usage_chunk["choices"] == []
    assert usage_chunk["id"] == "chatcmpl-1"
    assert usage_chunk["object"] == "chat.completion.chunk"
    assert usage_chunk["usage"] == {
        "prompt_tokens": 1061,
        "completion_tokens": 40,
        "total_tokens": 1101,
        "prompt_tokens_details": {"cached_tokens": 5},
        "completion_tokens_details": {"reasoning_tokens": 31},
    }


def test_include_usage_without_known_usage_reports_zeros() -> None:
    *_, usage_chunk, _ = frames(encoder(include_usage=True).finish("stop", None))
    assert usage_chunk["usage"]["total_tokens"] == 0


def test_reasoning_goes_to_reasoning_content_by_default() -> None:
    (chunk,) = frames(encoder().reasoning("Thinking..."))
    assert chunk["choices"][0]["delta"] == {"reasoning_content": "Thinking..."}


def test_think_tags_wrap_reasoning_inside_content() -> None:
    enc = encoder(reasoning="think_tags")
    data = enc.role() + enc.reasoning("Step 1.") + enc.reasoning(" Step 2.") + enc.content("Answer")
    data += enc.finish("stop", None)
    chunks = frames(data)
    assert content_of(chunks) == "<think>\nStep 1. Step 2.\n</think>\n\nAnswer"
    assert all("reasoning_content" not in c["choices"][0]["delta"] for c in chunks[:-1])


def test_think_tags_are_closed_at_finish_when_no_answer_followed() -> None:
    enc = encoder(reasoning="think_tags")
    chunks = frames(enc.reasoning("Only thoughts") + enc.finish("stop", None))
    assert content_of(chunks) == "<think>\nOnly thoughts\n</think>\n\n"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_empty_text_produces_no_frame() -> None:
    enc = encoder()
    assert enc.content("") == b""
    assert enc.reasoning("") == b""


def test_error_event_has_openais_error_shape_and_no_done() -> None:
    err = RateLimited("Slow down.", retry_after=3)
    chunks = frames(encoder().error(err))
    assert chunks == [
        {
            "error": {
                "message": "Slow down.",
                "type": "rate_limit_error",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        }
    ]


def test_special_characters_in_id_and_model_are_escaped() -> None:
    enc = ChunkEncoder(completion_id='id"1', created=5, model="m\\odel")
    (chunk,) = frames(enc.content("x"))
    assert (chunk["id"], chunk["model"]) == ('id"1', "m\\odel")


def test_openai_usage_totals_prompt_and_completion() -> None:
    assert openai_usage(Usage(input_tokens=1052, output_tokens=7))["total_tokens"] == 1059


def accumulate(*events: Any) -> CompletionAccumulator:
    acc = CompletionAccumulator()
    for event in events:
        acc.add(event)
    return acc


def test_completion_has_exactly_openais_shape() -> None:
    acc = accumulate(AnswerDelta("Paris is"), AnswerDelta(" the capital."), Finished())
    response = acc.response(
        completion_id="chatcmpl-1",
        created=1790000000,
        model="qwen3.7-plus",
        finish_reason="stop",
        usage=Usage(input_tokens=1052, output_tokens=7),
    )
    assert response == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1790000000,
        "model": "qwen3.7-plus",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Paris is the capital.",
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 1052,
            "completion_tokens": 7,
            "total_tokens": 1059,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
        "system_fingerprint": None,
    }


def test_completion_reasoning_is_a_field_or_think_tags() -> None:
    acc = accumulate(ReasoningDelta("17 × 3"), ReasoningDelta(" is 51."), AnswerDelta("51."))
    common: dict[str, Any] = {
        "completion_id": "c",
        "created": 1,
        "model": "m",
        "finish_reason": "stop",
        "usage": None,
    }
    field = acc.response(**common)["choices"][0]["message"]
    assert field["content"] == "51."
    assert field["reasoning_content"] == "17 × 3 is 51."
    tags = acc.response(**common, reasoning="think_tags")["choices"][0]["message"]
    assert tags["content"] == "<think>\n17 × 3 is 51.\n</think>\n\n51."
    assert "reasoning_content" not in tags


def test_completion_cites_search_results_as_url_annotations() -> None:
    result = SearchResult(url="https://example.org/tides", title="Tide tables")
    acc = accumulate(SearchResults((result,)), SearchResults((result,)))
    acc.add(AnswerDelta("High tide is at 06:12 [1]."))
    message = acc.response(
        completion_id="c", created=1, model="m", finish_reason="stop", usage=USAGE
    )["choices"][0]["message"]
    start = message["content"].index("[1]")
    assert message["annotations"] == [
        {
            "type": "url_citation",
            "url_citation": {
                "start_index": start,
                "end_index": start + 3,
                "title": "Tide tables",
                "url": "https://example.org/tides",
            },
        }
    ]


def test_completion_ids_look_like_openais_and_differ() -> None:
    first, second = new_completion_id(), new_completion_id()
    assert re.fullmatch(r"chatcmpl-[A-Za-z0-9_-]{29}", first)
    assert first != second
