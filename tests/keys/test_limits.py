"""Per-key limits counted in one process: rpm, tpm (from replies' usage) and concurrency."""

from __future__ import annotations

import pytest

from qwen_proxy.keys import ClientKey, MemoryLimiter

pytestmark = pytest.mark.unit

T0 = 1_800_000_000.0  # a whole minute


def key(**limits: int) -> ClientKey:
    return ClientKey(name="alice", digest="d", created_at=0.0, **limits)  # type: ignore[arg-type]


async def test_requests_past_the_rpm_are_refused_until_the_minute_ends() -> None:
    limiter, k = MemoryLimiter(), key(rpm=2)
    first = await limiter.admit(k, T0 + 1)
    second = await limiter.admit(k, T0 + 2)
    third = await limiter.admit(k, T0 + 3)
    assert (first.admitted, second.admitted, third.admitted) == (True, True, False)
    assert (first.requests, second.requests) == (1, 2)
    assert third.exceeded == "requests"
    assert third.reset == pytest.approx(57.0)
    assert (await limiter.admit(k, T0 + 60)).admitted


async def test_tokens_of_finished_replies_count_against_the_tpm() -> None:
    limiter, k = MemoryLimiter(), key(tpm=100)
    admission = await limiter.admit(k, T0)
    await limiter.release(k, admission.lease, 120, T0 + 1)
    refused = await limiter.admit(k, T0 + 2)
    assert not refused.admitted
    assert refused.exceeded == "tokens"
    assert refused.tokens == 120
    assert (await limiter.admit(k, T0 + 61)).admitted


async def test_a_slot_is_taken_per_request_in_flight_and_freed_on_release() -> None:
    limiter, k = MemoryLimiter(), key(concurrency=1)
    held = await limiter.admit(k, T0)
    refused = await limiter.admit(k, T0)
    assert held.lease
    assert refused.exceeded == "concurrency"
    await limiter.release(k, held.lease, 0, T0)
    assert (await limiter.admit(k, T0)).admitted


async def test_a_refused_request_does_not_count_as_a_request() -> None:
    limiter, k = MemoryLimiter(), key(rpm=5, concurrency=1)
    await limiter.admit(k, T0)
    await limiter.admit(k, T0)  # refused: the slot is taken
    again = await limiter.admit(k, T0)
    assert again.requests == 1
