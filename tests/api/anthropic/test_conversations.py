"""An Anthropic history is the same conversation as its OpenAI twin: each face continues the
Qwen chat the other one started, sending only the new message."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from qwen_proxy.server.run import BackgroundGateway

pytestmark = pytest.mark.integration

COMPLETIONS = "/api/v2/chat/completions"
MODEL = "qwen3-coder-plus"  # what the default map sends claude-sonnet-* to


def completions(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests(COMPLETIONS) if r.method == "POST"]


def sent_text(request: Any) -> str:
    content = request.json["messages"][0]["content"]
    return content if isinstance(content, str) else content[0]["text"]


@pytest.fixture
def claude(gateway: BackgroundGateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key="test", max_retries=0)


def test_an_openai_conversation_continues_through_the_anthropic_face(
    emulator: Any, client: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    first = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Hello, my name is Ada."},
        ],
    )
    answer = first.choices[0].message.content or ""
    second = claude.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=100,
        system=[{"type": "text", "text": "Answer briefly."}],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Hello, my name is Ada."}]},
            {"role": "assistant", "content": [{"type": "text", "text": answer}]},
            {"role": "user", "content": "What is my name?"},
        ],
    )
    assert second.content[0].text == "Your name is Ada."  # type: ignore[union-attr]
    opened, continued = completions(emulator)
    assert continued.query["chat_id"] == opened.query["chat_id"]
    assert continued.json["parent_id"] is not None
    assert sent_text(continued) == "What is my name?"


def test_an_anthropic_conversation_continues_through_the_openai_face(
    emulator: Any, client: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    first = claude.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=2048,
        thinking=thinking,
        messages=[{"role": "user", "content": "My favourite colour is teal."}],
    )
    # the client sends the reply back as it got it, thinking block included
    echoed: Any = [block.model_dump(exclude_none=True) for block in first.content]
    second = claude.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=2048,
        thinking=thinking,
        messages=[
            {"role": "user", "content": "My favourite colour is teal."},
            {"role": "assistant", "content": echoed},
            {"role": "user", "content": "Noted?"},
        ],
    )
    third = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "user", "content": "My favourite colour is teal."},
            {"role": "assistant", "content": first.content[-1].text},  # type: ignore[union-attr]
            {"role": "user", "content": "Noted?"},
            {"role": "assistant", "content": second.content[-1].text},  # type: ignore[union-attr]
            {"role": "user", "content": "What is my favourite colour?"},
        ],
    )
    assert third.choices[0].message.content == "Your favourite colour is teal."
    requests = completions(emulator)
    assert len({r.query["chat_id"] for r in requests}) == 1
    assert [sent_text(r) for r in requests[1:]] == ["Noted?", "What is my favourite colour?"]
