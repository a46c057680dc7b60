"""Codex CLI end to end: the real CLI, with a provider on the gateway's Responses face, makes a
tool round trip: a shell command, and a patch through its free-form ``apply_patch`` tool.

Codex is installed from npm by the test setup into a cache kept between runs (about 420 MB the
first time). Its ``config.toml`` names the gateway as a provider with ``wire_api =
"responses"``; a model catalog gives the model the free-form ``apply_patch`` (Codex offers it as
a ``custom`` tool). The emulator's model makes the call, Codex runs it in the project and sends
the output back; the gateway must hand Codex items it can run and continue the same chat.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from agents_support import last_text, npm_agent, upstream_turns
from gateway_support import MODEL
from qwen_proxy.emulator.testing import EmulatorHandle
from qwen_proxy.server.run import BackgroundGateway

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VERSION = "0.171.0"
PATCH = "*** Begin Patch\n*** Add File: greeting.txt\n+hello from the patch\n*** End Patch\n"


@pytest.fixture(scope="session")
def codex() -> Path:
    """The ``codex`` binary, installed from npm on first use."""
    return npm_agent("@openai/codex", VERSION, "codex")


def codex_home(home: Path, gateway_url: str) -> Path:
    """A Codex home whose config names the gateway, and whose catalog knows the model."""
    config_dir = home / ".codex"
    config_dir.mkdir(parents=True)
    model = {
        "slug": MODEL,
        "display_name": MODEL,
        "description": "Qwen through qwen-proxy",
        "supported_reasoning_levels": [{"effort": "medium", "description": "medium"}],
        "shell_type": "default",
        "visibility": "list",
        "supported_in_api": True,
        "priority": 1,
        "upgrade": None,
        "base_instructions": "You are Codex, a coding agent.",
        "supports_reasoning_summaries": False,
        "support_verbosity": False,
        "default_verbosity": None,
        "apply_patch_tool_type": "freeform",
        "truncation_policy": {"mode": "bytes", "limit": 10000},
        "supports_parallel_tool_calls": True,
        "context_window": 128000,
        "experimental_supported_tools": [],
    }
    catalog = config_dir / "catalog.json"
    catalog.write_text(json.dumps({"models": [model]}))
    (config_dir / "config.toml").write_text(
        f'model = "{MODEL}"\n'
        'model_provider = "qwenproxy"\n'
        f'model_catalog_json = "{catalog}"\n\n'
        "[model_providers.qwenproxy]\n"
        'name = "qwen-proxy"\n'
        f'base_url = "{gateway_url}/v1"\n'
        'env_key = "QWEN_PROXY_KEY"\n'
        'wire_api = "responses"\n'
    )
    return home


def run_codex(codex: Path, project: Path, home: Path, ask: str) -> str:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "QWEN_PROXY_KEY": "test"}
    run = subprocess.run(
        [str(codex), "exec", "--skip-git-repo-check", "-s", "workspace-write", ask],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-2000:]
    return run.stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "notes.txt").write_text("hello from the project\n")
    return root


@pytest.mark.timeout(1200)  # the first run installs Codex from npm
def test_codex_applies_the_patch_the_model_wrote_and_the_chat_goes_on(
    codex: Path,
    gateway: BackgroundGateway,
    emulator: EmulatorHandle,
    project: Path,
    tmp_path: Path,
) -> None:
    home = codex_home(tmp_path / "home", gateway.url)
    out = run_codex(codex, project, home, "call apply_patch " + json.dumps({"input": PATCH}))
    assert (project / "greeting.txt").read_text() == "hello from the patch\n"
    answer = out.strip().splitlines()[-1]
    assert answer.startswith("Result of apply_patch (call_")
    call_id = answer.removeprefix("Result of apply_patch (").split(")")[0]

    turns = upstream_turns(emulator)
    asked = next(t for t in turns if "# Tools" in last_text(t))
    assert "### apply_patch" in last_text(asked)
    answered = turns[-1]
    assert answered["chat_id"] == asked["chat_id"]
    assert last_text(answered).startswith(f'<qp:result id="{call_id}" name="apply_patch">')


@pytest.mark.timeout(1200)
def test_codex_runs_the_command_the_model_called(
    codex: Path,
    gateway: BackgroundGateway,
    emulator: EmulatorHandle,
    project: Path,
    tmp_path: Path,
) -> None:
    home = codex_home(tmp_path / "home", gateway.url)
    out = run_codex(codex, project, home, 'call exec_command {"cmd": "cat notes.txt"}')
    assert out.strip().splitlines()[-1].startswith("Result of exec_command (call_")
    turns = upstream_turns(emulator)
    answered = turns[-1]
    assert answered["chat_id"] == turns[0]["chat_id"]
    assert "hello from the project" in last_text(answered)
