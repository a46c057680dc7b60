"""``accounts.json``: the accounts of a data directory, owner-only, written atomically.

Layout 2 (today) stores each account's browser profile under ``browser``; layout 1 (a token,
cookies and sign-in data per account) is still read, and ``migrate_accounts_file`` rewrites it
in place. Errors name the file and the account's position, never a value.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from qwen_proxy.accounts.credentials import (
    BROWSER_FIELD,
    CREDENTIAL_FIELDS,
    Credentials,
    credentials_from_fields,
)
from qwen_proxy.accounts.errors import CredentialsError
from qwen_proxy.qwen.browser import BrowserProfile

log = logging.getLogger("qwen_proxy.accounts")

ACCOUNTS_FILE = "accounts.json"
#: the layout written now: 2 added each account's browser profile
FILE_VERSION = 2
#: when the gateway last renewed the account's token (a number; absent: as imported)
RENEWED_FIELD = "renewed_at"


def accounts_path(data_dir: Path) -> Path:
    """Where the account list lives inside the data directory."""
    return data_dir / ACCOUNTS_FILE


def load_accounts(path: Path) -> list[Credentials]:
    """Read the accounts file; a missing file is an empty list."""
    try:
        raw = path.read_bytes()
        mode = path.stat().st_mode
    except FileNotFoundError:
        return []
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "accounts file %s is accessible by other users (mode %o); run `chmod 600 %s`",
            path,
            stat.S_IMODE(mode),
            path,
        )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise CredentialsError(f"{path} is not valid JSON") from None
    version = _file_version(data)
    if version > FILE_VERSION:
        raise CredentialsError(
            f"{path} was written by a newer qwen-proxy (layout {version}); upgrade to read it"
        )
    entries = data.get("accounts") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise CredentialsError(f"{path} must hold a list of accounts")
    accounts = [_from_entry(entry, path, index) for index, entry in enumerate(entries)]
    _check_unique(accounts, path)
    return accounts


def save_accounts(path: Path, accounts: Sequence[Credentials]) -> None:
    """Write the accounts file atomically, owner-only (0600) from the moment it exists."""
    _check_unique(accounts, path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = orjson.dumps(
        {"version": FILE_VERSION, "accounts": [_to_entry(account) for account in accounts]},
        option=orjson.OPT_INDENT_2,
    )
    # mkstemp opens with O_EXCL and mode 0600, so no reader ever sees a wider file
    fd, tmp_name = tempfile.mkstemp(prefix=".accounts.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            os.fchmod(tmp.fileno(), 0o600)
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def migrate_accounts_file(path: Path) -> bool:
    """Rewrite an accounts file of an older layout in today's, in place (atomically, 0600).

    Every account keeps what it had: a token-only account stays one. True when the file was
    rewritten; a missing or current file is left alone.
    """
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return False
    except orjson.JSONDecodeError:
        raise CredentialsError(f"{path} is not valid JSON") from None
    if _file_version(data) >= FILE_VERSION:
        return False
    save_accounts(path, load_accounts(path))
    log.info("accounts file %s rewritten in layout %d", path, FILE_VERSION)
    return True


def _file_version(data: Any) -> int:
    # a bare list is the first layout, as is an object without a version
    version = data.get("version", 1) if isinstance(data, dict) else 1
    return version if isinstance(version, int) and not isinstance(version, bool) else 1


def _fsync_dir(directory: Path) -> None:
    # makes the rename durable; some filesystems refuse to open a directory, which is harmless
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _to_entry(account: Credentials) -> dict[str, Any]:
    entry: dict[str, Any] = {
        key: value for key in CREDENTIAL_FIELDS if (value := getattr(account, key)) is not None
    }
    if account.browser is not None and not account.browser.is_empty:
        entry[BROWSER_FIELD] = account.browser.to_dict()
    if account.renewed_at is not None:
        entry[RENEWED_FIELD] = account.renewed_at
    return entry


def _from_entry(entry: Any, path: Path, index: int) -> Credentials:
    if not isinstance(entry, dict):
        raise CredentialsError(f"{path}: account #{index + 1} is not an object")
    values: dict[str, str | None] = {}
    for key in CREDENTIAL_FIELDS:
        value = entry.get(key)
        if value is not None and not isinstance(value, str):
            raise CredentialsError(f"{path}: account #{index + 1}: {key} must be a string")
        values[key] = value or None
    browser = entry.get(BROWSER_FIELD)
    if browser is not None and not isinstance(browser, dict):
        raise CredentialsError(f"{path}: account #{index + 1}: {BROWSER_FIELD} must be an object")
    account = credentials_from_fields(
        values, BrowserProfile.from_dict(browser) if browser else None
    )
    renewed = entry.get(RENEWED_FIELD)
    if isinstance(renewed, int | float) and not isinstance(renewed, bool):
        account = replace(account, renewed_at=float(renewed))
    return account


def _check_unique(accounts: Iterable[Credentials], path: Path) -> None:
    seen: set[str] = set()
    for account in accounts:
        if account.name in seen:
            raise CredentialsError(f"{path}: account name {account.name!r} appears twice")
        seen.add(account.name)
