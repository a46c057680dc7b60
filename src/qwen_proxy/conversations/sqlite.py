"""The default store: one SQLite file in the data directory, shared by the workers of one host.

Each process opens its own connection. WAL lets readers run beside one writer; every write is a
single autocommit statement, so a writer never upgrades a read transaction (the case where
SQLite answers "database is locked" without waiting) and ``busy_timeout`` covers the rest.
``synchronous=NORMAL`` may lose the last few commits on power loss, never corrupt the file:
a lost node only means the next request folds its history into a new chat.

Calls run inline on the event loop by default (``threaded=False``): a lookup or an insert is
a few tens of microseconds, less than a hop to a worker thread costs. Measured with 100,000
stored nodes on a 2-core machine: inline 84-89k one-key lookups/s and 28-30k inserts/s;
one worker thread 7-15k lookups/s and 6k inserts/s. The price of inline: while another
process holds the write lock (microseconds per statement), a write waits on the loop.

WAL checkpoints (copying the log back into the file, with an fsync) are taken off the loop:
SQLite's automatic checkpoint would run inside whichever insert crossed 1,000 log pages and
stall every stream on the loop for milliseconds (measured: the p99 time to first token at 10
streams went from +3 ms with the memory store to +19 ms with SQLite). This connection turns
it off; every ``CHECKPOINT_EVERY`` inserts a passive checkpoint runs on a worker thread with a
connection of its own, which never blocks writers.

Expiry: an expired node is a miss on read; every ``check_every`` inserts, expired nodes are
deleted and, when more than ``max_nodes`` are stored, the least recently used ones evicted
(both through the ``last_used_at`` index). The bound may thus be exceeded by up to
``check_every - 1`` nodes per process between checks.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from qwen_proxy.conversations.ledger import LedgerEntry
from qwen_proxy.conversations.store import (
    DEFAULT_MAX_NODES,
    DEFAULT_TTL,
    NODE_FIELDS,
    Node,
    check_bounds,
    node_values,
)
from qwen_proxy.private_files import create_owner_only

_T = TypeVar("_T")

log = logging.getLogger("qwen_proxy.conversations")

#: inserts between background checkpoints (an insert adds a page or two to the log)
CHECKPOINT_EVERY = 256

_COLUMNS = ", ".join(NODE_FIELDS)
_PLACEHOLDERS = ",".join("?" * len(NODE_FIELDS))
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS nodes (
        key TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        account TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        parent_id TEXT NOT NULL,
        model TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_used_at REAL NOT NULL,
        turn INTEGER NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS nodes_last_used ON nodes (last_used_at)",
    "CREATE INDEX IF NOT EXISTS nodes_chat ON nodes (chat_id)",
    # the ledger of chats the gateway created (the cleanup deletes them upstream)
    """CREATE TABLE IF NOT EXISTS chats (
        chat_id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        created_at REAL NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS chats_created ON chats (created_at)",
    """CREATE TABLE IF NOT EXISTS cleanup_claim (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        until REAL NOT NULL
    )""",
)
# SQLite builds before 3.32 allow 999 bound parameters per statement
_MAX_PARAMS = 900


def _node(row: tuple[Any, ...]) -> Node:
    return Node(*row)


class SqliteStore:
    """Nodes in one SQLite file; ``ttl`` and ``max_nodes`` as in ``store``."""

    def __init__(
        self,
        path: Path | str,
        *,
        ttl: float = DEFAULT_TTL,
        max_nodes: int = DEFAULT_MAX_NODES,
        busy_timeout: float = 10.0,
        check_every: int | None = None,
        threaded: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_bounds(ttl, max_nodes)
        self.path = Path(path)
        self.ttl = ttl
        self.max_nodes = max_nodes
        self._clock = clock
        # ~1% overshoot at most, and a count(*) at most every 1,000 inserts
        self._check_every = check_every or min(1000, max(1, max_nodes // 100))
        self._puts = 0
        self._executor = (
            ThreadPoolExecutor(1, thread_name_prefix="sqlite-store") if threaded else None
        )
        self._busy_timeout = busy_timeout
        self._checkpointer: ThreadPoolExecutor | None = None
        self._checkpointing: asyncio.Future[None] | None = None
        self._checkpoint_db: sqlite3.Connection | None = None
        create_owner_only(self.path)
        # isolation_level=None: autocommit, each statement is its own short transaction
        self._db = sqlite3.connect(
            self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        self._initialise(deadline=time.monotonic() + busy_timeout)

    def _initialise(self, *, deadline: float) -> None:
        # Workers starting together on a fresh file race to switch it to WAL; that switch
        # fails as busy without calling the busy handler (or leaves the mode unchanged),
        # so it is retried here until busy_timeout has passed.
        while True:
            try:
                mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() in ("wal", "memory"):
                    self._db.execute("PRAGMA synchronous = NORMAL")
                    # checkpoints run on a worker thread (see the module docstring)
                    self._db.execute("PRAGMA wal_autocheckpoint = 0")
                    for statement in _SCHEMA:
                        self._db.execute(statement)
                    return
            except sqlite3.OperationalError as exc:
                busy = exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
                if not busy or time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                raise sqlite3.OperationalError(f"could not switch {self.path} to WAL mode")
            time.sleep(random.uniform(0.002, 0.02))

    async def _run(self, fn: Callable[[], _T]) -> _T:
        if self._executor is None:
            return fn()
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def get_first(self, keys: Sequence[str]) -> Node | None:
        """The first of ``keys`` that is stored and not expired, in one query per 900 keys."""
        if not keys:
            return None
        return await self._run(lambda: self._get_first(keys))

    def _get_first(self, keys: Sequence[str]) -> Node | None:
        cutoff = self._clock() - self.ttl
        for start in range(0, len(keys), _MAX_PARAMS):
            chunk = keys[start : start + _MAX_PARAMS]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM nodes WHERE key IN ({marks}) AND last_used_at > ?",
                (*chunk, cutoff),
            ).fetchall()
            if rows:
                found = {row[0]: row for row in rows}
                for key in chunk:
                    if key in found:
                        return _node(found[key])
        return None

    async def put(self, node: Node) -> None:
        """Store a node; every ``check_every`` puts, drop expired and excess nodes."""
        await self._run(lambda: self._put(node))
        if self._puts % CHECKPOINT_EVERY == 0:
            self._checkpoint_soon()

    def _checkpoint_soon(self) -> None:
        if self._checkpointing is not None and not self._checkpointing.done():
            return
        if self._checkpointer is None:
            self._checkpointer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")
        loop = asyncio.get_running_loop()
        self._checkpointing = loop.run_in_executor(self._checkpointer, self._checkpoint)
        self._checkpointing.add_done_callback(_log_checkpoint_failure)

    def _checkpoint(self) -> None:
        # runs on the checkpoint thread only, so its connection never crosses threads
        if self._checkpoint_db is None:
            self._checkpoint_db = sqlite3.connect(
                self.path, timeout=self._busy_timeout, isolation_level=None
            )
        self._checkpoint_db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    def _close_checkpoint_db(self) -> None:
        if self._checkpoint_db is not None:
            self._checkpoint_db.close()
            self._checkpoint_db = None

    def _put(self, node: Node) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO nodes ({_COLUMNS}) VALUES ({_PLACEHOLDERS})",
            node_values(node),
        )
        self._puts += 1
        if self._puts % self._check_every == 0:
            self._purge(self.ttl)
            self._evict_excess()

    def _evict_excess(self) -> None:
        # one statement, so two processes evicting at once cannot deadlock on a lock upgrade
        self._db.execute(
            "DELETE FROM nodes WHERE key IN (SELECT key FROM nodes ORDER BY last_used_at "
            "LIMIT max(0, (SELECT count(*) FROM nodes) - ?))",
            (self.max_nodes,),
        )

    async def touch(self, key: str, now: float) -> None:
        """Mark a node as used at ``now``."""
        await self._run(
            lambda: self._db.execute("UPDATE nodes SET last_used_at = ? WHERE key = ?", (now, key))
        )

    async def delete(self, key: str) -> None:
        """Forget one node."""
        await self._run(lambda: self._db.execute("DELETE FROM nodes WHERE key = ?", (key,)))

    async def purge(self, *, older_than: float | None = None) -> int:
        """Delete nodes unused for ``older_than`` seconds (default: the TTL)."""
        limit = self.ttl if older_than is None else older_than
        return await self._run(lambda: self._purge(limit))

    def _purge(self, older_than: float) -> int:
        cutoff = self._clock() - older_than
        return self._db.execute("DELETE FROM nodes WHERE last_used_at <= ?", (cutoff,)).rowcount

    async def list(self, *, limit: int = 100, chat_id: str | None = None) -> builtins.list[Node]:
        """Stored nodes, most recently used first."""

        def query() -> builtins.list[Node]:
            if chat_id is None:
                sql = f"SELECT {_COLUMNS} FROM nodes ORDER BY last_used_at DESC LIMIT ?"
                params: tuple[object, ...] = (limit,)
            else:
                sql = (
                    f"SELECT {_COLUMNS} FROM nodes WHERE chat_id = ? "
                    "ORDER BY last_used_at DESC LIMIT ?"
                )
                params = (chat_id, limit)
            return [_node(row) for row in self._db.execute(sql, params)]

        return await self._run(query)

    async def count(self) -> int:
        """How many nodes are stored."""
        row = await self._run(lambda: self._db.execute("SELECT count(*) FROM nodes").fetchone())
        return int(row[0])

    async def add_chat(self, chat_id: str, account: str, created_at: float) -> None:
        """Note a chat the gateway created."""
        await self._run(
            lambda: self._db.execute(
                "INSERT OR REPLACE INTO chats (chat_id, account, created_at) VALUES (?, ?, ?)",
                (chat_id, account, created_at),
            )
        )

    async def chats_created_before(
        self, cutoff: float, *, offset: int = 0, limit: int = 500
    ) -> builtins.list[LedgerEntry]:
        """Chats created before ``cutoff``, oldest first."""
        rows = await self._run(
            lambda: self._db.execute(
                "SELECT chat_id, account, created_at FROM chats WHERE created_at < ? "
                "ORDER BY created_at, chat_id LIMIT ? OFFSET ?",
                (cutoff, limit, offset),
            ).fetchall()
        )
        return [LedgerEntry(*row) for row in rows]

    async def chats_in_use(self, chat_ids: Sequence[str]) -> set[str]:
        """Those of ``chat_ids`` a live node references (through the chat index)."""

        def query() -> set[str]:
            cutoff = self._clock() - self.ttl
            found: set[str] = set()
            for start in range(0, len(chat_ids), _MAX_PARAMS):
                chunk = chat_ids[start : start + _MAX_PARAMS]
                marks = ",".join("?" * len(chunk))
                found.update(
                    row[0]
                    for row in self._db.execute(
                        f"SELECT DISTINCT chat_id FROM nodes WHERE chat_id IN ({marks}) "
                        "AND last_used_at > ?",
                        (*chunk, cutoff),
                    )
                )
            return found

        return await self._run(query)

    async def forget_chats(self, chat_ids: Sequence[str]) -> None:
        """Drop chats from the ledger."""
        await self._run(
            lambda: self._db.executemany(
                "DELETE FROM chats WHERE chat_id = ?", [(c,) for c in chat_ids]
            )
        )

    async def claim_cleanup(self, now: float, hold: float) -> bool:
        """One statement: the claim is taken only where none holds (workers share the file)."""
        cursor = await self._run(
            lambda: self._db.execute(
                "INSERT INTO cleanup_claim (id, until) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET until = excluded.until WHERE until <= ?",
                (now + hold, now),
            )
        )
        return bool(cursor.rowcount == 1)

    async def ping(self) -> bool:
        """True when the file answers a trivial query."""
        try:
            await self._run(lambda: self._db.execute("SELECT 1").fetchone())
        except sqlite3.Error:
            return False
        return True

    async def close(self) -> None:
        """Close the connection (and the worker thread when threaded)."""
        if self._checkpointer is not None:
            # its connection belongs to its thread: close it there
            self._checkpointer.submit(self._close_checkpoint_db)
            self._checkpointer.shutdown(wait=True)
        await self._run(self._db.close)
        if self._executor is not None:
            self._executor.shutdown(wait=True)


def _log_checkpoint_failure(future: asyncio.Future[None]) -> None:
    # a failed checkpoint only leaves the log longer until the next one: never fail a put
    if not future.cancelled() and future.exception() is not None:
        log.warning("SQLite checkpoint failed: %s", future.exception())
