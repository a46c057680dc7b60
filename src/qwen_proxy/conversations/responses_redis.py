"""Stored responses in the shared Redis: ``<prefix>resp:<id>``, one string per record.

Each value expires ``ttl`` seconds after its last use (Redis drops it by itself, so there is
nothing to purge); reading a chain is one MGET, and refreshing it one pipelined PEXPIRE per
record. Redis down: calls fail fast with ``ServiceUnavailable``, as the node store's do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import cast

import redis.asyncio as aioredis

from qwen_proxy import redis_client
from qwen_proxy.config import DEFAULT_REDIS_PREFIX
from qwen_proxy.conversations.responses import ResponseRecord, decode_record, encode_record
from qwen_proxy.conversations.store import DEFAULT_TTL


class RedisResponses:
    """Records in one Redis shared by every gateway instance; ``ttl`` as for nodes."""

    def __init__(
        self,
        url_or_client: str | aioredis.Redis,
        *,
        ttl: float = DEFAULT_TTL,
        prefix: str = DEFAULT_REDIS_PREFIX,
        connect_timeout: float = 0.5,
        socket_timeout: float = 1.0,
    ) -> None:
        self.ttl = ttl
        self._prefix = f"{prefix}resp:"
        self._client, self._owns_client = redis_client.connect(
            url_or_client, connect_timeout=connect_timeout, socket_timeout=socket_timeout
        )
        self.where = redis_client.where(self._client)
        self._px = max(1, int(ttl * 1000))

    async def put_response(self, record: ResponseRecord) -> None:
        """Store a record that expires ``ttl`` seconds from now."""
        key = self._prefix + record.id
        value = encode_record(record)
        await redis_client.call(
            lambda: self._client.set(key, value, px=self._px),
            at=self.where,
            serving="the response store",
        )

    async def get_responses(self, ids: Sequence[str], now: float) -> list[ResponseRecord | None]:
        """The records of ``ids`` (None where gone), their expiry reset to ``ttl`` from now."""
        if not ids:
            return []
        keys = [self._prefix + record_id for record_id in ids]

        async def read_and_refresh() -> list[bytes | None]:
            pipe = self._client.pipeline(transaction=False)
            pipe.mget(keys)
            for key in keys:
                pipe.pexpire(key, self._px)
            results = await pipe.execute()
            return cast("list[bytes | None]", results[0])

        values = await redis_client.call(
            read_and_refresh, at=self.where, serving="the response store"
        )
        return [
            None if raw is None else replace(decode_record(record_id, raw), last_used_at=now)
            for record_id, raw in zip(ids, values, strict=True)
        ]

    async def purge_responses(self) -> int:
        """Nothing to do: Redis expires records by itself."""
        return 0

    async def close(self) -> None:
        """Close the connection pool when this store opened it."""
        if self._owns_client:
            await self._client.aclose()
