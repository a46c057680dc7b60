"""The installation's secret that keys tenant names (``canonical.tenant_id``).

One per installation: a file in the data directory (created owner-only), or one value in Redis
when the store is Redis, so every instance that shares the store names tenants alike. Made once,
on first start; losing it only costs each conversation one folded turn (its keys change).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

SECRET_FILE = "tenant.secret"
SECRET_BYTES = 32


def load_secret(data_dir: Path) -> bytes:
    """The secret in ``data_dir``, created (mode 0600) if there is none yet."""
    path = data_dir / SECRET_FILE
    candidate = new_secret()
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            os.write(fd, candidate)
        finally:
            os.close(fd)
    stored = path.read_bytes().strip()
    if len(stored) < SECRET_BYTES:
        raise ValueError(f"{path} is damaged (too short); delete it to make a new one")
    return stored


def new_secret() -> bytes:
    """A fresh secret, as ``load_secret`` would make it."""
    return secrets.token_hex(SECRET_BYTES).encode()
