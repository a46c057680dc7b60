"""Per-key limits counted in Redis: every instance on one Redis enforces the same limits.

Each admission is one Lua script (check every limit, then count), so two instances admitting
at once can never both take the last request of a minute or the last slot.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis

from qwen_proxy import redis_client
from qwen_proxy.keys.limits import LEASE_TTL, WINDOW, Admission, Limit, reset_in, window_of
from qwen_proxy.keys.model import ClientKey

_T = TypeVar("_T")

# KEYS: requests counter, tokens counter (both of this minute), in-flight slots (a sorted set
# of lease ids scored by when they lapse).
# ARGV: rpm, tpm, concurrency (-1: none), now, lease id, lease deadline, counter ttl ms,
# slots ttl ms. Returns {admitted, exceeded limit, requests, tokens}.
_ADMIT = """
local rpm, tpm, slots = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local requests = tonumber(redis.call('GET', KEYS[1]) or '0')
local tokens = tonumber(redis.call('GET', KEYS[2]) or '0')
if rpm >= 0 and requests >= rpm then return {0, 'requests', requests, tokens} end
if tpm >= 0 and tokens >= tpm then return {0, 'tokens', requests, tokens} end
if slots >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[4])
  if redis.call('ZCARD', KEYS[3]) >= slots then
    return {0, 'concurrency', requests, tokens}
  end
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[5])
  redis.call('PEXPIRE', KEYS[3], ARGV[8])
end
requests = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return {1, '', requests, tokens}
"""

#: counters outlive their minute a little, so a late release still finds them
_COUNTER_TTL_MS = int(2 * WINDOW * 1000)
_SLOTS_TTL_MS = int(2 * LEASE_TTL * 1000)


class RedisLimiter:
    """Limits shared by the instances on one Redis (same prefix)."""

    def __init__(self, url_or_client: str | aioredis.Redis, *, prefix: str) -> None:
        self._client, self._owns = redis_client.connect(
            url_or_client, connect_timeout=0.5, socket_timeout=1.0
        )
        self._where = redis_client.where(self._client)
        self._prefix = f"{prefix}limits:"
        self._admit = self._client.register_script(_ADMIT)

    async def _call(self, op: Callable[[], Awaitable[_T]]) -> _T:
        return await redis_client.call(op, at=self._where, serving="the client key limits")

    def _names(self, name: str, now: float) -> tuple[str, str, str]:
        window = window_of(now)
        base = f"{self._prefix}{name}:"
        return f"{base}requests:{window}", f"{base}tokens:{window}", f"{base}in-flight"

    async def admit(self, key: ClientKey, now: float) -> Admission:
        """Check and count in one script."""
        lease = uuid.uuid4().hex if key.concurrency is not None else ""
        args: list[str | int] = [
            _limit(key.rpm),
            _limit(key.tpm),
            _limit(key.concurrency),
            repr(now),
            lease or "-",
            repr(now + LEASE_TTL),
            _COUNTER_TTL_MS,
            _SLOTS_TTL_MS,
        ]
        keys = list(self._names(key.name, now))
        admitted, exceeded, requests, tokens = await self._call(
            lambda: self._admit(keys=keys, args=args)
        )
        if not int(admitted):
            return Admission(False, _exceeded(exceeded), int(requests), int(tokens), reset_in(now))
        return Admission(True, None, int(requests), int(tokens), reset_in(now), lease)

    async def release(self, key: ClientKey, lease: str, tokens: int, now: float) -> None:
        """Free the slot and add the tokens, in one round trip."""
        if not lease and not tokens:
            return
        _, tokens_key, slots_key = self._names(key.name, now)

        async def write() -> None:
            pipe = self._client.pipeline(transaction=False)
            if lease:
                pipe.zrem(slots_key, lease)
            if tokens:
                pipe.incrby(tokens_key, tokens)
                pipe.pexpire(tokens_key, _COUNTER_TTL_MS)
            await pipe.execute()

        await self._call(write)

    async def close(self) -> None:
        """Close the connection pool when this limiter opened it."""
        if self._owns:
            await self._client.aclose()


def _exceeded(raw: object) -> Limit:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    if text == "requests":
        return "requests"
    return "tokens" if text == "tokens" else "concurrency"


def _limit(value: int | None) -> int:
    return -1 if value is None else value
