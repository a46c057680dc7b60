"""Helpers (no tests): the ``qwen-proxy`` command run as a user runs it, in a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def qwen_proxy(
    data_dir: Path, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """``qwen-proxy ARGS`` with no QWEN_PROXY_* variable but the data directory and ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_PROXY_")}
    return subprocess.run(
        [sys.executable, "-m", "qwen_proxy", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        env={**clean, "QWEN_PROXY_DATA_DIR": str(data_dir), **env},
    )


def accounts(
    data_dir: Path, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """``qwen-proxy accounts ARGS``."""
    return qwen_proxy(data_dir, "accounts", *args, stdin=stdin, **env)
