"""Files the gateway keeps in its data directory are its owner's only (0600)."""

from __future__ import annotations

import contextlib
import os


def create_owner_only(path: str | os.PathLike[str]) -> None:
    """Create ``path`` readable by its owner only, unless it exists (SQLite then gives its -wal
    and -shm files the same mode); ``:memory:`` and ``file:`` URIs are left alone."""
    name = os.fspath(path)
    if name == ":memory:" or name.startswith("file:"):
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
