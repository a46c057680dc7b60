"""Keeping a running pool and ``accounts.json`` in step, both ways.

The gateway writes the file when the pool changes credentials (a renewed token, an admin
route); the operator's CLI writes it while the gateway runs. ``AccountsFile`` merges the
first kind into whatever the file holds now, so an account the CLI just added is never lost
by a save, and applies the second kind to the pool when the file's signature changes (polled).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from qwen_proxy.accounts.credentials import Credentials, CredentialsError
from qwen_proxy.accounts.pool import AccountPool
from qwen_proxy.accounts.status import ENV_ACCOUNT
from qwen_proxy.accounts.storage import load_accounts, migrate_accounts_file, save_accounts

log = logging.getLogger("qwen_proxy.accounts")

__all__ = ["ENV_ACCOUNT", "AccountsFile"]

Signature = tuple[int, int, int] | None


class AccountsFile:
    """The accounts file of one gateway process and what this process last knew of it."""

    def __init__(self, path: Path, *, keep_in_memory: Sequence[str] = (ENV_ACCOUNT,)) -> None:
        self.path = path
        self._memory_only = frozenset(keep_in_memory)
        #: the file's accounts as last read or written here: the base of a three-way merge
        self._known: dict[str, Credentials] = {}
        self._signature: Signature = None
        self._applying = False

    def load(self) -> list[Credentials]:
        """Read the file (missing: empty), in today's layout (an older one is rewritten in
        place first), and remember it as the merge base."""
        try:
            migrate_accounts_file(self.path)
        except OSError as exc:  # a read-only data directory: the old layout still reads
            log.warning("could not rewrite %s in the current layout: %s", self.path, exc.strerror)
        self._signature = self._stat()
        accounts = load_accounts(self.path)
        self._known = {a.name: a for a in accounts}
        return accounts

    def save(self, accounts: Sequence[Credentials]) -> None:
        """Write the pool's accounts, keeping what others changed in the file meanwhile.

        An account the pool changed or added wins; one the pool removed goes; one the file
        gained or changed behind our back stays as the file has it.
        """
        if self._applying:
            return  # the pool is taking the file's own content: nothing new to write
        ours = {a.name: a for a in accounts if a.name not in self._memory_only}
        try:
            current = {a.name: a for a in load_accounts(self.path)}
        except CredentialsError as exc:
            log.error("not saving the accounts: %s", exc)
            return
        merged = dict(current)
        for name, account in ours.items():
            if self._known.get(name) != account:
                merged[name] = account
        for name in self._known:
            if name not in ours:
                merged.pop(name, None)
        save_accounts(self.path, list(merged.values()))
        self._known = merged

    async def apply_changes(self, pool: AccountPool) -> bool:
        """When the file changed since last seen, make the pool match it. True if it did."""
        signature = self._stat()
        if signature == self._signature:
            return False
        try:
            wanted = {a.name: a for a in load_accounts(self.path)}
        except CredentialsError as exc:
            log.error("ignoring the changed accounts file: %s", exc)
            self._signature = signature
            return False
        self._signature = signature
        self._known = dict(wanted)
        current = {a.name: a for a in pool.accounts()}
        self._applying = True
        try:
            for name, account in wanted.items():
                if name in self._memory_only:
                    continue
                if current.get(name) != account:
                    await pool.add(account)
            for name in current:
                if name not in wanted and name not in self._memory_only:
                    await pool.remove(name)
        finally:
            self._applying = False
        return True

    def _stat(self) -> Signature:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)
