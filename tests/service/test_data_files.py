"""Everything the gateway writes in its data directory is readable by its owner only."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_support import MODEL, running_gateway, session_settings

pytestmark = pytest.mark.integration


def test_every_file_in_the_data_directory_is_owner_only(emulator: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = session_settings(emulator, data, store="sqlite")
    with running_gateway(settings) as gateway:
        chat = {"model": MODEL, "messages": [{"role": "user", "content": "my name is Ada"}]}
        assert httpx.post(gateway.url + "/v1/chat/completions", json=chat).status_code == 200
        response = {"model": MODEL, "input": "my name is Ada"}
        assert httpx.post(gateway.url + "/v1/responses", json=response).status_code == 200
    files = [path for path in data.rglob("*") if path.is_file()]
    modes = {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in files}
    assert any(name.startswith("conversations.sqlite3") for name in modes), modes
    assert {mode for mode in modes.values()} == {"0o600"}, modes
