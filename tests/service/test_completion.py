"""The completion service over an in-memory upstream: planning, retries, recording, the lease."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from qwen_proxy.accounts import AccountPool, ManualClock, NoAccountAvailable
from qwen_proxy.messages import ChatMessage, CompletionRequest
from qwen_proxy.qwen.errors import (
    ChatInProgress,
    ContentFiltered,
    EmptyReply,
    ParentNotFound,
    StreamCut,
    UpstreamAuthFailed,
    UpstreamCaptcha,
    UpstreamConnectionError,
    UpstreamRateLimited,
    UpstreamServerError,
)
from qwen_proxy.qwen.events import AnswerDelta
from qwen_proxy.service.completion import CompletionService
from qwen_proxy.service.retry import BUSY_CHAT_WAITS, RetryPolicy
from service_support import (
    HANG,
    MODEL,
    Answer,
    Chunks,
    Empty,
    Fail,
    FakeUpstream,
    Sleeps,
    answer,
    catalog,
    error_envelope,
    fake_settings,
    memory_store,
    service_pool,
)

pytestmark = pytest.mark.unit

TENANT = "tenant"


def ask(*texts: str) -> CompletionRequest:
    """A request whose history alternates user and assistant turns, ending with a user turn."""
    roles = ("user", "assistant")
    messages = tuple(
        ChatMessage(role=roles[i % 2], text=text)  # type: ignore[arg-type]
        for i, text in enumerate(texts)
    )
    return CompletionRequest(model=MODEL, messages=messages)


class Harness:
    """A service over a fake upstream, an account pool and a memory store on one clock."""

    def __init__(self, names: str = "a", **options: Any) -> None:
        self.clock = ManualClock()
        self.upstream = FakeUpstream()
        self.pool: AccountPool = service_pool(self.clock, names)
        self.store = memory_store(self.clock)
        self.sleeps = Sleeps()
        settings = fake_settings(**options)
        self.service = CompletionService(
            settings,
            self.upstream,
            catalog(),
            self.pool,
            self.store,
            clock=self.clock.wall,
            sleep=self.sleeps,
            policy=RetryPolicy(
                retries=settings.retries,
                backoff_base=settings.backoff_base,
                backoff_max=settings.backoff_max,
                jitter=lambda: 1.0,
            ),
        )

    async def rest(self) -> float:
        """How long the pool says every account rests for ``MODEL``."""
        with pytest.raises(NoAccountAvailable) as caught:
            await self.pool.acquire(MODEL, max_wait=0)
        assert caught.value.retry_after is not None
        return caught.value.retry_after


async def strike_then(h: Harness, hang_up: Callable[[Harness], Awaitable[None]]) -> float:
    """Rate-limit the account, let the rest pass, hang up a reply, rate-limit it again: the rest."""
    h.upstream.then(Fail(UpstreamRateLimited()))
    with pytest.raises(UpstreamRateLimited):
        await h.service.open(ask("hi"), TENANT)
    h.clock.advance(await h.rest())
    await hang_up(h)
    h.upstream.then(Fail(UpstreamRateLimited()))
    with pytest.raises(UpstreamRateLimited):
        await h.service.open(ask("hi"), TENANT)
    return await h.rest()


async def close_after_the_first_text(h: Harness) -> None:
    reply = await h.service.open(ask("hi"), TENANT)
    await reply.aclose()


async def cancel_while_the_reply_streams(h: Harness) -> None:
    h.upstream.then(Answer(hang=True))
    reply = await h.service.open(ask("hi"), TENANT)
    assert await reply.next_batch()
    task = asyncio.ensure_future(reply.next_batch())
    await h.upstream.hanging.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await reply.aclose()


async def cancel_before_the_first_text(h: Harness) -> None:
    h.upstream.then(Chunks((HANG,)))
    task = asyncio.ensure_future(h.service.open(ask("hi"), TENANT))
    await h.upstream.hanging.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize(
    "hang_up",
    [close_after_the_first_text, cancel_while_the_reply_streams, cancel_before_the_first_text],
)
async def test_a_client_hanging_up_after_a_rate_limit_does_not_clear_the_strike(
    hang_up: Callable[[Harness], Awaitable[None]],
) -> None:
    h = Harness()
    # the second rate limit in a row rests twice as long: the hang-up said nothing
    assert await strike_then(h, hang_up) == 120
    assert h.pool.snapshot()[0].in_flight == 0


async def read_to_the_end(h: Harness) -> None:
    reply = await h.service.open(ask("hi"), TENANT)
    while await reply.next_batch() is not None:
        pass


async def test_a_completed_reply_clears_the_rate_limit_strike() -> None:
    assert await strike_then(Harness(), read_to_the_end) == 60


# --- planning and recording -----------------------------------------------------------------


async def read_all(reply: Any, text: list[str] | None = None) -> str:
    """The reply's answer text, read to its end (the node is recorded then); the text read so
    far is also left in ``text`` for a reply that fails."""
    text = [] if text is None else text
    while (batch := await reply.next_batch()) is not None:
        text += [event.text for event in batch if isinstance(event, AnswerDelta)]
    return "".join(text)


async def test_a_new_conversation_opens_a_chat_and_records_the_reply() -> None:
    h = Harness()
    h.upstream.then(Answer("Hello Ada."))
    reply = await h.service.open(ask("I am Ada."), TENANT)
    assert await read_all(reply) == "Hello Ada."
    (call,) = h.upstream.calls
    assert (call.account, call.parent_id, call.content) == ("a", None, "I am Ada.")
    (node,) = await h.store.list()
    assert (node.chat_id, node.parent_id, node.account, node.turn) == (
        call.chat_id,
        "response-2",
        "a",
        2,
    )
    assert h.pool.snapshot()[0].in_flight == 0


async def test_the_next_turn_continues_the_chat_with_only_the_new_message() -> None:
    h = Harness()
    await read_all(await h.service.open(ask("I am Ada."), TENANT))
    await read_all(await h.service.open(ask("I am Ada.", "ok", "Who am I?"), TENANT))
    first, second = h.upstream.calls
    assert second.chat_id == first.chat_id
    assert second.parent_id == "response-2"
    assert second.content == "Who am I?"
    assert len(h.upstream.chats) == 1


async def test_a_reply_given_up_before_its_end_records_nothing() -> None:
    h = Harness()
    reply = await h.service.open(ask("hi"), TENANT)
    await reply.aclose()
    assert await h.store.count() == 0
    assert h.upstream.streams[0].closed


async def test_a_reply_cut_mid_way_fails_and_records_nothing() -> None:
    h = Harness()
    h.upstream.then(Chunks((answer("part"),)))  # no finish: the stream just ends
    reply = await h.service.open(ask("hi"), TENANT)
    with pytest.raises(StreamCut):
        await read_all(reply)
    assert await h.store.count() == 0
    assert h.pool.snapshot()[0].in_flight == 0


async def test_content_filtered_after_some_text_keeps_the_text_then_says_filtered() -> None:
    h = Harness()
    h.upstream.then(Chunks((answer("Some"), error_envelope("data_inspection_failed"))))
    reply = await h.service.open(ask("hi"), TENANT)
    text: list[str] = []
    with pytest.raises(ContentFiltered):
        await read_all(reply, text)
    assert text == ["Some"]
    assert await h.store.count() == 0


async def test_content_filtered_before_any_text_is_not_retried() -> None:
    h = Harness()
    h.upstream.then(Chunks((error_envelope("data_inspection_failed"),)))
    with pytest.raises(ContentFiltered):
        await h.service.open(ask("hi"), TENANT)
    assert len(h.upstream.calls) == 1


@pytest.mark.parametrize(
    ("model", "asked", "thinking"),
    [
        (MODEL, None, False),
        (MODEL + "-thinking", None, True),
        (MODEL, True, True),
        (MODEL, False, False),
        (MODEL + "-fast", True, False),
        (MODEL + "-thinking", False, True),
    ],
)
async def test_thinking_follows_the_model_suffix_then_the_request(
    model: str, asked: bool | None, thinking: bool
) -> None:
    h = Harness()
    request = CompletionRequest(model=model, messages=ask("hi").messages, thinking=asked)
    await read_all(await h.service.open(request, TENANT))
    assert h.upstream.calls[0].thinking is thinking


# --- what failed before the first text --------------------------------------------------------


async def continued(h: Harness) -> CompletionRequest:
    """Hold one exchange, so the next request continues a known chat; returns that request."""
    await read_all(await h.service.open(ask("I am Ada."), TENANT))
    return ask("I am Ada.", "ok", "Who am I?")


async def test_a_continued_chat_whose_owner_rests_moves_folded_to_another_account() -> None:
    h = Harness("ab")
    request = await continued(h)
    owner = h.upstream.calls[0].account
    h.upstream.then(Fail(UpstreamRateLimited(retry_after=600)))
    await h.service.open(request, TENANT)  # the owner answers rate-limited: it rests now
    request = ask("I am Ada.", "ok", "Who am I?", "ok", "Again?")
    h.upstream.calls.clear()
    await read_all(await h.service.open(request, TENANT))
    (call,) = h.upstream.calls
    assert call.account != owner
    assert call.parent_id is None
    assert "I am Ada." in call.content


async def test_a_continued_chat_that_lost_its_parent_is_forgotten_and_folded() -> None:
    h = Harness()
    request = await continued(h)
    h.upstream.then(Fail(ParentNotFound()))
    await read_all(await h.service.open(request, TENANT))
    lost, folded = h.upstream.calls[1:]
    assert lost.parent_id == "response-2"
    assert folded.parent_id is None
    assert folded.chat_id != lost.chat_id
    nodes = await h.store.list()
    assert [node.chat_id for node in nodes] == [folded.chat_id]


async def test_an_empty_continued_reply_is_recovered_by_a_folded_new_chat() -> None:
    h = Harness()
    request = await continued(h)
    h.upstream.then(Empty())
    assert await read_all(await h.service.open(request, TENANT)) == "ok"
    empty, folded = h.upstream.calls[1:]
    assert empty.parent_id is not None
    assert folded.parent_id is None
    assert h.service.empty_continuations_recovered == 1
    assert h.pool.usable()  # one empty answer is not held against the account


async def test_an_empty_new_chat_is_retried_once_without_holding_it_against_the_account() -> None:
    h = Harness("a")
    h.upstream.then(Empty())
    assert await read_all(await h.service.open(ask("hi"), TENANT)) == "ok"
    assert [c.account for c in h.upstream.calls] == ["a", "a"]
    assert h.pool.snapshot()[0].state == "active"


async def test_a_second_empty_reply_rests_its_account_and_another_one_answers() -> None:
    h = Harness("ab")
    h.upstream.then(Empty(), Empty())
    assert await read_all(await h.service.open(ask("hi"), TENANT)) == "ok"
    # the retry goes to the least recently used account: b, whose empty reply counts
    assert [c.account for c in h.upstream.calls] == ["a", "b", "a"]
    assert [s.state for s in h.pool.snapshot()] == ["active", "cooling"]


async def test_empty_replies_on_every_account_end_in_the_empty_reply_error() -> None:
    h = Harness("a")
    h.upstream.then(Empty(), Empty())
    with pytest.raises(EmptyReply):
        await h.service.open(ask("hi"), TENANT)


@pytest.mark.parametrize(
    "error",
    [UpstreamAuthFailed(), UpstreamRateLimited(retry_after=60), UpstreamCaptcha()],
    ids=["auth", "rate_limit", "captcha"],
)
async def test_an_account_fault_moves_the_request_to_another_account(error: Any) -> None:
    h = Harness("ab")
    h.upstream.then(Fail(error))
    assert await read_all(await h.service.open(ask("hi"), TENANT)) == "ok"
    assert [c.account for c in h.upstream.calls] == ["a", "b"]
    assert h.pool.snapshot()[0].state != "active"


async def test_an_account_fault_on_the_new_chat_route_moves_on_too() -> None:
    h = Harness("ab")
    h.upstream.then(Fail(UpstreamAuthFailed(), at="new_chat"))
    await read_all(await h.service.open(ask("hi"), TENANT))
    assert [c.account for c in h.upstream.calls] == ["b"]


async def test_when_every_account_failed_the_last_upstream_error_is_raised() -> None:
    h = Harness("ab")
    h.upstream.then(Fail(UpstreamAuthFailed()), Fail(UpstreamCaptcha()))
    with pytest.raises(UpstreamCaptcha):
        await h.service.open(ask("hi"), TENANT)


async def test_no_account_at_all_is_the_pools_refusal() -> None:
    h = Harness("")
    with pytest.raises(NoAccountAvailable):
        await h.service.open(ask("hi"), TENANT)


async def test_a_busy_continued_chat_is_waited_for_then_forked_into_a_folded_chat() -> None:
    h = Harness()
    request = await continued(h)
    h.upstream.then(*[Fail(ChatInProgress())] * 4)
    await read_all(await h.service.open(request, TENANT))
    busy, forked = h.upstream.calls[1:5], h.upstream.calls[5]
    assert {call.chat_id for call in busy} == {h.upstream.calls[0].chat_id}
    assert h.sleeps.waits == list(BUSY_CHAT_WAITS)
    assert forked.parent_id is None
    assert forked.chat_id != h.upstream.calls[0].chat_id


async def test_a_busy_chat_that_frees_up_is_continued() -> None:
    h = Harness()
    request = await continued(h)
    h.upstream.then(Fail(ChatInProgress()))
    await read_all(await h.service.open(request, TENANT))
    assert h.sleeps.waits == [BUSY_CHAT_WAITS[0]]
    assert h.upstream.calls[-1].parent_id == "response-2"


async def test_transient_failures_back_off_then_give_up_telling_the_client_not_to_retry() -> None:
    h = Harness(retries=2, backoff_base=0.25)
    h.upstream.then(*[Fail(UpstreamServerError())] * 3)
    with pytest.raises(UpstreamServerError) as caught:
        await h.service.open(ask("hi"), TENANT)
    assert caught.value.should_retry is False
    assert h.sleeps.waits == [0.25, 0.5]
    assert len(h.upstream.calls) == 3
    assert h.pool.snapshot()[0].in_flight == 0


async def test_a_transient_failure_then_an_answer_is_transparent() -> None:
    h = Harness()
    h.upstream.then(Fail(UpstreamConnectionError()))
    assert await read_all(await h.service.open(ask("hi"), TENANT)) == "ok"
    assert h.sleeps.waits == [0.25]
