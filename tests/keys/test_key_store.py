"""Named keys on disk: only digests are stored, the file stays owner-only, changes are seen."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from qwen_proxy.keys import KeyError_, KeyRegistry, UsageDelta, add_key, key_rows, revoke_key
from qwen_proxy.keys.file import FileKeyStore
from qwen_proxy.keys.manage import parse_expiry

pytestmark = pytest.mark.unit

NOW = 1_800_000_000.0


async def test_a_new_key_is_stored_as_its_digest_in_an_owner_only_file(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path)
    key, secret = await add_key(store, "alice", now=NOW, rpm=5)
    text = (tmp_path / "keys.json").read_text()
    assert secret.startswith("sk-qp-")
    assert secret not in text
    assert key.digest in text
    assert stat.S_IMODE(os.stat(tmp_path / "keys.json").st_mode) == 0o600
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".keys.")]


async def test_the_registry_finds_a_key_by_its_secret_and_follows_revocation(
    tmp_path: Path,
) -> None:
    store = FileKeyStore(tmp_path)
    registry = KeyRegistry(store)
    assert await registry.refresh()
    assert registry.loaded
    assert not registry.active
    _, secret = await add_key(store, "alice", now=NOW)
    assert await registry.refresh()
    found = registry.lookup(secret)
    assert found is not None
    assert found.name == "alice"
    assert registry.active
    assert not await registry.refresh()  # nothing changed: nothing reloaded
    await revoke_key(store, "alice", now=NOW + 1)
    assert await registry.refresh()
    revoked = registry.lookup(secret)
    assert revoked is not None
    assert revoked.revoked_at == NOW + 1
    assert not registry.active
    assert registry.lookup("sk-qp-not-a-key") is None


async def test_an_active_name_cannot_be_taken_twice_but_a_revoked_one_can(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path)
    await add_key(store, "ci", now=NOW)
    with pytest.raises(KeyError_, match="exists"):
        await add_key(store, "ci", now=NOW)
    await revoke_key(store, "ci", now=NOW)
    await add_key(store, "ci", now=NOW + 1)
    assert [k.revoked_at for k in await store.keys()] == [None]


async def test_bad_names_limits_and_expiries_are_refused(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path)
    with pytest.raises(KeyError_, match="invalid key name"):
        await add_key(store, "a b", now=NOW)
    with pytest.raises(KeyError_, match="rpm"):
        await add_key(store, "alice", now=NOW, rpm=0)
    with pytest.raises(KeyError_, match="past"):
        await add_key(store, "alice", now=NOW, expires_at=NOW - 1)
    with pytest.raises(KeyError_, match="invalid expiry"):
        parse_expiry("next tuesday")
    with pytest.raises(KeyError_, match="no active key"):
        await revoke_key(store, "nobody", now=NOW)


def test_an_expiry_date_means_midnight_utc_and_a_time_keeps_its_offset() -> None:
    assert parse_expiry("2027-01-01") == 1798761600.0
    assert parse_expiry("2027-01-01T02:00:00+02:00") == 1798761600.0


async def test_usage_adds_up_across_flushes_and_lists_today_and_in_total(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path)
    await add_key(store, "alice", now=NOW, tpm=1000)
    yesterday = NOW - 86400
    await store.add_usage({"alice": UsageDelta(2, 10, 20, yesterday)}, yesterday)
    await store.add_usage({"alice": UsageDelta(1, 5, 7, NOW)}, NOW)
    second = FileKeyStore(tmp_path)  # another process (a worker, the CLI) sees the same
    await second.add_usage({"alice": UsageDelta(1, 1, 1, NOW + 1)}, NOW + 1)
    rows = await key_rows(store, now=NOW + 2)
    assert len(rows) == 1
    row = rows[0]
    assert "digest" not in row
    assert row["state"] == "active"
    assert row["usage"] == {
        "requests": 4,
        "input_tokens": 16,
        "output_tokens": 28,
        "today_requests": 2,
        "today_input_tokens": 6,
        "today_output_tokens": 8,
        "last_used_at": NOW + 1,
    }
    await store.close()
    await second.close()


async def test_an_expired_key_lists_as_expired(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path)
    await add_key(store, "temp", now=NOW, expires_at=NOW + 10)
    assert (await key_rows(store, now=NOW + 11))[0]["state"] == "expired"


async def test_a_damaged_keys_file_is_an_error_not_an_empty_list(tmp_path: Path) -> None:
    (tmp_path / "keys.json").write_text("{not json")
    registry = KeyRegistry(FileKeyStore(tmp_path))
    with pytest.raises(KeyError_, match="not a keys file"):
        await registry.refresh()
    assert not registry.loaded
