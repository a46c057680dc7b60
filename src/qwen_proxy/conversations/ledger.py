"""The ledger of upstream chats the gateway created, kept beside the conversation nodes.

Every chat the gateway opens upstream is written here with its account; the cleanup deletes a
chat once it is older than the purge age and no live node references it, then forgets it here.
A chat the gateway did not create is never in the ledger, so it is never deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One chat the gateway created upstream."""

    chat_id: str
    account: str
    created_at: float


class ChatLedger(Protocol):
    """What every conversation store keeps about the chats it created."""

    async def add_chat(self, chat_id: str, account: str, created_at: float) -> None:
        """Note a chat the gateway just created."""
        ...

    async def chats_created_before(
        self, cutoff: float, *, offset: int = 0, limit: int = 500
    ) -> list[LedgerEntry]:
        """Chats created before ``cutoff``, oldest first, a page at a time."""
        ...

    async def chats_in_use(self, chat_ids: Sequence[str]) -> set[str]:
        """Those of ``chat_ids`` that a live (not expired) node still references."""
        ...

    async def forget_chats(self, chat_ids: Sequence[str]) -> None:
        """Drop chats from the ledger (deleted upstream, or beyond reach)."""
        ...

    async def claim_cleanup(self, now: float, hold: float) -> bool:
        """True for the one process (of all sharing the store) that may clean up now; the
        claim lasts ``hold`` seconds."""
        ...
