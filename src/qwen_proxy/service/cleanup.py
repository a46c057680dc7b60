"""Deleting the upstream chats the gateway created once no conversation can continue them.

A chat qualifies when it is in the ledger (the gateway created it), was created before the
purge age, and no live node references it. Deletions run account by account, one every
``pace`` seconds on each account, only on accounts that are active; a failure leaves the chat
in the ledger for the next pass. Only the one-chat delete route is ever called.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from qwen_proxy.accounts import Credentials
from qwen_proxy.conversations.ledger import ChatLedger
from qwen_proxy.qwen.errors import AccountFault, UpstreamError
from qwen_proxy.service.metrics import CHAT_DELETIONS

log = logging.getLogger("qwen_proxy.service.cleanup")

#: ledger entries read per page
PAGE = 500


class ChatDeleter(Protocol):
    """The one upstream call the cleanup makes."""

    async def delete_chat(self, cred: Credentials, chat_id: str) -> None:
        """Delete one chat (a chat already gone counts as deleted)."""
        ...


@dataclass
class CleanupReport:
    """What one pass did."""

    deleted: int = 0
    failed: int = 0
    #: chats a live conversation still uses (kept)
    in_use: int = 0
    #: chats left for a later pass because their account cannot serve now
    deferred: int = 0
    #: chats of accounts the gateway no longer has (forgotten: nobody can delete them)
    orphaned: int = 0


class ChatCleanup:
    """One pass over the ledger: find the chats no conversation uses, delete them upstream."""

    def __init__(
        self,
        ledger: ChatLedger,
        client: ChatDeleter,
        accounts: Callable[[], Mapping[str, Credentials | None]],
        *,
        pace: float,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.ledger = ledger
        self.client = client
        #: account name -> credentials, or None for an account that cannot serve now
        self.accounts = accounts
        self.pace = pace
        self._clock = clock
        self._sleep = sleep

    async def run(self, older_than: float) -> CleanupReport:
        """Delete every qualifying chat created more than ``older_than`` seconds ago."""
        report = CleanupReport()
        cutoff = self._clock() - older_than
        by_account: dict[str, list[str]] = defaultdict(list)
        offset = 0
        while True:
            page = await self.ledger.chats_created_before(cutoff, offset=offset, limit=PAGE)
            in_use = await self.ledger.chats_in_use([e.chat_id for e in page])
            report.in_use += len(in_use)
            offset += len(page)
            for entry in page:
                if entry.chat_id not in in_use:
                    by_account[entry.account].append(entry.chat_id)
            if len(page) < PAGE:
                break
        if by_account:
            accounts = self.accounts()
            await asyncio.gather(
                *(
                    self._delete_for(name, chats, accounts, report)
                    for name, chats in by_account.items()
                )
            )
        if report.deleted or report.failed:
            log.info(
                "chat cleanup: deleted %d upstream chat(s), %d failed, %d still in use",
                report.deleted,
                report.failed,
                report.in_use,
            )
        return report

    async def _delete_for(
        self,
        name: str,
        chats: Sequence[str],
        accounts: Mapping[str, Credentials | None],
        report: CleanupReport,
    ) -> None:
        """Delete one account's chats, paced; stop at a failure that says the account is unwell."""
        if name not in accounts:
            log.debug("forgetting %d chat(s) of account %s, which is gone", len(chats), name)
            report.orphaned += len(chats)
            await self.ledger.forget_chats(chats)
            return
        credentials = accounts[name]
        if credentials is None:
            report.deferred += len(chats)
            return
        for index, chat_id in enumerate(chats):
            if index and self.pace > 0:
                await self._sleep(self.pace)
            try:
                await self.client.delete_chat(credentials, chat_id)
            except UpstreamError as error:
                report.failed += 1
                CHAT_DELETIONS.labels("failed").inc()
                log.debug("could not delete chat %s on %s: %s", chat_id, name, error.code)
                if error.account_fault in (
                    AccountFault.AUTH,
                    AccountFault.CAPTCHA,
                    AccountFault.RATE_LIMIT,
                ):
                    report.deferred += len(chats) - index - 1
                    return
                continue
            await self.ledger.forget_chats([chat_id])
            report.deleted += 1
            CHAT_DELETIONS.labels("deleted").inc()
            log.debug("deleted upstream chat %s on account %s", chat_id, name)
