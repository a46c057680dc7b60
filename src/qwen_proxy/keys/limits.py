"""Per-key limits: requests and tokens per minute, requests in flight.

Minutes are fixed windows of wall-clock time (``floor(now / 60)``), so instances sharing a
Redis agree on them and a window's counters expire by themselves. A request is admitted, or
refused naming the first limit it meets; the tokens of a reply are added to the window it ended
in, when its request releases its slot. ``MemoryLimiter`` keeps the counters in this process;
``redis_limits.RedisLimiter`` keeps them in Redis for every instance.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal, Protocol

from qwen_proxy.keys.model import ClientKey

WINDOW = 60.0
#: a slot still held this long is taken for lost (its instance died) and freed
LEASE_TTL = 600.0

Limit = Literal["requests", "tokens", "concurrency"]


def window_of(now: float) -> int:
    """The number of the minute ``now`` falls in."""
    return int(now // WINDOW)


def reset_in(now: float) -> float:
    """Seconds until the current minute's counters start over."""
    return WINDOW - (now % WINDOW)


@dataclass(frozen=True)
class Admission:
    """The limiter's answer: admitted (with the slot to release) or refused, and the counters."""

    admitted: bool
    #: the limit that refused the request (None when admitted)
    exceeded: Limit | None
    #: requests and tokens counted in the current minute (this request included)
    requests: int
    tokens: int
    #: seconds until the current minute ends
    reset: float
    #: what ``release`` needs to free the in-flight slot ("" when none was taken)
    lease: str = ""


class RateLimiter(Protocol):
    """Counts one key's requests, tokens and slots in flight."""

    async def admit(self, key: ClientKey, now: float) -> Admission:
        """Admit one request of ``key`` at ``now`` (counting it) or refuse it."""
        ...

    async def release(self, key: ClientKey, lease: str, tokens: int, now: float) -> None:
        """The request is over: free its slot and count the tokens its reply used."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class MemoryLimiter:
    """Counters in this process (one gateway process; workers each count on their own)."""

    def __init__(self) -> None:
        #: name -> (window, requests, tokens)
        self._minutes: dict[str, tuple[int, int, int]] = {}
        self._in_flight: dict[str, set[str]] = {}
        self._ids = itertools.count(1)

    def _minute(self, name: str, now: float) -> tuple[int, int]:
        window, requests, tokens = self._minutes.get(name, (-1, 0, 0))
        if window != window_of(now):
            return 0, 0
        return requests, tokens

    async def admit(self, key: ClientKey, now: float) -> Admission:
        """Admit or refuse, checking rpm, then tpm, then concurrency."""
        requests, tokens = self._minute(key.name, now)
        slots = self._in_flight.setdefault(key.name, set())
        exceeded: Limit | None = None
        if key.rpm is not None and requests >= key.rpm:
            exceeded = "requests"
        elif key.tpm is not None and tokens >= key.tpm:
            exceeded = "tokens"
        elif key.concurrency is not None and len(slots) >= key.concurrency:
            exceeded = "concurrency"
        if exceeded is not None:
            return Admission(False, exceeded, requests, tokens, reset_in(now))
        lease = ""
        if key.concurrency is not None:
            lease = str(next(self._ids))
            slots.add(lease)
        self._minutes[key.name] = (window_of(now), requests + 1, tokens)
        return Admission(True, None, requests + 1, tokens, reset_in(now), lease)

    async def release(self, key: ClientKey, lease: str, tokens: int, now: float) -> None:
        """Free the slot; add the tokens to the current minute."""
        if lease:
            self._in_flight.get(key.name, set()).discard(lease)
        if tokens:
            requests, used = self._minute(key.name, now)
            self._minutes[key.name] = (window_of(now), requests, used + tokens)

    async def close(self) -> None:
        """Nothing to release."""
