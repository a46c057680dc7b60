"""Keys and their usage in Redis, for gateways that share a Redis store (and the CLI beside them).

Layout under the prefix: ``keys`` (a hash: name -> the key's JSON, digest included),
``keys:version`` (bumped with every change, polled by each instance), ``key-usage:<name>``
(a hash of totals) and ``key-usage:<name>:<YYYY-MM-DD>`` (the same for one UTC day, kept for
three days).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar, cast

import orjson
import redis.asyncio as aioredis

from qwen_proxy import redis_client
from qwen_proxy.keys.model import ClientKey, KeyUsage, UsageDelta
from qwen_proxy.keys.store import utc_day

_T = TypeVar("_T")

#: how long a day's usage hash is kept (today and yesterday are all anyone reads)
DAY_TTL = 3 * 24 * 3600
_FIELDS = ("requests", "input_tokens", "output_tokens")


class RedisKeyStore:
    """Keys shared by every instance on one Redis (same prefix)."""

    def __init__(self, url_or_client: str | aioredis.Redis, *, prefix: str) -> None:
        self._client, self._owns = redis_client.connect(
            url_or_client, connect_timeout=0.5, socket_timeout=1.0
        )
        self._where = redis_client.where(self._client)
        self._keys = f"{prefix}keys"
        self._version = f"{prefix}keys:version"
        self._usage = f"{prefix}key-usage:"

    async def _call(self, op: Callable[[], Awaitable[_T]]) -> _T:
        return await redis_client.call(op, at=self._where, serving="the client keys")

    async def keys(self) -> list[ClientKey]:
        """Every stored key."""
        raw = cast("dict[bytes, bytes]", await self._call(lambda: self._client.hgetall(self._keys)))
        return [ClientKey.from_json(orjson.loads(value)) for value in raw.values()]

    async def put(self, key: ClientKey) -> None:
        """Add or replace a key and bump the version, in one transaction."""

        async def write() -> None:
            pipe = self._client.pipeline(transaction=True)
            pipe.hset(self._keys, key.name, orjson.dumps(key.to_json()))
            pipe.incr(self._version)
            await pipe.execute()

        await self._call(write)

    async def version(self) -> str:
        """The change counter."""
        value = await self._call(lambda: self._client.get(self._version))
        return value.decode() if isinstance(value, bytes) else "0"

    async def add_usage(self, deltas: Mapping[str, UsageDelta], now: float) -> None:
        """Add each key's counts to its totals and to today's, in one round trip."""
        if not deltas:
            return
        day = utc_day(now)

        async def write() -> None:
            pipe = self._client.pipeline(transaction=False)
            for name, delta in deltas.items():
                total, daily = self._usage + name, f"{self._usage}{name}:{day}"
                for field, amount in zip(
                    _FIELDS, (delta.requests, delta.input_tokens, delta.output_tokens), strict=True
                ):
                    if amount:
                        pipe.hincrby(total, field, amount)
                        pipe.hincrby(daily, field, amount)
                pipe.expire(daily, DAY_TTL)
                if delta.last_used_at:
                    pipe.hset(total, "last_used_at", repr(delta.last_used_at))
            await pipe.execute()

        await self._call(write)

    async def usage(self, now: float) -> dict[str, KeyUsage]:
        """Each stored key's totals and today's counts."""
        names = [key.name for key in await self.keys()]
        day = utc_day(now)

        async def read() -> list[dict[bytes, bytes]]:
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.hgetall(self._usage + name)
                pipe.hgetall(f"{self._usage}{name}:{day}")
            return cast("list[dict[bytes, bytes]]", await pipe.execute())

        rows = await self._call(read)
        found: dict[str, KeyUsage] = {}
        for index, name in enumerate(names):
            total, today = rows[2 * index], rows[2 * index + 1]
            last = total.get(b"last_used_at")
            found[name] = KeyUsage(
                requests=int(total.get(b"requests", 0)),
                input_tokens=int(total.get(b"input_tokens", 0)),
                output_tokens=int(total.get(b"output_tokens", 0)),
                today_requests=int(today.get(b"requests", 0)),
                today_input_tokens=int(today.get(b"input_tokens", 0)),
                today_output_tokens=int(today.get(b"output_tokens", 0)),
                last_used_at=float(last) if last else None,
            )
        return found

    async def close(self) -> None:
        """Close the connection pool when this store opened it."""
        if self._owns:
            await self._client.aclose()
