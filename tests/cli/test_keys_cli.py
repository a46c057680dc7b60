"""``qwen-proxy keys`` and ``sessions purge --upstream`` run as real commands."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway_support import MODEL, running_gateway, session_settings

pytestmark = pytest.mark.e2e


def command(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_PROXY_")}
    return subprocess.run(
        [sys.executable, "-m", "qwen_proxy", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**clean, "QWEN_PROXY_DATA_DIR": str(data_dir), **env},
    )


def test_keys_add_prints_only_the_key_and_list_never_shows_it(tmp_path: Path) -> None:
    added = command(
        tmp_path, "keys", "add", "alice", "--rpm", "60", "--tpm", "10000", "--models", MODEL
    )
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip()
    assert added.stdout == key + "\n"  # KEY=$(qwen-proxy keys add alice) gets just the key
    assert key.startswith("sk-qp-")
    assert "alice" in added.stderr
    assert stat.S_IMODE(os.stat(tmp_path / "keys.json").st_mode) == 0o600
    listed = command(tmp_path, "keys", "list")
    assert "alice" in listed.stdout
    assert "rpm 60" in listed.stdout
    assert key not in listed.stdout + listed.stderr
    rows = json.loads(command(tmp_path, "keys", "list", "--json").stdout)
    assert rows[0]["name"] == "alice"
    assert rows[0]["models"] == [MODEL]
    assert key not in json.dumps(rows)
    again = command(tmp_path, "keys", "add", "alice")
    assert again.returncode == 1
    assert again.stdout == ""
    assert "exists" in again.stderr
    assert command(tmp_path, "keys", "revoke", "alice").returncode == 0
    assert json.loads(command(tmp_path, "keys", "list", "--json").stdout)[0]["state"] == "revoked"
    assert command(tmp_path, "keys", "revoke", "alice").returncode == 1


def test_a_running_gateway_follows_keys_added_and_revoked_by_the_cli(
    emulator: Any, tmp_path: Path
) -> None:
    settings = session_settings(emulator, tmp_path, api_keys=("k-env",))
    with running_gateway(settings) as gateway:
        key = command(tmp_path, "keys", "add", "bob").stdout.strip()
        headers = {"Authorization": f"Bearer {key}"}
        deadline = time.monotonic() + 2.0
        while httpx.get(gateway.url + "/v1/models", headers=headers).status_code != 200:
            assert time.monotonic() < deadline, "the gateway did not follow within 2 s"
            time.sleep(0.05)
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
        reply = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "echo: hi"}]
        )
        assert reply.choices[0].message.content == "hi"
        command(tmp_path, "keys", "revoke", "bob")
        deadline = time.monotonic() + 2.0
        while httpx.get(gateway.url + "/v1/models", headers=headers).status_code != 401:
            assert time.monotonic() < deadline, "the gateway did not follow within 2 s"
            time.sleep(0.05)


@pytest.mark.slow
def test_sessions_purge_upstream_deletes_the_forgotten_chats(emulator: Any, tmp_path: Path) -> None:
    settings = session_settings(emulator, tmp_path, store="sqlite")
    with running_gateway(settings) as gateway:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
        for text in ("first conversation", "second conversation"):
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": text}]
            )
    made = {chat["id"] for chat in emulator.chats()}
    assert len(made) == 2
    env = {
        "QWEN_PROXY_STORE": "sqlite",
        "QWEN_PROXY_UPSTREAM_URL": emulator.url,
        "QWEN_PROXY_TOKEN": emulator.token,
        "QWEN_PROXY_CLEANUP_PACE": "0",
    }
    kept = command(tmp_path, "sessions", "purge", "--older-than", "3600", "--upstream", **env)
    assert kept.returncode == 0, kept.stderr
    assert "deleted 0 upstream chat(s)" in kept.stdout
    purged = command(tmp_path, "sessions", "purge", "--all", "--upstream", **env)
    assert purged.returncode == 0, purged.stderr
    assert "deleted 2 upstream chat(s)" in purged.stdout
    assert {d["chat_id"] for d in emulator.deletions()} == made
    assert emulator.chats() == []
