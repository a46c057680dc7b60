"""Which known node a request continues: regenerate, edits, tenants, trimmed echoes."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from qwen_proxy.conversations.memory import MemoryStore
from qwen_proxy.conversations.resolver import Continuation, find_continuation, record_keys
from qwen_proxy.conversations.store import Node
from qwen_proxy.messages import ChatMessage, ToolCall

pytestmark = pytest.mark.unit

NOW = 1_000_000.0
_ids = itertools.count()


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", text=text)


def assistant(text: str, **kw: object) -> ChatMessage:
    return ChatMessage(role="assistant", text=text, **kw)  # type: ignore[arg-type]


def new_store() -> MemoryStore:
    return MemoryStore(ttl=3600, max_nodes=1000, clock=lambda: NOW)


async def complete(
    store: MemoryStore, tenant: str, messages: Sequence[ChatMessage], reply: ChatMessage
) -> Node:
    """What the gateway does after a reply: store the node for history + reply."""
    found = await find_continuation(store, tenant, messages)
    chat_id = found.node.chat_id if found else f"chat-{next(_ids)}"
    node = Node(
        key=record_keys(tenant, messages, reply),
        tenant=tenant,
        account="acc",
        chat_id=chat_id,
        parent_id=f"resp-{next(_ids)}",
        model="qwen3-max",
        created_at=NOW,
        last_used_at=NOW,
        turn=len(messages) + 1,
    )
    await store.put(node)
    return node


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__(clock=lambda: NOW)
        self.calls: list[list[str]] = []

    async def get_first(self, keys: Sequence[str]) -> Node | None:
        self.calls.append(list(keys))
        return await super().get_first(keys)


async def test_first_turn_has_nothing_to_continue() -> None:
    assert await find_continuation(new_store(), "t", [user("Hello")]) is None


async def test_second_turn_continues_the_node_of_the_first_reply() -> None:
    store = new_store()
    first = await complete(store, "t", [user("Hello")], assistant("Hi!"))
    found = await find_continuation(store, "t", [user("Hello"), assistant("Hi!"), user("Next")])
    assert found == Continuation(node=first, index=1)


async def test_regenerate_resolves_to_the_same_node_as_the_first_time() -> None:
    store = new_store()
    n1 = await complete(store, "t", [user("u1")], assistant("a1"))
    request = [user("u1"), assistant("a1"), user("u2")]
    assert (await find_continuation(store, "t", request)) == Continuation(n1, 1)
    await complete(store, "t", request, assistant("a2 (discarded)"))
    again = await find_continuation(store, "t", request)
    assert again == Continuation(n1, 1)


async def test_two_conversations_with_the_same_opening_get_different_nodes() -> None:
    store = new_store()
    hello = [user("Hello"), assistant("Hi!")]
    await complete(store, "t", [user("Hello")], assistant("Hi!"))
    a = await complete(store, "t", [*hello, user("Talk about cats")], assistant("Cats..."))
    b = await complete(store, "t", [*hello, user("Talk about dogs")], assistant("Dogs..."))
    assert a.key != b.key
    cats = [*hello, user("Talk about cats"), assistant("Cats..."), user("more")]
    dogs = [*hello, user("Talk about dogs"), assistant("Dogs..."), user("more")]
    assert (await find_continuation(store, "t", cats)) == Continuation(a, 3)
    assert (await find_continuation(store, "t", dogs)) == Continuation(b, 3)


async def test_two_tenants_never_share_a_node() -> None:
    store = new_store()
    await complete(store, "alice", [user("Hello")], assistant("Hi!"))
    request = [user("Hello"), assistant("Hi!"), user("what did I say?")]
    assert await find_continuation(store, "bob", request) is None
    assert await find_continuation(store, "alice", request) is not None


async def test_an_edited_earlier_message_resolves_to_the_last_shared_node() -> None:
    store = new_store()
    n1 = await complete(store, "t", [user("u1")], assistant("a1"))
    await complete(store, "t", [user("u1"), assistant("a1"), user("u2")], assistant("a2"))
    edited = [user("u1"), assistant("a1"), user("u2 edited"), assistant("a2"), user("u3")]
    assert (await find_continuation(store, "t", edited)) == Continuation(n1, 1)


async def test_a_changed_system_prompt_misses_the_old_nodes() -> None:
    store = new_store()
    old = [ChatMessage(role="system", text="Be terse."), user("u1")]
    await complete(store, "t", old, assistant("a1"))
    assert await find_continuation(store, "t", [*old, assistant("a1"), user("u2")]) is not None
    changed = [ChatMessage(role="system", text="Be verbose."), user("u1"), assistant("a1")]
    assert await find_continuation(store, "t", [*changed, user("u2")]) is None


async def test_reply_sent_back_trimmed_and_without_reasoning_still_hits() -> None:
    store = new_store()
    reply = assistant("\n  The answer is 42.  \n", reasoning="think think")
    node = await complete(store, "t", [user("q")], reply)
    echoed = [user("q"), assistant("The answer is 42."), user("why?")]
    assert (await find_continuation(store, "t", echoed)) == Continuation(node, 1)


async def test_tool_call_reply_echoed_back_with_reformatted_arguments_hits() -> None:
    store = new_store()
    call = ToolCall("call_1", "get_weather", '{"city": "Paris", "unit": "C"}')
    node = await complete(store, "t", [user("weather?")], assistant("", tool_calls=(call,)))
    echoed_call = ToolCall("call_1", "get_weather", '{"unit":"C","city":"Paris"}')
    request = [
        user("weather?"),
        assistant("", tool_calls=(echoed_call,)),
        ChatMessage(role="tool", text="sunny", tool_call_id="call_1"),
    ]
    found = await find_continuation(store, "t", request)
    assert found == Continuation(node, 1)
    assert found is not None
    assert list(found.new_messages(request)) == request[2:]


async def test_a_request_ending_in_a_known_reply_is_not_continued_from_itself() -> None:
    store = new_store()
    await complete(store, "t", [user("u1")], assistant("a1"))
    assert await find_continuation(store, "t", [user("u1"), assistant("a1")]) is None


async def test_lookup_is_one_store_call_with_candidates_longest_first() -> None:
    store = CountingStore()
    history = [user("u1"), assistant("a1"), user("u2"), assistant("a2"), user("u3")]
    await find_continuation(store, "t", history)
    assert len(store.calls) == 1
    keys = store.calls[0]
    assert keys == [
        record_keys("t", history[:3], history[3]),
        record_keys("t", history[:1], history[1]),
    ]


async def test_a_history_without_assistant_replies_asks_the_store_nothing() -> None:
    store = CountingStore()
    await find_continuation(store, "t", [ChatMessage(role="system", text="s"), user("u")])
    assert store.calls == []
