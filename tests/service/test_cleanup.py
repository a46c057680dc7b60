"""The chat cleanup's rules, with a fake upstream: what it deletes, keeps, defers, and its pace."""

from __future__ import annotations

import pytest

from qwen_proxy.accounts import Credentials
from qwen_proxy.conversations.memory import MemoryStore
from qwen_proxy.qwen.errors import UpstreamAuthFailed, UpstreamServerError
from qwen_proxy.service.cleanup import ChatCleanup
from store_support import T0, node

pytestmark = pytest.mark.unit

TTL = 100.0


class Upstream:
    """Records deletions; fails the chats it is told to."""

    def __init__(self, failures: dict[str, Exception] | None = None) -> None:
        self.deleted: list[tuple[str, str]] = []
        self.failures = failures or {}

    async def delete_chat(self, cred: Credentials, chat_id: str) -> None:
        if chat_id in self.failures:
            raise self.failures[chat_id]
        self.deleted.append((cred.name, chat_id))


class Clock:
    def __init__(self) -> None:
        self.now = T0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def account(name: str) -> Credentials:
    return Credentials(name=name, token="t")


async def test_chats_no_live_node_uses_are_deleted_and_live_ones_kept() -> None:
    clock = Clock()
    store = MemoryStore(ttl=TTL, clock=clock)
    await store.add_chat("expired", "acc", T0)
    await store.add_chat("live", "acc", T0)
    await store.add_chat("never-answered", "acc", T0)
    await store.add_chat("young", "acc", T0 + 150)
    await store.put(node("n1", used=T0, chat_id="expired"))
    clock.now = T0 + 160
    await store.put(node("n2", used=T0 + 160, chat_id="live"))
    upstream = Upstream()
    cleanup = ChatCleanup(
        store, upstream, lambda: {"acc": account("acc")}, pace=0, clock=clock, sleep=clock.sleep
    )
    report = await cleanup.run(older_than=TTL)
    assert sorted(chat for _, chat in upstream.deleted) == ["expired", "never-answered"]
    assert (report.deleted, report.in_use, report.failed) == (2, 1, 0)
    left = [e.chat_id for e in await store.chats_created_before(T0 + 1000)]
    assert left == ["live", "young"]
    # a second pass finds nothing new to delete
    assert (await cleanup.run(older_than=TTL)).deleted == 0


async def test_a_chat_not_in_the_ledger_is_never_deleted() -> None:
    clock = Clock()
    store = MemoryStore(ttl=TTL, clock=clock)
    await store.put(node("n", used=T0 - 1000, chat_id="made-in-the-browser"))
    upstream = Upstream()
    cleanup = ChatCleanup(store, upstream, lambda: {"acc": account("acc")}, pace=0, clock=clock)
    await cleanup.run(older_than=0)
    assert upstream.deleted == []


async def test_deletions_are_paced_per_account_not_across_accounts() -> None:
    clock = Clock()
    store = MemoryStore(ttl=TTL, clock=clock)
    for i in range(3):
        await store.add_chat(f"a{i}", "a", T0)
        await store.add_chat(f"b{i}", "b", T0)
    clock.now = T0 + 500
    upstream = Upstream()
    accounts = {"a": account("a"), "b": account("b")}
    cleanup = ChatCleanup(
        store, upstream, lambda: accounts, pace=2.5, clock=clock, sleep=clock.sleep
    )
    await cleanup.run(older_than=TTL)
    assert len(upstream.deleted) == 6
    # two waits per account (between its three deletions), none before an account's first
    assert clock.slept == [2.5] * 4


async def test_an_account_that_cannot_serve_keeps_its_chats_for_a_later_pass() -> None:
    clock = Clock()
    store = MemoryStore(ttl=TTL, clock=clock)
    await store.add_chat("resting", "tired", T0)
    await store.add_chat("orphan", "removed", T0)
    clock.now = T0 + 500
    upstream = Upstream()
    cleanup = ChatCleanup(store, upstream, lambda: {"tired": None}, pace=0, clock=clock)
    report = await cleanup.run(older_than=TTL)
    assert upstream.deleted == []
    assert (report.deferred, report.orphaned) == (1, 1)
    # the removed account's chats are beyond reach: forgotten; the resting one's wait
    assert [e.chat_id for e in await store.chats_created_before(clock.now)] == ["resting"]


async def test_an_auth_failure_stops_that_accounts_pass_and_others_continue() -> None:
    clock = Clock()
    store = MemoryStore(ttl=TTL, clock=clock)
    for chat, owner in [("x1", "x"), ("x2", "x"), ("x3", "x"), ("y1", "y"), ("y2", "y")]:
        await store.add_chat(chat, owner, T0)
    clock.now = T0 + 500
    upstream = Upstream({"x1": UpstreamAuthFailed(), "y1": UpstreamServerError()})
    accounts = {"x": account("x"), "y": account("y")}
    cleanup = ChatCleanup(store, upstream, lambda: accounts, pace=0, clock=clock)
    report = await cleanup.run(older_than=TTL)
    assert upstream.deleted == [("y", "y2")]
    assert (report.failed, report.deferred, report.deleted) == (2, 2, 1)
    left = {e.chat_id for e in await store.chats_created_before(clock.now)}
    assert left == {"x1", "x2", "x3", "y1"}
