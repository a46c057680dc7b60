"""A request's hold on one account, released exactly once with the request's outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType

from qwen_proxy.accounts.credentials import Credentials
from qwen_proxy.accounts.outcome import Outcome

#: the pool's side of a release
Finish = Callable[["Lease", Outcome], Awaitable[None]]


class Lease:
    """One request's hold on an account. Release it exactly once with its outcome.

    As an async context manager it releases itself on exit when nothing was reported: as
    "transient" if an exception escapes, as "ok" otherwise; a cancelled request (client gone)
    as "abandoned", which only gives its slot back.
    """

    # one per open request
    __slots__ = ("_finish", "_released", "credentials", "generation", "model")

    def __init__(
        self, finish: Finish, credentials: Credentials, model: str, generation: int
    ) -> None:
        self._finish = finish
        self.credentials = credentials
        self.model = model
        self.generation = generation
        self._released = False

    @property
    def name(self) -> str:
        """The account's name."""
        return self.credentials.name

    @property
    def released(self) -> bool:
        """True once the outcome has been reported."""
        return self._released

    async def release(self, outcome: Outcome) -> None:
        """Report how the request went and give the slot back."""
        if self._released:
            raise RuntimeError(f"the lease on account {self.name} was already released")
        self._released = True
        # a cancellation arriving now must not leak the in-flight slot
        await asyncio.shield(self._finish(self, outcome))

    async def __aenter__(self) -> Lease:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._released:
            return
        if exc_type is None:
            await self.release(Outcome.ok())
        elif issubclass(exc_type, asyncio.CancelledError | GeneratorExit):
            await self.release(Outcome.abandoned())
        else:
            await self.release(Outcome.transient())

    def __repr__(self) -> str:
        return f"Lease(account={self.name!r}, model={self.model!r}, released={self._released})"
