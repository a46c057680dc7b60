"""``qwen-proxy sessions`` run as a real command against a store a gateway wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest

from gateway_support import MODEL, running_gateway, session_settings

pytestmark = pytest.mark.e2e


def sessions(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QWEN_PROXY_DATA_DIR": str(data_dir), "QWEN_PROXY_STORE": "sqlite"}
    return subprocess.run(
        [sys.executable, "-m", "qwen_proxy", "sessions", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


@pytest.mark.slow
def test_sessions_list_show_and_purge(emulator: Any, tmp_path: Path) -> None:
    settings = session_settings(emulator, tmp_path, store="sqlite")
    with running_gateway(settings) as gateway:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
        history: list[dict[str, Any]] = [{"role": "user", "content": "My name is Ada."}]
        for question in ("What is my name?", "How many turns?"):
            reply = client.chat.completions.create(model=MODEL, messages=history)  # type: ignore[arg-type]
            history += [
                {"role": "assistant", "content": reply.choices[0].message.content},
                {"role": "user", "content": question},
            ]

    listed = sessions(tmp_path, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert len(rows) == 1
    assert rows[0]["nodes"] == 2
    assert rows[0]["model"] == MODEL
    chat_id = rows[0]["chat_id"]

    shown = sessions(tmp_path, "show", chat_id)
    assert shown.returncode == 0
    assert chat_id in shown.stdout
    assert shown.stdout.count("continue from") == 2

    purged = sessions(tmp_path, "purge", "--all")
    assert "forgot 2" in purged.stdout
    assert json.loads(sessions(tmp_path, "list", "--json").stdout) == []
    assert emulator.token not in listed.stdout + shown.stdout + purged.stdout
