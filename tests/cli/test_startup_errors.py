"""What a user sees when the gateway cannot start: one line saying what to do, no traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_support import qwen_proxy as run_cli

pytestmark = pytest.mark.e2e


def qwen_proxy(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(data_dir, *args)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def assert_one_clean_line(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_a_busy_port_is_said_before_listening_and_names_the_flag(
    busy_port: int, tmp_path: Path
) -> None:
    result = qwen_proxy("serve", "--port", str(busy_port), data_dir=tmp_path)
    assert result.returncode == 1
    assert_one_clean_line(result, f"port {busy_port}", "already in use", "--port")
    assert "listening" not in result.stderr
    assert "startup complete" not in result.stderr


def test_the_demo_on_a_busy_port_prints_no_examples_and_suggests_another(
    busy_port: int, tmp_path: Path
) -> None:
    result = qwen_proxy("demo", "--port", str(busy_port), data_dir=tmp_path)
    assert result.returncode == 1
    assert_one_clean_line(result, "already in use", f"--port {busy_port + 1}")
    assert "Try it" not in result.stdout


def test_an_unusable_data_directory_is_a_message(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = qwen_proxy("serve", "--port", "0", data_dir=blocker / "data")
    assert result.returncode == 1
    assert_one_clean_line(result, "cannot create the data directory", "--data-dir")


@pytest.mark.parametrize("workers", ["0", "-2", "many"])
def test_workers_below_one_are_refused(workers: str, tmp_path: Path) -> None:
    result = qwen_proxy("serve", "--workers", workers, data_dir=tmp_path)
    assert result.returncode == 2
    assert_one_clean_line(result, "--workers")


def test_an_unknown_log_level_names_the_choices(tmp_path: Path) -> None:
    result = qwen_proxy("serve", "--log-level", "loud", data_dir=tmp_path)
    assert result.returncode == 2
    assert_one_clean_line(result, "debug, info, warning, error", "'loud'")


def test_help_loads_neither_the_server_nor_the_emulator() -> None:
    probe = (
        "import sys\n"
        "from qwen_proxy.cli.main import build_parser\n"
        "build_parser().format_help()\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('aiohttp', 'uvicorn')]\n"
        "print(','.join(sorted(heavy)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
