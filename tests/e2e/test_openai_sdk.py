"""The official openai package, sync and async, against the gateway against the emulator."""

from __future__ import annotations

import openai
import pytest

from gateway_support import MODEL
from qwen_proxy.emulator.model import UNICODE_ANSWER, long_text

pytestmark = pytest.mark.e2e


def test_non_streamed_reply_is_a_chat_completion(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "echo: Hello, gateway!"}]
    )
    assert reply.object == "chat.completion"
    assert reply.id.startswith("chatcmpl-")
    assert reply.model == MODEL
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == "Hello, gateway!"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 0
    assert reply.usage.completion_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_streamed_reply_has_role_deltas_and_finish(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        stream=True,
        messages=[{"role": "user", "content": "echo: one two three four five six seven"}],
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert {c.id for c in chunks} == {chunks[0].id}
    assert {c.created for c in chunks} == {chunks[0].created}
    assert {c.model for c in chunks} == {MODEL}
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four five six seven"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert len(chunks) > 3, "the answer should arrive in several deltas"


def test_non_ascii_answer_arrives_byte_exact_through_fragmented_upstream(
    client: openai.OpenAI,
) -> None:
    stream = client.chat.completions.create(
        model=MODEL, stream=True, messages=[{"role": "user", "content": "unicode please"}]
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == UNICODE_ANSWER


def test_long_answer_is_complete_streamed_and_not(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "long answer 20000"}]
    whole = client.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
    assert whole.choices[0].message.content == long_text(20000)
    stream = client.chat.completions.create(model=MODEL, messages=messages, stream=True)  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == long_text(
        20000
    )


def test_include_usage_adds_a_final_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "echo: counted"}],
        )
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_without_include_usage_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model=MODEL, stream=True, messages=[{"role": "user", "content": "echo: x"}]
        )
    )
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


async def test_async_client_streams_and_completes(aclient: openai.AsyncOpenAI) -> None:
    reply = await aclient.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "echo: async works"}]
    )
    assert reply.choices[0].message.content == "async works"
    stream = await aclient.chat.completions.create(
        model=MODEL, stream=True, messages=[{"role": "user", "content": "echo: async streams"}]
    )
    parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(parts) == "async streams"


def test_history_is_not_lost_on_a_new_chat(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "The secret word is swordfish."},
            {"role": "user", "content": "My name is Ada."},
            {"role": "assistant", "content": "Nice to meet you, Ada."},
            {"role": "user", "content": "What is my name? And what is the secret word?"},
        ],
    )
    assert reply.choices[0].message.content == "Your name is Ada."


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert MODEL in ids
    assert client.models.retrieve(MODEL).id == MODEL


def test_unknown_model_is_404_model_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(
            model="gpt-nonexistent", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-nonexistent")


def test_invalid_request_names_the_param(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "robot", "content": "hi"}],  # type: ignore[misc,list-item]
        )
    assert caught.value.param == "messages[0].role"
    assert caught.value.type == "invalid_request_error"


def test_tools_are_served_not_dropped(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "weather?"}],
        tools=[{"type": "function", "function": {"name": "weather", "parameters": {}}}],
    )
    assert reply.choices[0].finish_reason == "tool_calls"
    calls = reply.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["weather"]  # type: ignore[union-attr]
