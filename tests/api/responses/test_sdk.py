"""The official openai SDK's Responses API against the gateway against the emulator: text,
streams, reasoning, previous_response_id, store false, limits and errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import redis

from gateway_support import MODEL, running_gateway, session_settings
from qwen_proxy.emulator.model import long_text
from qwen_proxy.server.run import BackgroundGateway

pytestmark = pytest.mark.integration

COMPLETIONS = "/api/v2/chat/completions"


def completions(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests(COMPLETIONS) if r.method == "POST"]


def sent_text(request: Any) -> str:
    content = request.json["messages"][0]["content"]
    return content if isinstance(content, str) else content[0]["text"]


@pytest.fixture
def keyed(emulator: Any, tmp_path: Path) -> Iterator[BackgroundGateway]:
    settings = session_settings(emulator, tmp_path, api_keys=("alice", "bob"))
    with running_gateway(settings) as running:
        yield running


def test_a_response_is_answered_whole(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input="echo: Hello, Codex!")
    assert response.id.startswith("resp_")
    assert response.object == "response"
    assert response.status == "completed"
    assert response.model == MODEL
    assert response.output_text == "Hello, Codex!"
    assert [item.type for item in response.output] == ["message"]
    assert response.usage is not None
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens


def test_a_response_streams_with_sequence_numbers(client: openai.OpenAI) -> None:
    events = list(
        client.responses.create(model=MODEL, input="echo: one two three four", stream=True)
    )
    kinds = [event.type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "one two three four"


def test_the_stream_helper_assembles_the_final_response(client: openai.OpenAI) -> None:
    with client.responses.stream(model=MODEL, input="unicode") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text
    assert final.status == "completed"


def test_reasoning_comes_back_as_a_reasoning_item_with_a_summary(client: openai.OpenAI) -> None:
    reasoning: Any = {"effort": "high", "summary": "auto"}
    whole = client.responses.create(model=MODEL, input="echo: thought", reasoning=reasoning)
    assert [item.type for item in whole.output] == ["reasoning", "message"]
    summary = whole.output[0].summary  # type: ignore[union-attr]
    assert "The user asks" in summary[0].text
    assert whole.output_text == "thought"
    assert whole.usage is not None
    assert whole.usage.output_tokens_details.reasoning_tokens > 0
    with client.responses.stream(model=MODEL, input="echo: streamed", reasoning=reasoning) as s:
        kinds = [event.type for event in s]
        final = s.get_final_response()
    assert "response.reasoning_summary_text.delta" in kinds
    assert kinds.index("response.reasoning_summary_text.done") < kinds.index(
        "response.output_text.delta"
    )
    assert final.output_text == "streamed"


def test_previous_response_id_continues_the_conversation_sending_only_the_new_input(
    emulator: Any, client: openai.OpenAI
) -> None:
    first = client.responses.create(model=MODEL, instructions="Be brief.", input="My name is Ada.")
    second = client.responses.create(
        model=MODEL,
        instructions="Be brief.",
        input="My city is Paris.",
        previous_response_id=first.id,
    )
    third = client.responses.create(
        model=MODEL,
        instructions="Be brief.",
        input="What is my name?",
        previous_response_id=second.id,
    )
    assert third.output_text == "Your name is Ada."
    assert third.previous_response_id == second.id
    requests = completions(emulator)
    assert len({r.query["chat_id"] for r in requests}) == 1
    assert [sent_text(r) for r in requests[1:]] == ["My city is Paris.", "What is my name?"]


def test_a_streamed_response_can_be_continued_at_once(client: openai.OpenAI) -> None:
    with client.responses.stream(model=MODEL, input="My colour is teal.") as stream:
        first = stream.get_final_response()
    follow = client.responses.create(
        model=MODEL, input="What is my colour?", previous_response_id=first.id
    )
    assert follow.output_text == "Your colour is teal."


def test_store_false_clients_resending_everything_continue_the_same_chat(
    emulator: Any, client: openai.OpenAI
) -> None:
    items: list[Any] = [{"role": "user", "content": "My name is Grace."}]
    first = client.responses.create(model=MODEL, instructions="Be brief.", input=items, store=False)
    items += [item.model_dump(exclude_none=True) for item in first.output]
    items.append({"role": "user", "content": "What is my name?"})
    second = client.responses.create(
        model=MODEL, instructions="Be brief.", input=items, store=False
    )
    assert second.output_text == "Your name is Grace."
    opened, continued = completions(emulator)
    assert continued.query["chat_id"] == opened.query["chat_id"]
    assert sent_text(continued) == "What is my name?"
    # nothing was stored: the id cannot be continued
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, input="hi", previous_response_id=first.id)
    assert caught.value.param == "previous_response_id"
    assert caught.value.code == "previous_response_not_found"


def test_another_clients_response_cannot_be_continued(keyed: BackgroundGateway) -> None:
    alice = openai.OpenAI(base_url=keyed.url + "/v1", api_key="alice", max_retries=0)
    bob = openai.OpenAI(base_url=keyed.url + "/v1", api_key="bob", max_retries=0)
    mine = alice.responses.create(model=MODEL, input="My secret is 42.")
    with pytest.raises(openai.BadRequestError):
        bob.responses.create(model=MODEL, input="What is my secret?", previous_response_id=mine.id)
    wrong = openai.OpenAI(base_url=keyed.url + "/v1", api_key="eve", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.responses.create(model=MODEL, input="hi")


@pytest.mark.parametrize("stream", [False, True])
def test_max_output_tokens_makes_the_response_incomplete(
    client: openai.OpenAI, stream: bool
) -> None:
    kwargs: Any = {"model": MODEL, "input": "long answer 3000", "max_output_tokens": 16}
    if stream:
        with client.responses.stream(**kwargs) as running:
            events = list(running)
        assert events[-1].type == "response.incomplete"
        response = events[-1].response  # type: ignore[union-attr]
    else:
        response = client.responses.create(**kwargs)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    text = response.output_text
    assert 0 < len(text) < 200
    assert long_text(3000).startswith(text)


def test_a_failure_mid_stream_is_response_failed(emulator: Any, client: openai.OpenAI) -> None:
    emulator.set_fault("cut_after", n=4)
    events = list(client.responses.create(model=MODEL, input="long answer 400", stream=True))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.failed"
    failed = events[-1].response  # type: ignore[union-attr]
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.code == "server_error"


def test_a_bad_parameter_is_a_400_naming_it(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(
            model=MODEL,
            input=[{"role": "robot", "content": "hi"}],  # type: ignore[list-item]
        )
    assert caught.value.param == "input[0].role"
    assert caught.value.type == "invalid_request_error"


def test_a_request_with_tools_is_served(client: openai.OpenAI) -> None:
    # (the tool round trips are in test_sdk_tools)
    response = client.responses.create(
        model=MODEL,
        input="[[tools:text]] weather?",
        tools=[{"type": "function", "name": "weather", "parameters": {}, "strict": False}],
    )
    assert response.status == "completed"
    assert [item.type for item in response.output] == ["message"]


def test_an_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="gpt-nonexistent", input="hi")
    assert caught.value.code == "model_not_found"


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_previous_response_id_works_with_every_store(
    emulator: Any, tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("redis_url") if store == "redis" else store
    prefix = f"qwen-proxy-test:{tmp_path.name}:"
    settings = session_settings(emulator, tmp_path, store=url, redis_prefix=prefix)
    with running_gateway(settings) as gateway:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0)
        first = client.responses.create(model=MODEL, input="My pet is Rex.")
        follow = client.responses.create(
            model=MODEL, input="What is my pet?", previous_response_id=first.id
        )
    assert follow.output_text == "Your pet is Rex."
    if store == "redis":
        raw = redis.Redis.from_url(url)
        keys = list(raw.scan_iter(match=f"{prefix}*"))
        assert any(b":resp:" in key for key in keys)
        raw.delete(*keys)
        raw.close()
