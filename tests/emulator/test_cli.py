from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from qwen_proxy.emulator.cli import add_arguments, config_from_args

pytestmark = pytest.mark.e2e


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_flags_become_the_config(tmp_path: Path) -> None:
    config = config_from_args(
        parse("--port", "0", "--seed", "5", "--accounts", "3", "--no-fragment", "--ttfb", "0.1")
    )
    assert [a.email for a in config.accounts][:1] == ["demo@example.com"]
    assert len(config.accounts) == 3
    assert (config.seed, config.fragment, config.ttfb) == (5, False, 0.1)
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps([{"email": "x@y.z", "password": "pw"}]))
    listed = config_from_args(parse("--accounts-file", str(accounts), "--fault", "capacity"))
    assert [a.email for a in listed.accounts] == ["x@y.z"]
    assert listed.faults == ["capacity"]


def test_the_era_is_todays_unless_the_older_one_is_asked_for() -> None:
    today = config_from_args(parse())
    older = config_from_args(
        parse("--auth-era", "2026-06", "--access-token-ttl", "5", "--max-request-body", "999")
    )

    assert today.auth_era == "2026-10"
    assert today.access_token_ttl == 15 * 60
    assert (older.auth_era, older.access_token_ttl, older.max_request_body) == ("2026-06", 5, 999)
    with pytest.raises(SystemExit):
        parse("--auth-era", "2025-01")


def test_python_m_prints_the_url_and_a_working_sample_token() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "qwen_proxy.emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        account = process.stdout.readline()
        token = process.stdout.readline().split()[-1]
        assert "demo@example.com" in account
        me = httpx.get(url + "/api/v1/auths/", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["email"] == "demo@example.com"
    finally:
        process.terminate()
        process.wait(5)
