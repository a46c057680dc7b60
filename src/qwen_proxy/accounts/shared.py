"""Renewed browser sessions shared between gateway instances, and who may renew one now.

Several instances (or worker processes) serve the same accounts. When a token comes to its end,
one of them renews it and the others use the result: a short lock per account says who renews,
and the renewed token and cookie jar are stored for the others to take (``SharedSession``).
With a refresh token that rotates, that is the only way: the old one stops working once used.

``LocalShare`` is the one-process version (nothing to share, the lock is always free);
``redis_share.RedisSessionShare`` shares through the Redis the instances already use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class SharedSession:
    """An account's browser session as last renewed (or imported) by any instance."""

    token: str = field(repr=False)
    cookies: str | None = field(repr=False)
    #: Unix time it was renewed or imported; a later one supersedes an earlier one
    renewed_at: float


class SessionShare(Protocol):
    """Where instances leave renewed sessions, and the lock that lets one renew at a time."""

    async def get(self, name: str) -> SharedSession | None:
        """The account's session as last stored, if any."""
        ...

    async def put(self, name: str, session: SharedSession) -> None:
        """Store the account's session (the others take it from here)."""
        ...

    async def lock(self, name: str, ttl: float) -> str | None:
        """Take the account's renewal lock for ``ttl`` seconds: a key to unlock it with, or
        None while another instance holds it."""
        ...

    async def unlock(self, name: str, key: str) -> None:
        """Give the lock back (only its holder's ``key`` does)."""
        ...

    async def forget(self, name: str) -> None:
        """Drop the account's stored session (it was removed)."""
        ...


class LocalShare:
    """One process: nothing is shared, and the pool's own single flight is the lock."""

    async def get(self, name: str) -> SharedSession | None:
        """Nothing is stored."""
        return None

    async def put(self, name: str, session: SharedSession) -> None:
        """Nothing to store: this process holds the session itself."""

    async def lock(self, name: str, ttl: float) -> str | None:
        """Always free."""
        return "local"

    async def unlock(self, name: str, key: str) -> None:
        """Nothing to give back."""

    async def forget(self, name: str) -> None:
        """Nothing stored."""
