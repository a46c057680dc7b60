"""The agent corpus benchmark still runs, and every turn of its quick pass comes out as meant,
through every face."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "tool_corpus.py"


def test_agent_requests_get_their_calls_as_meant(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(BENCH.parent))  # its sibling modules
    spec = importlib.util.spec_from_file_location("tool_corpus", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["tool_corpus"] = module
    spec.loader.exec_module(module)
    assert module.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "turns as intended: 134 of 134" in out
    # Claude Code through the Anthropic face, Codex through the Responses face
    for agent in ("claude-code", "codex", "codex-local"):
        assert f"{agent}: continued turns in the same chat 12 of 12" in out
