"""The Anthropic stream events in order, the whole message, errors and the model map."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from qwen_proxy.api.anthropic.errors import anthropic_error, anthropic_status, error_event
from qwen_proxy.api.anthropic.events import (
    JSON_PIECE,
    PING,
    MessageBuilder,
    MessageStream,
    anthropic_usage,
    stop_reason,
)
from qwen_proxy.api.anthropic.models import ModelMap, anthropic_model_entries, listed_id
from qwen_proxy.api.anthropic.request import AnthropicRequest
from qwen_proxy.api.anthropic.tokens import IMAGE_TOKENS, estimate_input_tokens
from qwen_proxy.config import Settings
from qwen_proxy.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    PayloadTooLarge,
    ServiceUnavailable,
)
from qwen_proxy.messages import ChatMessage, ImagePart
from qwen_proxy.qwen.errors import (
    ChatInProgress,
    ContentFiltered,
    StreamCut,
    UpstreamCaptcha,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from qwen_proxy.qwen.events import AnswerDelta, Created, Finished, ReasoningDelta, Usage
from qwen_proxy.service.events import ReplyEvent, ToolCallEvent
from qwen_proxy.service.models import UpstreamModel

pytestmark = pytest.mark.unit


def parse_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of every event; the name always matches the data's type."""
    out = []
    for frame in raw.decode().split("\n\n"):
        if not frame:
            continue
        name_line, data_line = frame.split("\n")
        name = name_line.removeprefix("event: ")
        data = orjson.loads(data_line.removeprefix("data: "))
        assert data["type"] == name
        out.append((name, data))
    return out


def run(batches: list[list[ReplyEvent]], *, show_thinking: bool = True) -> list[tuple[str, Any]]:
    stream = MessageStream(show_thinking=show_thinking)
    raw = stream.start("msg_1", "claude-sonnet", {"input_tokens": 5, "output_tokens": 0})
    for batch in batches:
        raw += stream.events(batch)
    raw += stream.finish("end_turn", None, {"input_tokens": 5, "output_tokens": 9})
    return parse_sse(raw)


def shape(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Each event as 'name' or 'name index kind' for a compact order table."""
    out = []
    for name, data in events:
        if name == "content_block_start":
            out.append(f"start {data['index']} {data['content_block']['type']}")
        elif name == "content_block_delta":
            delta = data["delta"]
            text = delta.get("text", delta.get("thinking"))
            out.append(f"delta {data['index']} {delta['type']} {text}")
        elif name == "content_block_stop":
            out.append(f"stop {data['index']}")
        else:
            out.append(name)
    return out


def test_thinking_then_answer_is_two_blocks_in_order() -> None:
    events = run(
        [
            [Created("c", None, "r"), ReasoningDelta("Think"), ReasoningDelta("ing")],
            [AnswerDelta("Hel"), AnswerDelta("lo")],
            [Finished()],
        ]
    )
    assert shape(events) == [
        "message_start",
        "start 0 thinking",
        "delta 0 thinking_delta Think",
        "delta 0 thinking_delta ing",
        "stop 0",
        "start 1 text",
        "delta 1 text_delta Hel",
        "delta 1 text_delta lo",
        "stop 1",
        "message_delta",
        "message_stop",
    ]


def test_no_block_is_ever_empty() -> None:
    events = run([[AnswerDelta(""), ReasoningDelta("")], [Finished()]])
    assert shape(events) == ["message_start", "message_delta", "message_stop"]


def test_thinking_blocks_carry_no_signature() -> None:
    events = run([[ReasoningDelta("hmm"), AnswerDelta("ok")]])
    start = next(data for name, data in events if name == "content_block_start")
    assert start["content_block"] == {"type": "thinking", "thinking": ""}
    assert b"signature" not in orjson.dumps(events)


def test_thinking_asked_to_be_omitted_is_not_sent() -> None:
    events = run([[ReasoningDelta("hidden"), AnswerDelta("shown")]], show_thinking=False)
    assert shape(events)[1:4] == ["start 0 text", "delta 0 text_delta shown", "stop 0"]


def test_message_start_and_delta_carry_the_message_and_usage() -> None:
    events = run([[AnswerDelta("x")]])
    start = events[0][1]["message"]
    assert start["id"] == "msg_1"
    assert start["model"] == "claude-sonnet"
    assert start["content"] == []
    assert start["stop_reason"] is None
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == 9


def test_a_call_streams_as_a_tool_use_block_with_its_json_in_pieces() -> None:
    arguments = '{"file_path": "/tmp/' + "x" * (JSON_PIECE + 10) + '"}'
    call = ToolCallEvent(0, "toolu_abc", "Read", arguments)
    events = run([[AnswerDelta("Reading.")], [call]])
    assert shape(events)[1:4] == ["start 0 text", "delta 0 text_delta Reading.", "stop 0"]
    names = [name for name, _ in events[4:-2]]
    assert names == [
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
    ]
    start = events[4][1]
    assert start["index"] == 1
    assert start["content_block"] == {
        "type": "tool_use",
        "id": "toolu_abc",
        "name": "Read",
        "input": {},
    }
    deltas = [data["delta"] for name, data in events if name == "content_block_delta"][1:]
    assert {d["type"] for d in deltas} == {"input_json_delta"}
    assert "".join(d["partial_json"] for d in deltas) == arguments


def test_the_whole_message_carries_tool_use_blocks_with_the_parsed_input() -> None:
    builder = MessageBuilder()
    for event in (
        AnswerDelta("Let me look."),
        ToolCallEvent(0, "toolu_1", "Read", '{"file_path": "/a"}'),
        ToolCallEvent(1, "toolu_2", "Glob", '{"pattern": "*.py"}'),
    ):
        builder.add(event)
    assert builder.content() == [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "/a"}},
        {"type": "tool_use", "id": "toolu_2", "name": "Glob", "input": {"pattern": "*.py"}},
    ]


def test_a_reply_that_made_calls_stops_for_tool_use() -> None:
    assert stop_reason("stop", None, made_calls=True) == "tool_use"
    assert stop_reason("stop", None, made_calls=False) == "end_turn"
    assert stop_reason("length", None, made_calls=True) == "max_tokens"


def test_ping_is_a_complete_event() -> None:
    assert parse_sse(PING) == [("ping", {"type": "ping"})]


@pytest.mark.parametrize(
    ("finish", "sequence", "reason"),
    [
        ("stop", None, "end_turn"),
        ("stop", "\nHuman:", "stop_sequence"),
        ("length", None, "max_tokens"),
        ("content_filter", None, "refusal"),
    ],
)
def test_stop_reasons(finish: str, sequence: str | None, reason: str) -> None:
    assert stop_reason(finish, sequence) == reason


def test_whole_message_content_has_thinking_then_text_and_no_empty_block() -> None:
    builder = MessageBuilder()
    for event in [ReasoningDelta("a"), ReasoningDelta("b"), AnswerDelta(""), AnswerDelta("ok")]:
        builder.add(event)
    assert builder.content() == [
        {"type": "thinking", "thinking": "ab"},
        {"type": "text", "text": "ok"},
    ]
    assert MessageBuilder().content() == []


def test_usage_counts_cache_reads_apart() -> None:
    usage = Usage(input_tokens=100, output_tokens=7, reasoning_tokens=2, cached_tokens=40)
    assert anthropic_usage(usage) == {
        "input_tokens": 60,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 40,
        "output_tokens": 7,
    }
    assert anthropic_usage(None, input_estimate=12)["input_tokens"] == 12


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (InvalidRequest("x"), 400, "invalid_request_error"),
        (ContentFiltered(), 400, "invalid_request_error"),
        (AuthenticationFailed("x"), 401, "authentication_error"),
        (ModelNotFound("x"), 404, "not_found_error"),
        (PayloadTooLarge("x"), 413, "request_too_large"),
        (ChatInProgress(), 409, "invalid_request_error"),
        (UpstreamRateLimited(), 429, "rate_limit_error"),
        (UpstreamCaptcha(), 529, "overloaded_error"),
        (ServiceUnavailable("no account"), 529, "overloaded_error"),
        (UpstreamTimeout(), 504, "timeout_error"),
        (StreamCut(), 502, "api_error"),
        (GatewayError("boom"), 500, "api_error"),
    ],
)
def test_gateway_errors_take_anthropic_statuses(
    error: GatewayError, status: int, kind: str
) -> None:
    assert anthropic_status(error) == (status, kind)
    assert anthropic_error(error) == {
        "type": "error",
        "error": {"type": kind, "message": error.message},
    }


def test_a_mid_stream_error_is_an_error_event() -> None:
    assert parse_sse(error_event(UpstreamCaptcha())) == [
        ("error", anthropic_error(UpstreamCaptcha()))
    ]


# --- the model map ----------------------------------------------------------------------------


def model(model_id: str) -> UpstreamModel:
    return UpstreamModel(
        id=model_id,
        name=model_id.upper(),
        created=1_760_000_000,
        thinking=True,
        thinking_only=False,
        search=False,
        vision=False,
        context_length=1000,
    )


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("claude-sonnet-4-6", "qwen3-coder-plus"),
        ("claude-3-7-sonnet-latest", "qwen3-coder-plus"),
        ("Claude-Opus-4-1", "qwen3-coder-plus"),
        ("claude-haiku-4-5-20251001", "qwen3.7-plus-fast"),
        ("claude-sonnet", "qwen3-coder-plus"),
        ("qwen3.7-max", "qwen3.7-max"),
        ("claude-mystery-1", "claude-mystery-1"),
    ],
)
def test_default_map_sends_claude_families_to_qwen_models(name: str, target: str) -> None:
    assert ModelMap(Settings().anthropic_models).resolve(name) == target


def test_first_matching_pattern_wins() -> None:
    mapping = ModelMap([("claude-sonnet-4-5*", "qwen3.7-max"), ("claude-sonnet-*", "x")])
    assert mapping.resolve("claude-sonnet-4-5-20250929") == "qwen3.7-max"
    assert mapping.resolve("claude-sonnet-4-6") == "x"


def test_patterns_are_listed_under_plain_claude_ids() -> None:
    assert listed_id("claude-*sonnet*") == listed_id("claude-sonnet-*") == "claude-sonnet"
    mapping = ModelMap([("claude-sonnet-*", "qwen3.7-max"), ("claude-*haiku*", "gone")])
    entries = anthropic_model_entries([model("qwen3.7-max")], mapping)
    # a mapping to a model the accounts lack is not offered
    assert [e["id"] for e in entries] == ["claude-sonnet", "qwen3.7-max"]
    alias = entries[0]
    assert alias["type"] == "model"
    assert alias["display_name"] == "claude-sonnet (qwen3.7-max)"
    assert alias["created_at"] == "2025-10-09T08:53:20Z"
    assert alias["object"] == "model"  # OpenAI clients read the same list


def test_count_tokens_estimate_is_the_folded_text_bytes_over_four_plus_images() -> None:
    request = AnthropicRequest(
        model="m",
        messages=(
            ChatMessage(role="user", text="a" * 40),
            ChatMessage(role="assistant", text="b" * 40),
            ChatMessage(role="user", text="c" * 40, images=(ImagePart(url="https://x.org/i.png"),)),
        ),
        max_tokens=None,
    )
    estimate = estimate_input_tokens(request)
    assert IMAGE_TOKENS + 30 < estimate < IMAGE_TOKENS + 90
    one = AnthropicRequest(
        model="m", messages=(ChatMessage(role="user", text="x" * 400),), max_tokens=None
    )
    assert estimate_input_tokens(one) == 100
