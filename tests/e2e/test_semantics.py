"""OpenAI semantics through the official openai SDK: reasoning, web search, usage, limits,
``n``, ignored parameters, model variants and the content filter, against the emulator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from gateway_support import MODEL, running_gateway, session_settings
from qwen_proxy.emulator.model import long_text
from qwen_proxy.emulator.testing import EmulatorHandle

pytestmark = pytest.mark.e2e

USER = "echo: The answer is forty-two."
ANSWER = "The answer is forty-two."


def thoughts(question: str, turn: int = 1) -> str:
    """The emulator's reasoning for a one-turn question, joined as the gateway joins it."""
    return f"The user asks: {question}\n\nThis is turn {turn}, so I answer deterministically."


def ask(content: str) -> list[Any]:
    return [{"role": "user", "content": content}]


def streamed(client: openai.OpenAI, **kwargs: Any) -> list[Any]:
    return list(client.chat.completions.create(stream=True, **kwargs))


def joined(chunks: list[Any], field: str) -> str:
    return "".join(getattr(c.choices[0].delta, field, None) or "" for c in chunks if c.choices)


def thinking_sent(emulator: EmulatorHandle) -> list[bool]:
    return [
        r.json["messages"][-1]["feature_config"]["thinking_enabled"]
        for r in emulator.requests("/chat/completions")
    ]


@pytest.fixture
def make_client(emulator: EmulatorHandle, tmp_path: Path) -> Iterator[Any]:
    """Build a client for a gateway with extra settings (think tags, thinking format)."""
    with_gateways: list[Any] = []

    def build(**overrides: Any) -> openai.OpenAI:
        settings = session_settings(emulator, tmp_path, **overrides)
        context = running_gateway(settings)
        gateway = context.__enter__()
        with_gateways.append(context)
        return openai.OpenAI(base_url=gateway.url + "/v1", api_key="test", max_retries=0)

    yield build
    for context in reversed(with_gateways):
        context.__exit__(None, None, None)


# --- reasoning ----------------------------------------------------------------------------------


def test_thinking_suffix_streams_reasoning_content_then_the_answer(
    emulator: EmulatorHandle, client: openai.OpenAI
) -> None:
    chunks = streamed(client, model=MODEL + "-thinking", messages=ask(USER))
    assert joined(chunks, "reasoning_content") == thoughts(USER)
    # the thinking phase's own "finished" did not end the reply: the answer followed
    assert joined(chunks, "content") == ANSWER
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert thinking_sent(emulator) == [True]


def test_cumulative_summary_arrays_growing_in_place_are_never_repeated(
    client: openai.OpenAI,
) -> None:
    grew_in_place = False
    for turn in range(6):
        question = f"echo: question {turn}"
        chunks = streamed(client, model=MODEL + "-thinking", messages=ask(question))
        pieces = [getattr(c.choices[0].delta, "reasoning_content", None) for c in chunks]
        pieces = [p for p in pieces if p]
        assert "".join(pieces) == thoughts(question)
        # two thoughts in more than two pieces: an element grew in place upstream
        grew_in_place = grew_in_place or len(pieces) > 2
    assert grew_in_place, "the emulator should have grown a summary element in place"


def test_non_streamed_thinking_reply_has_message_reasoning_content(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model=MODEL + "-thinking", messages=ask(USER))
    message = reply.choices[0].message
    assert message.content == ANSWER
    assert getattr(message, "reasoning_content", None) == thoughts(USER)


@pytest.mark.parametrize(
    ("model", "extra", "thinking"),
    [
        (MODEL, {"reasoning_effort": "high"}, True),
        (MODEL, {"reasoning_effort": "medium"}, True),
        (MODEL, {"reasoning_effort": "low"}, False),
        (MODEL, {"reasoning_effort": "minimal"}, False),
        (MODEL, {"extra_body": {"enable_thinking": True}}, True),
        (MODEL, {"extra_body": {"enable_thinking": False}, "reasoning_effort": "high"}, False),
        (MODEL + "-fast", {"reasoning_effort": "high"}, False),
        (MODEL, {}, False),
    ],
)
def test_thinking_follows_suffix_then_enable_thinking_then_reasoning_effort(
    emulator: EmulatorHandle,
    client: openai.OpenAI,
    model: str,
    extra: dict[str, Any],
    thinking: bool,
) -> None:
    reply = client.chat.completions.create(model=model, messages=ask(USER), **extra)
    assert bool(getattr(reply.choices[0].message, "reasoning_content", None)) is thinking
    assert reply.choices[0].message.content == ANSWER
    assert thinking_sent(emulator) == [thinking]


def test_think_tags_put_reasoning_inside_content_streamed_and_not(make_client: Any) -> None:
    client = make_client(reasoning_output="think_tags")
    expected = f"<think>\n{thoughts(USER)}\n</think>\n\n{ANSWER}"
    chunks = streamed(client, model=MODEL + "-thinking", messages=ask(USER))
    assert joined(chunks, "content") == expected
    assert joined(chunks, "reasoning_content") == ""
    reply = client.chat.completions.create(model=MODEL + "-thinking", messages=ask(USER))
    assert reply.choices[0].message.content == expected


def test_detail_thinking_format_streams_the_incremental_think_phase(
    emulator: EmulatorHandle, make_client: Any
) -> None:
    client = make_client(thinking_format="detail")
    chunks = streamed(client, model=MODEL + "-thinking", messages=ask(USER))
    assert joined(chunks, "reasoning_content") == thoughts(USER)
    assert joined(chunks, "content") == ANSWER
    sent = emulator.requests("/chat/completions")[-1].json["messages"][-1]["feature_config"]
    assert sent["thinking_format"] == "detail"


def test_upstream_cut_inside_thinking_keeps_the_reasoning_and_raises(
    client: openai.OpenAI,
) -> None:
    question = "echo: cut me [[fault:think_then_stop]]"
    stream = client.chat.completions.create(
        model=MODEL + "-thinking", stream=True, messages=ask(question)
    )
    seen: list[Any] = []

    def read_all() -> None:
        seen.extend(stream)

    with pytest.raises(openai.APIError):
        read_all()
    reasoning = joined(seen, "reasoning_content")
    assert reasoning
    assert thoughts("echo: cut me").startswith(reasoning)
    assert joined(seen, "content") == ""
    assert all(c.choices[0].finish_reason is None for c in seen if c.choices)


def test_max_tokens_can_end_the_reply_inside_thinking(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=MODEL + "-thinking", messages=ask(USER), max_completion_tokens=3
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "length"
    assert not choice.message.content
    reasoning = getattr(choice.message, "reasoning_content", None)
    assert reasoning
    assert len(reasoning) < len(thoughts(USER))
    assert thoughts(USER).startswith(reasoning)
    assert reply.usage is not None
    assert reply.usage.completion_tokens <= 3


# --- web search -----------------------------------------------------------------------------


def test_search_suffix_cites_sources_as_url_annotations(
    emulator: EmulatorHandle, client: openai.OpenAI
) -> None:
    reply = client.chat.completions.create(model=MODEL + "-search", messages=ask(USER))
    annotations = reply.choices[0].message.annotations or []
    assert [a.type for a in annotations] == ["url_citation", "url_citation"]
    assert [a.url_citation.url for a in annotations] == [
        "https://example.org/search/1",
        "https://example.org/search/2",
    ]
    assert annotations[0].url_citation.title.startswith("Result 1")
    assert reply.choices[0].message.content == ANSWER
    assert emulator.requests("/chats/new")[-1].json["chat_type"] == "search"


def test_streamed_search_sends_annotations_in_a_delta_before_the_finish(
    client: openai.OpenAI,
) -> None:
    chunks = streamed(client, model=MODEL + "-search", messages=ask(USER))
    carrying = [
        c for c in chunks if c.choices and (c.choices[0].delta.model_extra or {}).get("annotations")
    ]
    assert len(carrying) == 1
    annotations = carrying[0].choices[0].delta.model_extra["annotations"]
    assert [a["url_citation"]["url"] for a in annotations] == [
        "https://example.org/search/1",
        "https://example.org/search/2",
    ]
    # offsets point into the content as the client assembled it (no [n] marker: at the end)
    assert annotations[0]["url_citation"]["start_index"] == len(ANSWER)
    assert chunks.index(carrying[0]) < len(chunks) - 1
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_web_search_options_turn_search_on(emulator: EmulatorHandle, client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=ask(USER), web_search_options={})
    assert len(reply.choices[0].message.annotations or []) == 2
    sent = emulator.requests("/chat/completions")[-1].json["messages"][-1]
    assert sent["chat_type"] == "search"


def test_plain_reply_has_no_annotations(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=ask(USER))
    assert not reply.choices[0].message.annotations
    chunks = streamed(client, model=MODEL, messages=ask(USER))
    assert not any((c.choices[0].delta.model_extra or {}).get("annotations") for c in chunks)


# --- usage ------------------------------------------------------------------------------------


def test_usage_reports_reasoning_tokens_inside_completion_tokens(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model=MODEL + "-thinking", messages=ask(USER))
    usage = reply.usage
    assert usage is not None
    details = usage.completion_tokens_details
    assert details is not None
    assert details.reasoning_tokens
    assert 0 < details.reasoning_tokens < usage.completion_tokens
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_include_usage_final_chunk_has_the_same_fields_as_a_whole_reply(
    client: openai.OpenAI,
) -> None:
    whole = client.chat.completions.create(model=MODEL + "-thinking", messages=ask(USER))
    chunks = streamed(
        client,
        model=MODEL + "-thinking",
        messages=ask(USER),
        stream_options={"include_usage": True},
    )
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert whole.usage is not None
    assert last.usage.prompt_tokens == whole.usage.prompt_tokens  # the same context
    details = last.usage.completion_tokens_details
    assert details is not None
    assert (details.reasoning_tokens or 0) > 0
    assert (details.reasoning_tokens or 0) < last.usage.completion_tokens
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])


def test_include_usage_false_sends_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = streamed(
        client, model=MODEL, messages=ask(USER), stream_options={"include_usage": False}
    )
    assert all(c.choices and c.usage is None for c in chunks)


# --- max_tokens and stop --------------------------------------------------------------------------


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_cuts_the_reply_with_finish_reason_length(
    client: openai.OpenAI, param: str
) -> None:
    full = long_text(2000)
    reply = client.chat.completions.create(
        model=MODEL, messages=ask("long answer 2000"), **{param: 10}
    )
    content = reply.choices[0].message.content or ""
    assert reply.choices[0].finish_reason == "length"
    assert content
    assert full.startswith(content)
    assert len(content) < 200
    assert reply.usage is not None
    assert 0 < reply.usage.completion_tokens <= 10


def test_streamed_max_tokens_cut_ends_with_length_and_usage(client: openai.OpenAI) -> None:
    chunks = streamed(
        client,
        model=MODEL,
        messages=ask("long answer 2000"),
        max_tokens=10,
        stream_options={"include_usage": True},
    )
    content = joined(chunks, "content")
    assert content
    assert long_text(2000).startswith(content)
    assert len(content) < 200
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens <= 10


def test_a_cut_cancels_the_upstream_reply_at_once(
    emulator: EmulatorHandle, client: openai.OpenAI
) -> None:
    # trickled at 20 ms per event, the whole answer would take about 10 s
    question = "long answer 2000 [[fault:trickle delay=0.02]]"
    started = time.monotonic()
    chunks = streamed(client, model=MODEL, messages=ask(question), max_tokens=5)
    assert chunks[-1].choices[0].finish_reason == "length"
    assert time.monotonic() - started < 3
    writes = emulator.requests("/chat/completions")[-1].writes
    assert len(writes) < 100, "the emulator should have seen the client go away"


def test_stop_sequence_split_across_deltas_never_reaches_the_client(
    emulator: EmulatorHandle, client: openai.OpenAI
) -> None:
    emulator.set_knobs(delta_min=1, delta_max=2)
    text = "Thought: I should look. Action: search\nObservation: invented 42 degrees"
    for stream in (False, True):
        if stream:
            chunks = streamed(client, model=MODEL, messages=ask("echo: " + text), stop="\nObs")
            content, reason = joined(chunks, "content"), chunks[-1].choices[0].finish_reason
        else:
            reply = client.chat.completions.create(
                model=MODEL, messages=ask("echo: " + text), stop=["\nObs", "never"]
            )
            content = reply.choices[0].message.content or ""
            reason = reply.choices[0].finish_reason
        assert content == "Thought: I should look. Action: search"
        assert reason == "stop"


def test_stop_that_never_occurs_changes_nothing(client: openai.OpenAI) -> None:
    chunks = streamed(client, model=MODEL, messages=ask(USER), stop=["two-", "zzz"])
    assert joined(chunks, "content") == ANSWER
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_the_turn_after_a_cut_reply_sends_what_the_client_saw(
    emulator: EmulatorHandle, client: openai.OpenAI
) -> None:
    first = ask("My pet is Rex.")
    cut = client.chat.completions.create(model=MODEL, messages=first, stop=" This")
    assert cut.choices[0].message.content == "Hello!"  # the full reply: "Hello! This is turn 1."
    history = [
        *first,
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "What is my pet?"},
    ]
    reply = client.chat.completions.create(model=MODEL, messages=history)
    assert reply.choices[0].message.content == "Your pet is Rex."
    # the cut reply left no node: the history went folded into a new chat, cut text and all
    sent = emulator.requests("/chat/completions")[-1].json
    assert sent["parent_id"] is None
    folded = sent["messages"][-1]["content"]
    assert "Hello!" in folded
    assert "This is turn" not in folded


def test_a_cut_reply_does_not_leave_the_chat_busy_for_the_next_turn(
    emulator: EmulatorHandle, client: openai.OpenAI
) -> None:
    first = ask("My pet is Rex.")
    hello = client.chat.completions.create(model=MODEL, messages=first)
    known = [*first, {"role": "assistant", "content": hello.choices[0].message.content or ""}]
    slow = [*known, {"role": "user", "content": "long answer 2000 [[fault:trickle delay=0.02]]"}]
    streamed(client, model=MODEL, messages=slow, max_tokens=5)
    again = [*known, {"role": "user", "content": "What is my pet?"}]
    reply = client.chat.completions.create(model=MODEL, messages=again)
    assert reply.choices[0].message.content == "Your pet is Rex."
    completions = emulator.requests("/chat/completions")
    assert len({r.query["chat_id"] for r in completions}) == 1, "continued in the same chat"


# --- n, ignored parameters, models, content filter -------------------------------------------


def test_n_above_one_is_refused_with_a_clear_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=ask(USER), n=2)
    assert caught.value.param == "n"
    assert "n=1" in caught.value.message
    assert client.chat.completions.create(model=MODEL, messages=ask(USER), n=1).choices


def test_parameters_the_upstream_cannot_apply_are_named_in_a_header(
    client: openai.OpenAI,
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=ask(USER), temperature=0.2, top_p=0.5, seed=7, max_tokens=50
    )
    listed = raw.headers["x-qwen-proxy-ignored-params"].split(",")
    assert sorted(listed) == ["seed", "temperature", "top_p"]
    assert raw.parse().choices[0].message.content == ANSWER
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=ask(USER), stream=True, temperature=1, stop="x"
    ) as response:
        assert response.headers["x-qwen-proxy-ignored-params"] == "temperature"
    plain = client.chat.completions.with_raw_response.create(model=MODEL, messages=ask(USER))
    assert "x-qwen-proxy-ignored-params" not in plain.headers


def test_models_list_base_models_and_their_variants_with_capabilities(
    client: openai.OpenAI,
) -> None:
    models = {m.id: m.model_extra or {} for m in client.models.list()}
    for variant in ("", "-thinking", "-fast", "-search"):
        assert MODEL + variant in models
    assert models[MODEL + "-thinking"]["capabilities"]["reasoning"] is True
    assert models[MODEL + "-fast"]["capabilities"]["reasoning"] is False
    assert models[MODEL + "-search"]["capabilities"]["web_search"] is True
    assert models[MODEL]["context_length"] == 1_000_000
    thinking_only = {m for m, e in models.items() if e["name"] == "Qwen3.6-Max-Preview"}
    assert thinking_only == {"qwen3.6-max-preview", "qwen3.6-max-preview-search"}
    assert models["qwen3.6-max-preview"]["capabilities"]["reasoning"] is True
    for name in models:
        assert client.models.retrieve(name).id == name


def test_content_filter_mid_stream_ends_with_content_filter_and_keeps_text(
    client: openai.OpenAI,
) -> None:
    question = "long answer 300 [[fault:error_midstream after=3]]"
    chunks = streamed(client, model=MODEL, messages=ask(question))
    content = joined(chunks, "content")
    assert content
    assert long_text(300).startswith(content)
    assert len(content) < 300
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    reply = client.chat.completions.create(model=MODEL, messages=ask(question))
    assert reply.choices[0].finish_reason == "content_filter"
    assert long_text(300).startswith(reply.choices[0].message.content or "")
