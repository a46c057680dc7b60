"""``qwen-proxy accounts`` run as a real command, alone and beside a running gateway."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

import qwen_proxy.service.gateway
from cli_support import accounts
from gateway_support import MODEL, gateway_settings, running_gateway
from qwen_proxy.accounts import load_accounts
from qwen_proxy.emulator.config import Account, EmulatorConfig
from qwen_proxy.emulator.testing import EmulatorHandle, running_emulator

pytestmark = pytest.mark.e2e

ADMIN_KEY = "cli-admin-key"
PASSWORD = "pw-cli-s3cret"
VERIFY_URL = "https://chat.qwen.ai/punish?x5secdata=emulator"


@pytest.fixture
def emulator2() -> Iterator[EmulatorHandle]:
    config = EmulatorConfig(
        accounts=[Account("a@example.com", PASSWORD), Account("b@example.com", PASSWORD)],
        auth_era="2026-06",
    )
    with running_emulator(config) as handle:
        yield handle


@pytest.mark.slow
def test_add_list_remove_without_secrets_on_screen(
    emulator2: EmulatorHandle, tmp_path: Path
) -> None:
    token = emulator2.account("a@example.com").token
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")

    added = accounts(
        tmp_path,
        *("add", "--name", "a", "--token", "-", "--email", "a@example.com"),
        *("--password-file", str(password_file)),
        stdin=token + "\n",
    )
    listed = accounts(tmp_path, "list")
    as_json = json.loads(accounts(tmp_path, "list", "--json").stdout)
    removed = accounts(tmp_path, "remove", "a")
    missing = accounts(tmp_path, "remove", "a")

    assert added.returncode == 0, added.stderr
    assert "token valid until" in added.stdout
    assert "a***@example.com" in listed.stdout
    assert as_json[0]["name"] == "a"
    assert as_json[0]["can_sign_in"] is True
    assert as_json[0]["expires_at"] > 0
    for output in (added, listed):
        assert token not in output.stdout + output.stderr
        assert PASSWORD not in output.stdout + output.stderr
    assert removed.returncode == 0
    assert missing.returncode == 1
    assert stat.S_IMODE((tmp_path / "accounts.json").stat().st_mode) == 0o600


def test_check_reports_valid_expired_and_captcha(emulator2: EmulatorHandle, tmp_path: Path) -> None:
    for name in ("a", "b"):
        token = emulator2.account(f"{name}@example.com").token
        accounts(tmp_path, "add", "--name", name, "--token", "-", stdin=token)
    emulator2.expire_token("a@example.com")
    emulator2.set_fault("waf_json", account="b@example.com", route="auth_verify")

    checked = accounts(tmp_path, "check", "--upstream-url", emulator2.url)

    assert checked.returncode == 1
    lines = checked.stdout.splitlines()
    assert lines[0].split()[:2] == ["a", "expired"]
    assert lines[1].split()[:2] == ["b", "captcha"]
    assert VERIFY_URL in checked.stdout


def test_import_cookies_returns_a_quarantined_account_to_a_running_gateway(
    emulator2: EmulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qwen_proxy.service.gateway, "ACCOUNTS_POLL_INTERVAL", 0.05)
    token = emulator2.account("a@example.com").token
    accounts(tmp_path, "add", "--name", "a", "--token", "-", stdin=token)
    fault = emulator2.set_fault("waf_json", account="a@example.com")
    settings = gateway_settings(emulator2.url, None, tmp_path, admin_key=ADMIN_KEY)
    with running_gateway(settings) as gateway:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "echo: hi"}]
            )
        live = ["--gateway", gateway.url]
        before = accounts(tmp_path, "list", *live, QWEN_PROXY_ADMIN_KEY=ADMIN_KEY)
        emulator2.clear_fault(fault)
        cookie_file = tmp_path / "cookies.txt"
        cookie_file.write_text(f"token={token}; cna=fresh-browser-cookie")
        imported = accounts(tmp_path, "import-cookies", "a", "--file", str(cookie_file))
        after = ""
        for _ in range(100):  # the gateway polls the file every 50 ms here
            after = accounts(
                tmp_path, "list", "--json", *live, QWEN_PROXY_ADMIN_KEY=ADMIN_KEY
            ).stdout
            if json.loads(after)[0]["state"] == "active":
                break
        reply = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "echo: back"}]
        )

    assert "quarantined" in before.stdout
    assert VERIFY_URL in before.stdout
    assert imported.returncode == 0, imported.stderr
    assert json.loads(after)[0]["state"] == "active"
    assert reply.choices[0].message.content == "back"
    assert "fresh-browser-cookie" in (load_accounts(tmp_path / "accounts.json")[0].cookies or "")
    assert "fresh-browser-cookie" not in before.stdout + after + imported.stdout


def test_a_token_that_is_not_a_jwt_is_saved_with_a_warning(tmp_path: Path) -> None:
    result = accounts(tmp_path, "add", "--name", "typo", "--token", "notajwt")
    assert result.returncode == 0
    assert "added account typo" in result.stdout
    assert "warning: the token is not a JWT" in result.stderr
    assert "notajwt" not in result.stderr  # the warning names no secret


def test_cookies_that_replace_the_token_say_so(tmp_path: Path) -> None:
    accounts(tmp_path, "add", "--name", "main", "--token", "old-token")
    result = accounts(tmp_path, "import-cookies", "main", "-", stdin="token=new-token; other=1")
    assert result.returncode == 0, result.stderr
    assert "replaces the token stored for main" in result.stderr


def test_list_shows_the_account_of_qwen_proxy_token_with_the_fix_for_its_expiry(
    emulator2: EmulatorHandle, tmp_path: Path
) -> None:
    expired = emulator2.mint_token("a@example.com", exp=1_700_000_000)
    empty = accounts(tmp_path, "list")
    listed = accounts(tmp_path, "list", QWEN_PROXY_TOKEN=expired)
    rows = json.loads(accounts(tmp_path, "list", "--json", QWEN_PROXY_TOKEN=expired).stdout)

    assert "no accounts in" in empty.stdout
    assert "QWEN_PROXY_TOKEN is not set" in empty.stdout
    assert "no accounts" not in listed.stdout
    assert [(row["name"], row["state"]) for row in rows] == [("env", "expired")]
    assert "set a fresh QWEN_PROXY_TOKEN" in listed.stdout
    assert expired not in listed.stdout + listed.stderr


def test_list_from_a_gateway_that_does_not_answer_says_so(tmp_path: Path) -> None:
    result = accounts(
        tmp_path,
        "list",
        "--gateway",
        "http://127.0.0.1:9",
        QWEN_PROXY_ADMIN_KEY="admin",
    )
    assert result.returncode == 0
    assert "could not read http://127.0.0.1:9/admin/accounts" in result.stderr
    assert "showing what" in result.stderr
