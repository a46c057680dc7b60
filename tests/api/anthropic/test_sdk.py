"""The official anthropic SDK against the gateway against the emulator: messages streamed and
not, thinking, limits, errors, count_tokens and the model list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from gateway_support import running_gateway, session_settings
from qwen_proxy.emulator.model import THINKING_TITLES, long_text
from qwen_proxy.server.run import BackgroundGateway

pytestmark = pytest.mark.integration

SONNET = "claude-sonnet-4-6"


@pytest.fixture
def claude(gateway: BackgroundGateway) -> anthropic.Anthropic:
    """The official client pointed at the gateway (SDK retries off: tests see each answer)."""
    return anthropic.Anthropic(base_url=gateway.url, api_key="test", max_retries=0)


@pytest.fixture
def keyed(emulator: Any, tmp_path: Path) -> Iterator[BackgroundGateway]:
    """A gateway that requires the client key "sesame"."""
    settings = session_settings(emulator, tmp_path, api_keys=("sesame",))
    with running_gateway(settings) as running:
        yield running


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def test_a_message_is_answered_whole(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model=SONNET, max_tokens=200, messages=user("echo: Hello, Claude Code!")
    )
    assert message.id.startswith("msg_")
    assert message.model == SONNET
    assert message.role == "assistant"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "Hello, Claude Code!"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0


def test_a_message_streams_in_anthropics_event_order(claude: anthropic.Anthropic) -> None:
    stream = claude.messages.create(
        model=SONNET, max_tokens=200, stream=True, messages=user("echo: one two three four five")
    )
    events = list(stream)
    kinds = [event.type for event in events]
    assert kinds[0] == "message_start"
    assert kinds[1] == "content_block_start"
    assert set(kinds[2:-3]) == {"content_block_delta"}
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    text = "".join(
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == "one two three four five"


def test_the_stream_helper_assembles_the_final_message(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model=SONNET, max_tokens=300, messages=user("unicode")) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == final.content[0].text  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


def test_thinking_comes_back_as_thinking_blocks_without_a_signature(
    claude: anthropic.Anthropic,
) -> None:
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    whole = claude.messages.create(
        model=SONNET, max_tokens=4096, thinking=thinking, messages=user("echo: thought through")
    )
    assert [block.type for block in whole.content] == ["thinking", "text"]
    assert "The user asks" in whole.content[0].thinking  # type: ignore[union-attr]
    assert getattr(whole.content[0], "signature", None) is None
    with claude.messages.stream(
        model=SONNET, max_tokens=4096, thinking=thinking, messages=user("echo: streamed")
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert "thinking" in kinds
    assert [block.type for block in final.content] == ["thinking", "text"]
    assert final.content[1].text == "streamed"  # type: ignore[union-attr]
    assert THINKING_TITLES[0] not in final.content[1].text  # type: ignore[union-attr]


@pytest.mark.parametrize("stream", [False, True])
def test_a_stop_sequence_ends_the_answer_and_is_named(
    claude: anthropic.Anthropic, stream: bool
) -> None:
    kwargs: Any = {
        "model": SONNET,
        "max_tokens": 200,
        "stop_sequences": ["Observation:"],
        "messages": user("echo: Thought: look up. Observation: 42"),
    }
    if stream:
        with claude.messages.stream(**kwargs) as running:
            message = running.get_final_message()
    else:
        message = claude.messages.create(**kwargs)
    assert message.content[0].text == "Thought: look up. "  # type: ignore[union-attr]
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == "Observation:"


@pytest.mark.parametrize("stream", [False, True])
def test_max_tokens_cuts_the_answer(claude: anthropic.Anthropic, stream: bool) -> None:
    kwargs: Any = {"model": SONNET, "max_tokens": 5, "messages": user("long answer 3000")}
    if stream:
        with claude.messages.stream(**kwargs) as running:
            message = running.get_final_message()
    else:
        message = claude.messages.create(**kwargs)
    assert message.stop_reason == "max_tokens"
    text = message.content[0].text  # type: ignore[union-attr]
    assert 0 < len(text) < 100
    assert long_text(3000).startswith(text)


def test_count_tokens_estimates_the_prompt(claude: anthropic.Anthropic) -> None:
    short = claude.messages.count_tokens(model=SONNET, messages=user("hello"))
    longer = claude.messages.count_tokens(
        model=SONNET, system="You are helpful. " * 50, messages=user("hello")
    )
    assert 0 < short.input_tokens < longer.input_tokens
    # Claude Code counts with its tools: they are counted, not refused
    tool: Any = {"name": "read_file", "description": "Read a file. " * 20, "input_schema": {}}
    with_tools = claude.messages.count_tokens(model=SONNET, tools=[tool], messages=user("hello"))
    assert with_tools.input_tokens > short.input_tokens


def test_the_model_list_offers_the_claude_names(claude: anthropic.Anthropic) -> None:
    ids = [model.id for model in claude.models.list()]
    assert {"claude-opus", "claude-sonnet", "claude-haiku"} <= set(ids)
    assert "qwen3.7-plus" in ids
    assert (
        claude.models.retrieve("claude-sonnet").display_name == "claude-sonnet (qwen3-coder-plus)"
    )
    answer = claude.messages.create(model="claude-haiku", max_tokens=50, messages=user("echo: ok"))
    assert answer.content[0].text == "ok"  # type: ignore[union-attr]


def test_a_bad_field_is_a_400_naming_it(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model=SONNET,
            max_tokens=2000,
            thinking={"type": "enabled", "budget_tokens": 10},
            messages=user("hi"),
        )
    assert caught.value.status_code == 400
    body: Any = caught.value.body
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith("thinking.budget_tokens:")


def test_a_request_with_tools_is_served(claude: anthropic.Anthropic) -> None:
    # (the tool round trips are in test_sdk_tools)
    message = claude.messages.create(
        model=SONNET,
        max_tokens=100,
        tools=[{"name": "weather", "input_schema": {"type": "object"}}],
        messages=user("[[tools:text]] weather?"),
    )
    assert message.stop_reason == "end_turn"
    assert message.content[0].type == "text"


def test_an_unknown_model_is_404_not_found(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        claude.messages.create(model="qwen-nonexistent", max_tokens=10, messages=user("hi"))
    body: Any = caught.value.body
    assert body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.count_tokens(model="qwen-nonexistent", messages=user("hi"))


def test_client_key_by_x_api_key_or_bearer_and_401_otherwise(keyed: BackgroundGateway) -> None:
    by_header = anthropic.Anthropic(base_url=keyed.url, api_key="sesame", max_retries=0)
    by_bearer = anthropic.Anthropic(base_url=keyed.url, auth_token="sesame", max_retries=0)
    for client in (by_header, by_bearer):
        reply = client.messages.create(model=SONNET, max_tokens=10, messages=user("echo: in"))
        assert reply.content[0].text == "in"  # type: ignore[union-attr]
    wrong = anthropic.Anthropic(base_url=keyed.url, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        wrong.messages.create(model=SONNET, max_tokens=10, messages=user("hi"))
    body: Any = caught.value.body
    assert body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.AuthenticationError):
        wrong.models.list()


def test_a_crowded_upstream_is_529_overloaded(emulator: Any, claude: anthropic.Anthropic) -> None:
    # Qwen's "crowded" answer is its risk engine's challenge: the only account is quarantined
    emulator.set_fault("capacity")
    with pytest.raises(anthropic.OverloadedError) as caught:
        claude.messages.create(model=SONNET, max_tokens=10, messages=user("hi"))
    assert caught.value.status_code == 529
    # a stream that fails before its first content answers with the status too
    with pytest.raises(anthropic.OverloadedError):
        claude.messages.create(model=SONNET, max_tokens=10, stream=True, messages=user("hi"))


def test_a_failure_mid_stream_is_an_error_event(emulator: Any, claude: anthropic.Anthropic) -> None:
    emulator.set_fault("cut_after", n=4)
    stream = claude.messages.create(
        model=SONNET, max_tokens=2000, stream=True, messages=user("long answer 400")
    )
    received: list[Any] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        received.extend(stream)
    assert received[0].type == "message_start"
    body: Any = caught.value.body
    assert body["type"] == "error"
    assert body["error"]["type"] == "api_error"


def test_a_content_filter_mid_answer_is_a_refusal(
    emulator: Any, claude: anthropic.Anthropic
) -> None:
    emulator.set_fault("error_midstream", after=2, code="data_inspection_failed")
    with claude.messages.stream(
        model=SONNET, max_tokens=2000, messages=user("long answer 300")
    ) as stream:
        message = stream.get_final_message()
    assert message.stop_reason == "refusal"
    assert message.content[0].text  # type: ignore[union-attr]


def test_openai_clients_still_get_the_plain_model_list(
    client: Any, claude: anthropic.Anthropic
) -> None:
    ids = [model.id for model in client.models.list()]
    assert "qwen3.7-plus" in ids
    assert not any(model_id.startswith("claude") for model_id in ids)
