"""``qwen-proxy demo``: the examples it prints work exactly as printed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def demo_output() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "qwen_proxy", "demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.strip() == "PY":
                break
        # the gateway is up once /health answers
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        yield "".join(lines)
    finally:
        process.terminate()
        process.wait(timeout=10)


def block(output: str, start: str, end: str) -> str:
    text = output[output.index(start) :]
    return textwrap.dedent(text[: text.index(end) + len(end)])


def test_printed_curl_line_streams_a_reply(demo_output: str) -> None:
    command = block(demo_output, "  curl", "}]}'")
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "chat.completion.chunk" in result.stdout
    assert result.stdout.rstrip().endswith("data: [DONE]")


def test_printed_python_snippet_streams_a_reply(demo_output: str) -> None:
    snippet = block(demo_output, f"  {sys.executable} - <<'PY'", "\n  PY")
    result = subprocess.run(["bash", "-c", snippet], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Hello! This is turn 1."


def test_self_test_prints_a_streamed_reply() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "qwen_proxy", "demo", "--self-test"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Hello! This is turn 1."
