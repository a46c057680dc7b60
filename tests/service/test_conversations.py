"""Conversations never lose or mix context (docs/architecture.md, "The conversation model").

Each test checks both what the emulator received (chat ids, parent ids, content sent) and what
its model could recall from the branch it had on record.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest

from gateway_support import (
    MODEL,
    browser_session,
    gateway_settings,
    running_gateway,
    session_settings,
)

pytestmark = pytest.mark.integration

COMPLETIONS = "/api/v2/chat/completions"
NEW_CHAT = "/api/v2/chats/new"


def say(client: openai.OpenAI, history: list[dict[str, Any]], text: str) -> str:
    """Send ``history + [user text]``, append both turns to the history, return the answer."""
    history.append({"role": "user", "content": text})
    reply = client.chat.completions.create(model=MODEL, messages=history)  # type: ignore[arg-type]
    answer = reply.choices[0].message.content or ""
    history.append({"role": "assistant", "content": answer})
    return answer


def completions(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests(COMPLETIONS) if r.method == "POST"]


def sent_text(request: Any) -> str:
    content = request.json["messages"][0]["content"]
    return content if isinstance(content, str) else content[0]["text"]


def keyed_client(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)


def test_continued_turn_sends_only_the_new_message_and_keeps_context(
    emulator: Any, client: openai.OpenAI
) -> None:
    history: list[dict[str, Any]] = []
    say(client, history, "Hello, my name is Ada.")
    assert say(client, history, "What is my name?") == "Your name is Ada."
    assert say(client, history, "How many turns do you see?") == "I see 3 user turns."
    first, second, third = completions(emulator)
    assert first.json["parent_id"] is None
    assert second.query["chat_id"] == first.query["chat_id"]
    assert sent_text(second) == "What is my name?"
    assert second.json["parent_id"] is not None
    assert third.json["parent_id"] not in (None, second.json["parent_id"])
    assert len(emulator.requests(NEW_CHAT)) == 1


def test_two_tenants_with_the_same_first_message_never_share_a_chat(
    emulator: Any, tmp_path: Path
) -> None:
    settings = session_settings(emulator, tmp_path, api_keys=("alice", "bob"))
    with running_gateway(settings) as gateway:
        alice, bob = keyed_client(gateway.url, "alice"), keyed_client(gateway.url, "bob")
        a: list[dict[str, Any]] = []
        b: list[dict[str, Any]] = []
        say(alice, a, "Hello")
        say(bob, b, "Hello")
        say(alice, a, "My name is Alice.")
        say(bob, b, "My name is Bob.")
        assert say(alice, a, "What is my name?") == "Your name is Alice."
        assert say(bob, b, "What is my name?") == "Your name is Bob."
    chats = {r.query["chat_id"] for r in completions(emulator)}
    assert len(chats) == 2
    assert len(emulator.requests(NEW_CHAT)) == 2


def test_two_conversations_of_one_tenant_with_the_same_start_keep_separate_context(
    emulator: Any, client: openai.OpenAI
) -> None:
    one: list[dict[str, Any]] = []
    two: list[dict[str, Any]] = []
    say(client, one, "Hello")
    say(client, two, "Hello")
    say(client, one, "My color is blue.")
    say(client, two, "My color is red.")
    assert say(client, one, "What is my color?") == "Your color is blue."
    assert say(client, two, "What is my color?") == "Your color is red."
    # identical prefixes may share a chat node, but the branches never see each other
    assert say(client, one, "How many turns?") == "I see 4 user turns."


def test_regenerate_branches_from_the_same_parent(emulator: Any, client: openai.OpenAI) -> None:
    history: list[dict[str, Any]] = []
    say(client, history, "My pet is a cat.")
    say(client, history, "Tell me something.")
    resent = history[:-1]  # the client drops the answer it wants regenerated
    client.chat.completions.create(model=MODEL, messages=resent)  # type: ignore[arg-type]
    _, second, regenerated = completions(emulator)
    assert regenerated.query["chat_id"] == second.query["chat_id"]
    assert regenerated.json["parent_id"] == second.json["parent_id"]
    assert sent_text(regenerated) == "Tell me something."


def test_edited_message_branches_from_the_last_shared_node(
    emulator: Any, client: openai.OpenAI
) -> None:
    history: list[dict[str, Any]] = []
    say(client, history, "Hello")
    say(client, history, "My name is Ada.")
    edited = history[:2]
    say(client, edited, "My name is Bob.")
    assert say(client, edited, "What is my name?") == "Your name is Bob."
    reqs = completions(emulator)
    assert reqs[2].json["parent_id"] == reqs[1].json["parent_id"]  # sibling of the edited turn
    assert "Ada" not in sent_text(reqs[2]) + sent_text(reqs[3])


def test_changed_system_prompt_is_honoured(emulator: Any, client: openai.OpenAI) -> None:
    history: list[dict[str, Any]] = [{"role": "system", "content": "The password is alpha."}]
    say(client, history, "Hi")
    say(client, history, "Nice.")
    history[0] = {"role": "system", "content": "The password is omega."}
    assert say(client, history, "What is the password?") == "The password is omega."
    last = completions(emulator)[-1]
    assert last.json["parent_id"] is None  # a new chat: the old one was built on another prompt
    assert "omega" in sent_text(last)


def test_client_that_trims_whitespace_or_drops_reasoning_still_continues(
    emulator: Any, client: openai.OpenAI
) -> None:
    history: list[dict[str, Any]] = []
    say(client, history, "My city is Paris.")
    history[-1] = {
        "role": "assistant",
        "content": "  " + history[-1]["content"] + "\n\n",
        "reasoning_content": "some thoughts the client echoes back",
    }
    history[0]["content"] = "My city is Paris.   "
    assert say(client, history, "What is my city?") == "Your city is Paris."
    assert completions(emulator)[-1].json["parent_id"] is not None


def test_gateway_restart_keeps_every_conversation_with_sqlite(
    emulator: Any, tmp_path: Path
) -> None:
    settings = session_settings(emulator, tmp_path, store="sqlite")
    history: list[dict[str, Any]] = []
    with running_gateway(settings) as gateway:
        say(keyed_client(gateway.url, "x"), history, "My name is Ada.")
    with running_gateway(settings) as gateway:
        assert say(keyed_client(gateway.url, "x"), history, "What is my name?") == (
            "Your name is Ada."
        )
    first, second = completions(emulator)
    assert second.query["chat_id"] == first.query["chat_id"]
    assert second.json["parent_id"] is not None


async def test_fifty_concurrent_conversations_stay_isolated(
    emulator: Any, aclient: openai.AsyncOpenAI
) -> None:
    async def conversation(n: int) -> str:
        history: list[dict[str, Any]] = []
        for text in (f"Hello from {n}", f"My number is n{n}.", "What is my number?"):
            history.append({"role": "user", "content": text})
            reply = await aclient.chat.completions.create(model=MODEL, messages=history)  # type: ignore[arg-type]
            history.append({"role": "assistant", "content": reply.choices[0].message.content})
        return str(history[-1]["content"])

    answers = await asyncio.gather(*(conversation(n) for n in range(50)))
    assert answers == [f"Your number is n{n}." for n in range(50)]


@pytest.mark.slow
def test_hundred_turns_send_only_the_new_message_at_constant_size(
    emulator: Any, client: openai.OpenAI
) -> None:
    history: list[dict[str, Any]] = []
    for turn in range(100):
        say(client, history, f"turn {turn:03d}")
    reqs = completions(emulator)
    assert len(reqs) == 100
    assert len({r.query["chat_id"] for r in reqs}) == 1
    sizes = [len(str(r.json)) for r in reqs[1:]]
    assert max(sizes) - min(sizes) <= 2, sizes
    assert say(client, history, "How many turns?") == "I see 101 user turns."


def test_empty_continuation_reply_is_recovered_by_a_folded_new_chat(
    emulator: Any, gateway: Any, client: openai.OpenAI
) -> None:
    history: list[dict[str, Any]] = []
    say(client, history, "My name is Ada.")
    emulator.set_fault("empty_stream", times=1)
    assert say(client, history, "What is my name?") == "Your name is Ada."
    reqs = completions(emulator)
    assert reqs[1].json["parent_id"] is not None  # tried to continue: got nothing
    assert reqs[2].json["parent_id"] is None  # recovered as a new chat with the history folded
    assert "My name is Ada." in sent_text(reqs[2])
    assert gateway.app.gateway.service.empty_continuations_recovered == 1


def test_cut_reply_records_nothing(emulator: Any, gateway: Any, client: openai.OpenAI) -> None:
    emulator.set_fault("cut_after", n=6, times=3)
    with pytest.raises(openai.APIError):
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "long answer 500"}]
        )
    store = gateway.app.gateway.store
    assert asyncio.run(store.count()) == 0


async def test_concurrent_regenerates_become_siblings_not_failures(
    emulator: Any, aclient: openai.AsyncOpenAI
) -> None:
    history: list[dict[str, Any]] = [{"role": "user", "content": "My name is Ada."}]
    reply = await aclient.chat.completions.create(model=MODEL, messages=history)  # type: ignore[arg-type]
    history += [
        {"role": "assistant", "content": reply.choices[0].message.content},
        {"role": "user", "content": "What is my name?"},
    ]
    replies = await asyncio.gather(
        *(aclient.chat.completions.create(model=MODEL, messages=history) for _ in range(5))  # type: ignore[arg-type]
    )
    assert [r.choices[0].message.content for r in replies] == ["Your name is Ada."] * 5


def test_unusable_owner_folds_into_a_new_chat_on_another_account(
    emulator: Any, tmp_path: Path
) -> None:
    from qwen_proxy.accounts import save_accounts

    second = emulator.add_account("second@example.com")
    first = emulator.accounts[0]
    save_accounts(
        tmp_path / "accounts.json",
        [
            browser_session(emulator, "one", first.email),
            browser_session(emulator, "two", second.email),
        ],
    )
    with running_gateway(gateway_settings(emulator.url, None, tmp_path)) as gateway:
        client = keyed_client(gateway.url, "x")
        history: list[dict[str, Any]] = []
        say(client, history, "My name is Ada.")
        owner = first.email if emulator.chats(first.email) else second.email
        other = second.email if owner == first.email else first.email
        # rejected even after its renewal
        emulator.set_fault("expired_token", account=owner)
        assert say(client, history, "What is my name?") == "Your name is Ada."
    assert len(emulator.chats(other)) == 1  # the history moved, folded, to the other account
    last = completions(emulator)[-1]
    assert last.json["parent_id"] is None
    assert "My name is Ada." in sent_text(last)
