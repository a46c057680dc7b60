"""Where account states live: one small interface, an in-memory implementation.

A shared implementation (Redis, for several gateway instances) applies ``update`` with an
optimistic transaction; that is why ``change`` must be a pure function that may run twice.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Protocol

from qwen_proxy.accounts.state import AccountState

StateChange = Callable[[AccountState], AccountState | None]


class AccountStateStore(Protocol):
    """Atomic access to the ``AccountState`` of each account, by account name."""

    async def load(self, names: Collection[str]) -> dict[str, AccountState]:
        """The state of each named account (a fresh state for one never seen)."""
        ...

    async def update(self, name: str, change: StateChange) -> AccountState | None:
        """Apply ``change`` atomically; None from ``change`` writes nothing and returns None."""
        ...

    async def forget(self, name: str) -> None:
        """Drop an account's state (it was removed from the pool)."""
        ...


class InMemoryStateStore:
    """States in a dict: one gateway process, one event loop."""

    def __init__(self) -> None:
        self._states: dict[str, AccountState] = {}

    async def load(self, names: Collection[str]) -> dict[str, AccountState]:
        """The state of each named account (a fresh state for one never seen)."""
        return {name: self._states.get(name) or AccountState() for name in names}

    async def update(self, name: str, change: StateChange) -> AccountState | None:
        """Apply ``change``; nothing awaits in between, so it is atomic on one event loop."""
        new = change(self._states.get(name) or AccountState())
        if new is not None:
            self._states[name] = new
        return new

    async def forget(self, name: str) -> None:
        """Drop an account's state."""
        self._states.pop(name, None)
