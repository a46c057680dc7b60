"""A real coding agent end to end: opencode, pointed at the gateway, makes one tool round trip.

opencode is installed from npm by the test setup into a cache kept between runs (about 350 MB,
a minute the first time). Its model answers through the emulator: it calls opencode's ``read``
tool, opencode runs it on a file of the test's project and sends the result back, and the model
quotes the result. The gateway must hand opencode a call it can run, and continue the same
upstream chat for the result.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gateway_support import MODEL
from qwen_proxy.emulator.testing import EmulatorHandle
from qwen_proxy.server.run import BackgroundGateway

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VERSION = "1.18.33"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qwen-proxy-tests"


@pytest.fixture(scope="session")
def opencode() -> Path:
    """The opencode binary, installed from npm on first use."""
    home = CACHE / f"opencode-{VERSION}"
    binary = home / "node_modules" / ".bin" / "opencode"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed: cannot install opencode")
        home.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--silent", "--prefix", str(home), f"opencode-ai@{VERSION}"],
            check=True,
            timeout=900,
        )
    return binary


def project(root: Path, gateway_url: str) -> Path:
    """A project whose opencode config names the gateway as an OpenAI-compatible provider."""
    root.mkdir()
    (root / "example").write_text("hello from the project\nsecond line\n")
    config = {
        "$schema": "https://opencode.ai/config.json",
        "provider": {
            "qwenproxy": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "qwen-proxy",
                "options": {"baseURL": gateway_url + "/v1", "apiKey": "test"},
                "models": {MODEL: {"name": "Qwen through qwen-proxy", "tool_call": True}},
            }
        },
        "model": f"qwenproxy/{MODEL}",
        "autoupdate": False,
        "share": "disabled",
    }
    (root / "opencode.json").write_text(json.dumps(config))
    return root


def events(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


@pytest.mark.timeout(1200)  # the first run installs opencode from npm
def test_opencode_runs_a_tool_the_model_called_and_gets_the_answer(
    opencode: Path, gateway: BackgroundGateway, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    root = project(tmp_path / "project", gateway.url)
    home = tmp_path / "home"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "NO_COLOR": "1"}
    run = subprocess.run(
        [str(opencode), "run", "--format", "json", "call read"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    seen = events(run.stdout)
    tools = [e["part"] for e in seen if e["type"] == "tool_use"]
    assert [(t["tool"], t["state"]["status"]) for t in tools] == [("read", "completed")]
    call_id = tools[0]["callID"]
    assert call_id.startswith("call_")
    assert "hello from the project" in tools[0]["state"]["output"]
    texts = [e["part"]["text"] for e in seen if e["type"] == "text"]
    # the model's answer quotes the first line of what opencode's read returned
    assert texts[-1].startswith(f"Result of read ({call_id}): ")
    # the result went to the chat the call came from, alone with the reminder
    turns = [r.json for r in emulator.requests("/chat/completions")]
    asked = next(t for t in turns if "# Tools" in t["messages"][-1]["content"])
    answered = turns[-1]
    assert answered["chat_id"] == asked["chat_id"]
    assert answered["parent_id"] is not None
    sent = answered["messages"][-1]["content"]
    assert sent.startswith(f'<qp:result id="{call_id}" name="read">')
    assert "hello from the project" in sent
