"""Account states shared by every gateway instance through one Redis (standalone).

Layout under ``prefix`` (default ``qwen-proxy:``), per account name:

- ``<prefix>account:<name>``: the state as JSON, without ``in_flight``; it expires
  ``state_ttl`` seconds after the last write, so accounts nobody uses any more leave nothing
  behind;
- ``<prefix>inflight:<name>``: the requests in flight as a sorted set of lease ids scored by
  the Unix time their hold lapses. The owning instance pushes that time forward every
  ``lease_ttl / 3`` seconds while the request runs, so the leases of an instance that died
  (SIGKILL, lost host) age out after ``lease_ttl`` instead of holding a slot for ever.

``update`` is optimistic: WATCH both keys, read, apply ``change`` here (it is a pure function
and may run again), then write in MULTI/EXEC; a concurrent write by another instance makes
EXEC fail and the change is retried on the fresh state. Times are wall-clock (``time.time``)
because several hosts compare them: keep their clocks in sync (NTP).

Redis down: every call fails within about ``socket_timeout`` with ``ServiceUnavailable``
(code ``store_unavailable``) and the connection pool reconnects by itself when Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, TypeVar, cast

import orjson
import redis.asyncio as aioredis
from redis.exceptions import WatchError

from qwen_proxy import redis_client
from qwen_proxy.accounts.state import AccountState, Cooldown, CooldownReason, Health
from qwen_proxy.accounts.store import StateChange
from qwen_proxy.config import DEFAULT_REDIS_PREFIX
from qwen_proxy.errors import ServiceUnavailable

log = logging.getLogger("qwen_proxy.accounts")

_T = TypeVar("_T")

#: a state nobody wrote for a week is forgotten (the longest cool-down is an hour)
DEFAULT_STATE_TTL = 7 * 24 * 3600.0
#: how long a lease of a vanished instance keeps its slot
DEFAULT_LEASE_TTL = 60.0
#: optimistic retries before giving up; contention is a handful of instances on one account
_MAX_ATTEMPTS = 100


def _cooldown(value: Cooldown | None) -> list[Any] | None:
    return None if value is None else [value.until, value.reason.value]


def _read_cooldown(value: Any) -> Cooldown | None:
    if not value:
        return None
    until, reason = value
    return Cooldown(float(until), CooldownReason(reason))


def encode_state(state: AccountState) -> bytes:
    """The JSON kept in Redis for ``state``; ``in_flight`` lives in the lease set instead."""
    return orjson.dumps(
        {
            "health": state.health.value,
            "generation": state.generation,
            "last_started": state.last_started,
            "requests": state.requests,
            "failures": state.failures,
            "transient_streak": state.transient_streak,
            "cooldown": _cooldown(state.cooldown),
            "model_cooldowns": {m: _cooldown(c) for m, c in state.model_cooldowns.items()},
            "strikes": dict(state.strikes),
            "verify_url": state.verify_url,
            "message": state.message,
            "last_sign_in": state.last_sign_in,
            "session": state.session,
            "private_session": state.private_session,
            "private_error": state.private_error,
            "private_tried": state.private_tried,
        }
    )


def decode_state(raw: bytes | None, in_flight: int = 0) -> AccountState:
    """The state ``encode_state`` wrote (a fresh one for None), with ``in_flight`` set."""
    if raw is None:
        return AccountState(in_flight=in_flight)
    data: Mapping[str, Any] = orjson.loads(raw)
    rests = {
        model: rest
        for model, value in (data.get("model_cooldowns") or {}).items()
        if (rest := _read_cooldown(value)) is not None
    }
    return AccountState(
        health=Health(data.get("health", Health.ACTIVE.value)),
        generation=int(data.get("generation", 0)),
        in_flight=in_flight,
        last_started=data.get("last_started"),
        requests=int(data.get("requests", 0)),
        failures=int(data.get("failures", 0)),
        transient_streak=int(data.get("transient_streak", 0)),
        cooldown=_read_cooldown(data.get("cooldown")),
        model_cooldowns=rests,
        strikes={str(k): int(v) for k, v in (data.get("strikes") or {}).items()},
        verify_url=data.get("verify_url"),
        message=data.get("message"),
        last_sign_in=data.get("last_sign_in"),
        session=int(data.get("session", 0)),
        private_session=data.get("private_session"),
        private_error=data.get("private_error"),
        private_tried=data.get("private_tried"),
    )


class RedisStateStore:
    """An ``AccountStateStore`` in Redis, so cool-downs, quarantine, in-flight counts and
    pacing are the same for every gateway instance."""

    def __init__(
        self,
        url_or_client: str | aioredis.Redis,
        *,
        prefix: str = DEFAULT_REDIS_PREFIX,
        state_ttl: float = DEFAULT_STATE_TTL,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        connect_timeout: float = 0.5,
        socket_timeout: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if state_ttl <= 0 or lease_ttl <= 0:
            raise ValueError("state_ttl and lease_ttl must be positive")
        self.prefix = prefix
        self.state_ttl = state_ttl
        self.lease_ttl = lease_ttl
        self._clock = clock
        self._client, self._owns_client = redis_client.connect(
            url_or_client, connect_timeout=connect_timeout, socket_timeout=socket_timeout
        )
        self.where = redis_client.where(self._client)
        #: this instance's lease ids, per account; only their owner releases or renews them
        self._instance = uuid.uuid4().hex[:12]
        self._ids = itertools.count(1)
        self._held: dict[str, list[str]] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def client(self) -> aioredis.Redis:
        """The Redis client (other account stores of the same instance share it)."""
        return self._client

    def _state_key(self, name: str) -> str:
        return f"{self.prefix}account:{name}"

    def _lease_key(self, name: str) -> str:
        return f"{self.prefix}inflight:{name}"

    async def _call(self, op: Callable[[], Awaitable[_T]]) -> _T:
        """Run Redis work, turning an unreachable or refusing Redis into ServiceUnavailable."""
        return await redis_client.call(op, at=self.where, serving="shared account state")

    async def load(self, names: Collection[str]) -> dict[str, AccountState]:
        """The state of each named account (a fresh state for one never seen), one round trip."""
        names = list(names)
        if not names:
            return {}
        alive = f"({self._clock()!r}"

        async def read() -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.get(self._state_key(name))
                pipe.zcount(self._lease_key(name), alive, "+inf")
            return await pipe.execute()

        values = await self._call(read)
        return {
            name: decode_state(values[2 * i], int(values[2 * i + 1]))
            for i, name in enumerate(names)
        }

    async def update(self, name: str, change: StateChange) -> AccountState | None:
        """Apply ``change`` atomically across instances (optimistic, retried on conflict)."""
        # one update per account at a time in this process: optimistic retries are then only
        # paid for conflicts with other instances
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            return await self._call(lambda: self._update(name, change))

    async def _update(self, name: str, change: StateChange) -> AccountState | None:
        state_key, lease_key = self._state_key(name), self._lease_key(name)
        for _ in range(_MAX_ATTEMPTS):
            now = self._clock()
            async with self._client.pipeline(transaction=True) as pipe:
                await pipe.watch(state_key, lease_key)
                raw = cast("bytes | None", await pipe.get(state_key))
                count = int(await pipe.zcount(lease_key, f"({now!r}", "+inf"))
                old = decode_state(raw, count)
                new = change(old)
                if new is None:
                    return None  # leaving the block resets the pipeline and its WATCH
                held = self._held.get(name, [])
                delta = new.in_flight - old.in_flight
                added = [f"{self._instance}:{next(self._ids)}" for _ in range(max(0, delta))]
                dropped = held[: max(0, -delta)]
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.set(state_key, encode_state(new), px=int(self.state_ttl * 1000))
                pipe.zremrangebyscore(lease_key, "-inf", now)
                if added:
                    pipe.zadd(lease_key, dict.fromkeys(added, now + self.lease_ttl))
                if dropped:
                    pipe.zrem(lease_key, *dropped)
                pipe.pexpire(lease_key, int(self.state_ttl * 1000))
                try:
                    await pipe.execute()
                except WatchError:
                    continue
            self._remember(name, added, dropped)
            return new
        raise ServiceUnavailable(
            f"account {name} is changed by too many instances at once; retry shortly",
            code="store_busy",
        )

    def _remember(self, name: str, added: list[str], dropped: list[str]) -> None:
        held = [lease for lease in self._held.get(name, []) if lease not in dropped] + added
        if held:
            self._held[name] = held
        else:
            self._held.pop(name, None)
        if held and (self._heartbeat is None or self._heartbeat.done()):
            self._heartbeat = asyncio.create_task(self._renew_leases(), name="lease-heartbeat")

    async def _renew_leases(self) -> None:
        """Keep this instance's leases alive while it holds any."""
        while self._held:
            await asyncio.sleep(self.lease_ttl / 3)
            try:
                await self.renew_leases()
            except ServiceUnavailable as exc:
                # the leases age out if this goes on; the next beat tries again
                log.warning("could not renew account leases: %s", exc.message)

    async def renew_leases(self) -> None:
        """Push back the lapse time of every lease this instance holds; forget lapsed ones."""
        held = {name: list(leases) for name, leases in self._held.items() if leases}
        if not held:
            return
        until = self._clock() + self.lease_ttl

        async def beat() -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            for name, leases in held.items():
                pipe.zmscore(self._lease_key(name), leases)
                pipe.zadd(self._lease_key(name), dict.fromkeys(leases, until), xx=True)
            return await pipe.execute()

        results = await self._call(beat)
        for index, (name, leases) in enumerate(held.items()):
            scores = results[2 * index]
            lapsed = {lease for lease, score in zip(leases, scores, strict=True) if score is None}
            if lapsed:
                self._remember(name, [], sorted(lapsed))

    def held(self) -> dict[str, int]:
        """How many leases this instance holds per account (for tests and the operator)."""
        return {name: len(leases) for name, leases in self._held.items()}

    async def forget(self, name: str) -> None:
        """Drop an account's state and leases."""
        self._held.pop(name, None)
        await self._call(lambda: self._client.delete(self._state_key(name), self._lease_key(name)))

    async def ping(self) -> bool:
        """True when Redis answers PING; False (never an error) when it does not."""
        try:
            return bool(await self._call(lambda: self._client.ping()))
        except ServiceUnavailable:
            return False

    async def aclose(self) -> None:
        """Stop renewing, give back the leases still held (best effort), close the pool."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
            self._heartbeat = None
        held, self._held = self._held, {}
        if held:

            async def give_back() -> None:
                pipe = self._client.pipeline(transaction=False)
                for name, leases in held.items():
                    pipe.zrem(self._lease_key(name), *leases)
                await pipe.execute()

            # when Redis is down they lapse after lease_ttl anyway
            with contextlib.suppress(ServiceUnavailable):
                await self._call(give_back)
        if self._owns_client:
            await self._client.aclose()
