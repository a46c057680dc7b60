"""Where keys and their usage live: the interface the file and Redis stores implement."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Protocol

from qwen_proxy.keys.model import ClientKey, KeyUsage, UsageDelta


def utc_day(now: float) -> str:
    """The UTC date of ``now`` as ``YYYY-MM-DD`` (usage "today" is counted per UTC day)."""
    return time.strftime("%Y-%m-%d", time.gmtime(now))


class KeyStore(Protocol):
    """Keys by name, a version that changes with them, and per-key usage counters."""

    async def keys(self) -> list[ClientKey]:
        """Every stored key (revoked ones included)."""
        ...

    async def put(self, key: ClientKey) -> None:
        """Add a key, or replace the one of the same name."""
        ...

    async def version(self) -> str:
        """A value that changes whenever the keys change (cheap: polled every second)."""
        ...

    async def add_usage(self, deltas: Mapping[str, UsageDelta], now: float) -> None:
        """Add what a process saw since its last flush to each key's counters."""
        ...

    async def usage(self, now: float) -> dict[str, KeyUsage]:
        """Each key's usage, in total and on ``now``'s UTC day."""
        ...

    async def close(self) -> None:
        """Release files or connections."""
        ...
