"""Keys in ``<data_dir>/keys.json`` (owner-only, replaced atomically) and their usage in SQLite.

The keys file changes rarely (``qwen-proxy keys``, the admin route) and is polled by its stat
signature. Usage changes on every request, so it goes elsewhere: every gateway process adds its
counts to ``keys-usage.sqlite3`` every few seconds, one upsert per key (WAL, so the workers of a
host and the CLI share it).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Mapping
from pathlib import Path

import orjson

from qwen_proxy.keys.model import ClientKey, KeyError_, KeyUsage, UsageDelta
from qwen_proxy.keys.store import utc_day
from qwen_proxy.private_files import create_owner_only

KEYS_FILE = "keys.json"
USAGE_FILE = "keys-usage.sqlite3"
FILE_VERSION = 1

_SCHEMA = """CREATE TABLE IF NOT EXISTS usage (
    name TEXT NOT NULL,
    day TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    last_used_at REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (name, day)
) WITHOUT ROWID"""
_ADD = """INSERT INTO usage (name, day, requests, input_tokens, output_tokens, last_used_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (name, day) DO UPDATE SET
    requests = requests + excluded.requests,
    input_tokens = input_tokens + excluded.input_tokens,
    output_tokens = output_tokens + excluded.output_tokens,
    last_used_at = max(last_used_at, excluded.last_used_at)"""
_TOTALS = """SELECT name, sum(requests), sum(input_tokens), sum(output_tokens), max(last_used_at)
FROM usage GROUP BY name"""
_TODAY = "SELECT name, requests, input_tokens, output_tokens FROM usage WHERE day = ?"


def load_keys(path: Path) -> list[ClientKey]:
    """The keys in ``path`` (none when it does not exist)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    try:
        data = orjson.loads(raw)
        entries = data["keys"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise KeyError_(f"{path} is not a keys file; fix or remove it") from None
    return [ClientKey.from_json(entry) for entry in entries]


def save_keys(path: Path, keys: list[ClientKey]) -> None:
    """Write the keys file atomically, owner-only (0600) from the moment it exists."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = orjson.dumps(
        {"version": FILE_VERSION, "keys": [key.to_json() for key in keys]},
        option=orjson.OPT_INDENT_2,
    )
    # mkstemp creates the file 0600 with O_EXCL: no reader ever sees a wider or partial file
    fd, tmp_name = tempfile.mkstemp(prefix=".keys.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


class FileKeyStore:
    """``keys.json`` and ``keys-usage.sqlite3`` in one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / KEYS_FILE
        self._usage_path = data_dir / USAGE_FILE
        self._db: sqlite3.Connection | None = None

    async def keys(self) -> list[ClientKey]:
        """Every key in the file."""
        return load_keys(self.path)

    async def put(self, key: ClientKey) -> None:
        """Add or replace a key by name (read, change, replace the file)."""
        keys = [k for k in load_keys(self.path) if k.name != key.name]
        save_keys(self.path, [*keys, key])

    async def version(self) -> str:
        """The file's stat signature (inode, size, mtime), or "none" while it does not exist."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "none"
        return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self._usage_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            create_owner_only(self._usage_path)
            db = sqlite3.connect(self._usage_path, timeout=10.0, isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute(_SCHEMA)
            self._db = db
        return self._db

    async def add_usage(self, deltas: Mapping[str, UsageDelta], now: float) -> None:
        """One upsert per key into today's row, in one transaction."""
        if not deltas:
            return
        db = self._connect()
        day = utc_day(now)
        rows = [
            (name, day, d.requests, d.input_tokens, d.output_tokens, d.last_used_at)
            for name, d in deltas.items()
        ]
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(_ADD, rows)

    async def usage(self, now: float) -> dict[str, KeyUsage]:
        """Each key's totals and today's counts."""
        db = self._connect()
        today = {row[0]: row[1:] for row in db.execute(_TODAY, (utc_day(now),))}
        found: dict[str, KeyUsage] = {}
        for name, requests, input_tokens, output_tokens, last_used in db.execute(_TOTALS):
            day = today.get(name, (0, 0, 0))
            found[name] = KeyUsage(
                requests=int(requests),
                input_tokens=int(input_tokens),
                output_tokens=int(output_tokens),
                today_requests=int(day[0]),
                today_input_tokens=int(day[1]),
                today_output_tokens=int(day[2]),
                last_used_at=float(last_used) if last_used else None,
            )
        return found

    async def close(self) -> None:
        """Close the usage database."""
        if self._db is not None:
            self._db.close()
            self._db = None
