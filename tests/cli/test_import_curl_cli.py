"""``qwen-proxy accounts import-curl NAME [FILE]`` run as a real command, as a user pastes."""

from __future__ import annotations

import stat
from pathlib import Path

import openai
import pytest

from cli_support import accounts
from gateway_support import MODEL, gateway_settings, running_gateway
from qwen_proxy.accounts import load_accounts
from qwen_proxy.emulator.testing import EmulatorHandle
from session_support import EXPECTED, FIXTURES, adopted_copy, copy_text

pytestmark = pytest.mark.e2e

EMAIL = "demo@example.com"
PASSWORD = "pw-import-s3cret"


def secrets_of(browser: str) -> list[str]:
    expected = EXPECTED[browser]
    cookie_values = [pair.split("=", 1)[1] for pair in expected["cookies"].split("; ")]
    secrets = [expected["token"], expected["bx_ua"], expected["bx_umidtoken"], *cookie_values]
    return [secret for secret in secrets if len(secret) >= 8]  # not "xlly_s=1"


def test_pasting_a_chrome_copy_adds_a_browser_session_without_a_secret_on_screen(
    tmp_path: Path,
) -> None:
    added = accounts(tmp_path, "import-curl", "main", str(FIXTURES / "chrome_bash.txt"))

    assert added.returncode == 0, added.stderr
    shown = added.stdout + added.stderr
    assert "found in a request from Chrome to chat.qwen.ai" in shown
    assert f"eyJh... ({len(EXPECTED['chrome']['token'])} chars)" in shown
    assert "231!... (1500 chars)" in shown
    assert "cna, _bl_uid, cnaui" in shown
    assert "(not in the copy; 0.2.68 is sent)" in shown  # Chrome leaves "version" out
    assert '"Chromium";v="142"' in shown
    assert "added account main" in shown
    for secret in secrets_of("chrome"):
        assert secret not in shown
    (account,) = load_accounts(tmp_path / "accounts.json")
    assert account.is_browser_session
    assert account.cookies == EXPECTED["chrome"]["cookies"]
    assert account.browser is not None
    assert account.browser.bx_umidtoken == EXPECTED["chrome"]["bx_umidtoken"]
    assert stat.S_IMODE((tmp_path / "accounts.json").stat().st_mode) == 0o600


def test_a_firefox_copy_for_windows_can_be_pasted_on_stdin(tmp_path: Path) -> None:
    added = accounts(tmp_path, "import-curl", "fx", stdin=copy_text("firefox_cmd"))

    assert added.returncode == 0, added.stderr
    assert "found in a request from Firefox to chat.qwen.ai" in added.stdout
    assert "version             0.3.11" in added.stdout
    (account,) = load_accounts(tmp_path / "accounts.json")
    assert account.token == EXPECTED["firefox"]["token"]
    assert account.sec_ch_ua is None


def test_a_new_browser_session_keeps_the_accounts_sign_in_data(tmp_path: Path) -> None:
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD)
    accounts(
        tmp_path,
        *("add", "--name", "main", "--token", "old-token", "--email", EMAIL),
        *("--password-file", str(password_file)),
    )

    renewed = accounts(tmp_path, "import-curl", "main", "-", stdin=copy_text("chrome_cmd"))

    assert renewed.returncode == 0, renewed.stderr
    assert "new browser session" in renewed.stdout
    (account,) = load_accounts(tmp_path / "accounts.json")
    assert (account.email, account.password) == (EMAIL, PASSWORD)
    assert account.token == EXPECTED["chrome"]["token"]
    assert PASSWORD not in renewed.stdout + renewed.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("curl 'https://example.com/api' -b 'token=eyJsecret.x.y'", "not to chat.qwen.ai"),
        ("curl 'https://chat.qwen.ai/api/v2/chats/new' -b 'cna=1'", "carries no token"),
        ("Cookie: token=eyJsecret.x.y", "not a curl command"),
        ("   ", "nothing was pasted"),
    ],
)
def test_a_paste_that_is_no_account_is_refused_and_nothing_is_saved(
    tmp_path: Path, text: str, message: str
) -> None:
    refused = accounts(tmp_path, "import-curl", "main", stdin=text)

    assert refused.returncode == 2
    assert message in refused.stderr
    assert "eyJsecret" not in refused.stdout + refused.stderr
    assert not (tmp_path / "accounts.json").exists()


@pytest.mark.slow
def test_an_imported_copy_serves_a_conversation_against_todays_upstream(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    text = adopted_copy(emulator_now, "chrome_cmd", EMAIL)
    upstream = {"QWEN_PROXY_UPSTREAM_URL": emulator_now.url}

    added = accounts(tmp_path, "import-curl", "main", stdin=text, **upstream)
    settings = gateway_settings(emulator_now.url, None, tmp_path)
    with running_gateway(settings) as gateway:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
        first = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "My name is Ada."}]
        )
        second = client.chat.completions.create(
            model=MODEL,
            messages=[
                {"role": "user", "content": "My name is Ada."},
                {"role": "assistant", "content": first.choices[0].message.content or ""},
                {"role": "user", "content": "What is my name?"},
            ],
        )

    assert added.returncode == 0, added.stderr
    assert "Ada" in (second.choices[0].message.content or "")
    writes = emulator_now.requests("/chat/completions")
    assert len(writes) == 2
    assert all(r.headers["bx-ua"] == EXPECTED["chrome"]["bx_ua"] for r in writes)
    assert writes[-1].json["chatId"] == writes[-1].query["chat_id"]
