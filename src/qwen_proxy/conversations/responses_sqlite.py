"""Stored responses in the conversation store's SQLite file, in a table of their own.

A connection of its own to the same file (WAL lets it write beside the node store's), with the
same habits: autocommit statements run inline on the loop, no automatic checkpoint on the loop
(the node store's background checkpoints cover the whole file), expired rows deleted every
``check_every`` inserts and by ``purge_responses``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from qwen_proxy.conversations.responses import ResponseRecord, decode_record, encode_record
from qwen_proxy.conversations.store import DEFAULT_TTL
from qwen_proxy.private_files import create_owner_only

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS responses (
        id TEXT PRIMARY KEY,
        value BLOB NOT NULL,
        last_used_at REAL NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS responses_last_used ON responses (last_used_at)",
)
_MAX_PARAMS = 900


class SqliteResponses:
    """Records in the ``responses`` table of ``path``; ``ttl`` as for nodes."""

    def __init__(
        self,
        path: Path | str,
        *,
        ttl: float = DEFAULT_TTL,
        busy_timeout: float = 10.0,
        check_every: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._check_every = check_every
        self._puts = 0
        create_owner_only(path)
        self._db = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        self._db.execute("PRAGMA wal_autocheckpoint = 0")
        self._db.execute("PRAGMA synchronous = NORMAL")
        for statement in _SCHEMA:
            self._db.execute(statement)

    async def put_response(self, record: ResponseRecord) -> None:
        """Store a record; every ``check_every`` puts, drop the expired ones."""
        self._db.execute(
            "INSERT OR REPLACE INTO responses (id, value, last_used_at) VALUES (?, ?, ?)",
            (record.id, encode_record(record), record.last_used_at),
        )
        self._puts += 1
        if self._puts % self._check_every == 0:
            self._purge(record.last_used_at)

    async def get_responses(self, ids: Sequence[str], now: float) -> list[ResponseRecord | None]:
        """The records of ``ids`` (None where unknown or expired), marked as used at ``now``."""
        found: dict[str, ResponseRecord] = {}
        cutoff = now - self.ttl
        for start in range(0, len(ids), _MAX_PARAMS):
            chunk = ids[start : start + _MAX_PARAMS]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT id, value FROM responses WHERE id IN ({marks}) AND last_used_at > ?",
                (*chunk, cutoff),
            ).fetchall()
            for record_id, value in rows:
                found[record_id] = replace(decode_record(record_id, value), last_used_at=now)
            if rows:
                self._db.execute(
                    f"UPDATE responses SET last_used_at = ? WHERE id IN ({marks})", (now, *chunk)
                )
        return [found.get(record_id) for record_id in ids]

    async def purge_responses(self) -> int:
        """Delete records unused for ``ttl`` seconds."""
        return self._purge(self._clock())

    def _purge(self, now: float) -> int:
        cutoff = now - self.ttl
        return self._db.execute("DELETE FROM responses WHERE last_used_at <= ?", (cutoff,)).rowcount

    async def close(self) -> None:
        """Close the connection."""
        self._db.close()
