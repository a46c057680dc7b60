"""Helpers (no tests): real coding agents installed from npm for the end-to-end tests, into a
cache kept between runs, and the emulator's record of what reached it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from qwen_proxy.emulator.testing import EmulatorHandle

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qwen-proxy-tests"


def npm_agent(package: str, version: str, binary: str) -> Path:
    """``binary`` of the npm ``package`` at ``version``, installed on first use (skipped
    without npm)."""
    home = CACHE / f"{package.replace('/', '+')}-{version}"
    path = home / "node_modules" / ".bin" / binary
    if not path.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip(f"npm is not installed: cannot install {package}")
        home.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--silent", "--prefix", str(home), f"{package}@{version}"],
            check=True,
            timeout=900,
        )
    return path


def upstream_turns(emulator: EmulatorHandle) -> list[dict[str, Any]]:
    """The completion bodies the emulator received, oldest first."""
    return [r.json for r in emulator.requests("/chat/completions") if r.method == "POST"]


def last_text(body: dict[str, Any]) -> str:
    """The text of a completion body's (last) message."""
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]
