"""A hand-driven clock for tests and simulations of the pool (no real waiting)."""

from __future__ import annotations

import asyncio


class ManualClock:
    """Monotonic and wall time that move only when ``advance`` is called.

    Pass ``clock.monotonic``, ``clock.wall`` and ``clock.sleep`` to the pool; a test can await
    ``sleeping()`` to know someone waits on the clock, then ``advance`` to wake them.
    """

    def __init__(self, start: float = 1_000.0, wall_start: float = 1_780_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_start - start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._sleeper_added = asyncio.Event()

    def monotonic(self) -> float:
        """The current monotonic time."""
        return self._now

    def wall(self) -> float:
        """The current Unix time."""
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose time has come."""
        self._now += seconds
        due = [fut for at, fut in self._sleepers if at <= self._now]
        self._sleepers = [(at, fut) for at, fut in self._sleepers if at > self._now]
        for fut in due:
            if not fut.done():
                fut.set_result(None)

    async def sleep(self, delay: float) -> None:
        """Return once the clock has been advanced by ``delay``."""
        if delay <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self._now + delay, fut)
        self._sleepers.append(entry)
        self._sleeper_added.set()
        try:
            await fut
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    @property
    def sleepers(self) -> int:
        """How many tasks are waiting on the clock."""
        return len(self._sleepers)

    async def sleeping(self, count: int = 1) -> None:
        """Wait until at least ``count`` tasks are waiting on the clock."""
        while len(self._sleepers) < count:
            self._sleeper_added.clear()
            await self._sleeper_added.wait()
