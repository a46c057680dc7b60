"""The gateway's Redis connections: fail fast, heal by themselves, never leak a password.

Shared by the conversation store and the account state store, so both behave alike when Redis
restarts (one immediate retry hides it) or goes silent (one socket timeout, then a 503).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    AuthenticationError,
    ConnectionError,
    InvalidResponse,
    RedisError,
    TimeoutError,
)

from qwen_proxy.errors import ServiceUnavailable

_T = TypeVar("_T")

log = logging.getLogger("qwen_proxy.redis")

#: (address, what it serves) pairs known to be down: each outage is logged once, not per request
_down: set[tuple[str, str]] = set()


def _went_down(at: str, serving: str, reason: str) -> None:
    if (at, serving) not in _down:
        _down.add((at, serving))
        log.warning("Redis at %s %s; %s answers 503 until it is back", at, reason, serving)


def _is_up(at: str, serving: str) -> None:
    if _down and (at, serving) in _down:
        _down.discard((at, serving))
        log.info("Redis at %s answers again; %s is back", at, serving)


def connect(
    url_or_client: str | aioredis.Redis, *, connect_timeout: float, socket_timeout: float
) -> tuple[aioredis.Redis, bool]:
    """A client for a URL (and True: the caller owns it), or the client given (and False)."""
    if not isinstance(url_or_client, str):
        return url_or_client, False
    # one immediate retry on a broken connection hides a Redis restart from callers; timeouts
    # are not retried, so a silent Redis costs one socket_timeout, not several
    client = aioredis.Redis.from_url(
        url_or_client,
        socket_connect_timeout=connect_timeout,
        socket_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(ConnectionError,)),
    )
    return client, True


def where(client: aioredis.Redis) -> str:
    """``host:port`` (or the socket path) of a client, never its credentials."""
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


async def call(op: Callable[[], Awaitable[_T]], *, at: str, serving: str) -> _T:
    """Run Redis work for ``serving`` (e.g. "the conversation store"); an unreachable or
    refusing Redis becomes a 503 ``store_unavailable`` that names the server, not its secrets."""
    try:
        result = await op()
    except AuthenticationError as exc:
        _went_down(at, serving, "refused the credentials")
        raise ServiceUnavailable(
            f"Redis at {at} refused the credentials of {serving}", code="store_unavailable"
        ) from exc
    except (ConnectionError, TimeoutError, OSError) as exc:
        _went_down(at, serving, "does not answer")
        raise ServiceUnavailable(
            f"Redis at {at} does not answer ({serving} is unavailable)", code="store_unavailable"
        ) from exc
    except InvalidResponse as exc:
        _went_down(at, serving, "does not speak the Redis protocol")
        raise ServiceUnavailable(
            f"the server at {at} does not speak the Redis protocol ({serving})",
            code="store_unavailable",
        ) from exc
    except RedisError as exc:
        # server-side refusals (OOM, READONLY replica, ...): their text names no secret
        raise ServiceUnavailable(
            f"Redis at {at} refused a command of {serving}: {type(exc).__name__}: {exc}",
            code="store_unavailable",
        ) from exc
    _is_up(at, serving)
    return result
