"""Renewed browser sessions shared through Redis (see ``shared``).

Keys under the instances' prefix, per account name:

- ``<prefix>session:<name>``: the last renewed session as JSON (token, cookie jar, when); it
  holds the account's secrets, as ``accounts.json`` does, so the Redis must be as private as
  the data directory; it expires with the refresh token's month;
- ``<prefix>renew-lock:<name>``: who renews now (``SET NX PX``), released by its holder only.

Redis down: the calls fail with ``ServiceUnavailable`` like the other stores.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
import redis.asyncio as aioredis

from qwen_proxy import redis_client
from qwen_proxy.accounts.shared import SharedSession
from qwen_proxy.config import DEFAULT_REDIS_PREFIX

_T = TypeVar("_T")

#: a stored session nobody renewed for this long is forgotten (a refresh token's month)
SESSION_TTL = 31 * 24 * 3600.0
#: give a lock back only if it is still the holder's
_UNLOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisSessionShare:
    """A ``SessionShare`` in Redis, for instances that share one prefix."""

    def __init__(
        self,
        url_or_client: str | aioredis.Redis,
        *,
        prefix: str = DEFAULT_REDIS_PREFIX,
        connect_timeout: float = 0.5,
        socket_timeout: float = 1.0,
    ) -> None:
        self.prefix = prefix
        self._client, self._owns_client = redis_client.connect(
            url_or_client, connect_timeout=connect_timeout, socket_timeout=socket_timeout
        )
        self.where = redis_client.where(self._client)

    async def _call(self, op: Callable[[], Awaitable[_T]]) -> _T:
        return await redis_client.call(op, at=self.where, serving="shared account state")

    def _session_key(self, name: str) -> str:
        return f"{self.prefix}session:{name}"

    def _lock_key(self, name: str) -> str:
        return f"{self.prefix}renew-lock:{name}"

    async def get(self, name: str) -> SharedSession | None:
        """The account's session as last stored, if any (an unreadable one counts as none)."""
        raw = await self._call(lambda: self._client.get(self._session_key(name)))
        if not raw:
            return None
        try:
            data: Any = orjson.loads(raw)
            cookies = data.get("cookies")
            return SharedSession(
                token=str(data["token"]),
                cookies=cookies if isinstance(cookies, str) else None,
                renewed_at=float(data["renewed_at"]),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return None

    async def put(self, name: str, session: SharedSession) -> None:
        """Store the account's session for the other instances."""
        data = orjson.dumps(
            {"token": session.token, "cookies": session.cookies, "renewed_at": session.renewed_at}
        )
        key = self._session_key(name)
        await self._call(lambda: self._client.set(key, data, px=int(SESSION_TTL * 1000)))

    async def lock(self, name: str, ttl: float) -> str | None:
        """Take the account's renewal lock for ``ttl`` seconds, unless another holds it."""
        key = uuid.uuid4().hex
        taken = await self._call(
            lambda: self._client.set(self._lock_key(name), key, nx=True, px=int(ttl * 1000))
        )
        return key if taken else None

    async def unlock(self, name: str, key: str) -> None:
        """Give the lock back if this holder still has it."""
        await self._call(lambda: self._client.eval(_UNLOCK, 1, self._lock_key(name), key))

    async def forget(self, name: str) -> None:
        """Drop the account's stored session and lock."""
        await self._call(lambda: self._client.delete(self._session_key(name), self._lock_key(name)))

    async def aclose(self) -> None:
        """Close the connection pool when this share opened it."""
        if self._owns_client:
            await self._client.aclose()
