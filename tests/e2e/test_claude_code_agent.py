"""Claude Code end to end: the real CLI, pointed at the gateway's Anthropic face, makes one tool
round trip.

Claude Code is installed from npm by the test setup into a cache kept between runs (about
400 MB the first time). In print mode it sends its own system prompt, tools and betas; the
emulator's model calls its ``Read`` tool, Claude Code reads the file and sends the result back
as a ``tool_result``, and the model quotes it. The gateway must hand Claude Code a ``tool_use``
block it can run, and continue the same upstream chat for the result.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from agents_support import last_text, npm_agent, upstream_turns
from qwen_proxy.emulator.testing import EmulatorHandle
from qwen_proxy.server.run import BackgroundGateway

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VERSION = "2.1.332"


@pytest.fixture(scope="session")
def claude_code() -> Path:
    """The ``claude`` binary, installed from npm on first use."""
    return npm_agent("@anthropic-ai/claude-code", VERSION, "claude")


@pytest.mark.timeout(1200)  # the first run installs Claude Code from npm
def test_claude_code_runs_the_read_the_model_called_and_gets_the_answer(
    claude_code: Path, gateway: BackgroundGateway, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    notes = project / "notes.txt"
    notes.write_text("hello from the project\nsecond line\n")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path / "home"),
        "ANTHROPIC_BASE_URL": gateway.url,
        "ANTHROPIC_AUTH_TOKEN": "test",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    ask = "call Read " + json.dumps({"file_path": str(notes)})
    run = subprocess.run(
        [str(claude_code), "-p", ask, "--model", "claude-sonnet-4-5"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-2000:]
    answer = run.stdout.strip().splitlines()[-1]
    # the model quotes the first line of what Claude Code's Read returned (cat -n style)
    assert answer.startswith("Result of Read (toolu_")
    assert answer.endswith("hello from the project")
    call_id = answer.removeprefix("Result of Read (").split(")")[0]

    turns = upstream_turns(emulator)
    asked = next(t for t in turns if "# Tools" in last_text(t))
    assert "### Read" in last_text(asked)  # Claude Code's own tools reached the model
    answered = turns[-1]
    assert answered["chat_id"] == asked["chat_id"]
    assert answered["parent_id"] is not None
    sent = last_text(answered)
    assert sent.startswith(f'<qp:result id="{call_id}" name="Read">')
    assert "hello from the project" in sent
