"""The installation secret that keys tenant names: made once, kept owner-only, shared by Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_proxy.conversations.tenants import SECRET_FILE, load_secret

pytestmark = pytest.mark.unit


def test_the_secret_is_made_once_and_read_back_the_same(tmp_path: Path) -> None:
    first = load_secret(tmp_path)
    assert load_secret(tmp_path) == first
    assert len(first) >= 32
    assert oct((tmp_path / SECRET_FILE).stat().st_mode & 0o777) == "0o600"


def test_a_damaged_secret_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE).write_bytes(b"short")
    with pytest.raises(ValueError, match="delete it"):
        load_secret(tmp_path)
