"""What the operator sees of accounts on a running gateway: memory and tools switched off once
per browser session, a session that ended, and an expired QWEN_PROXY_TOKEN told right."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from accounts_support import ADMIN_KEY, admin, pooled_gateway, states
from gateway_support import (
    MODEL,
    browser_session,
    gateway_settings,
    running_gateway,
    write_session,
)
from qwen_proxy.accounts import save_accounts
from qwen_proxy.emulator.testing import EmulatorHandle
from session_support import adopted_copy

pytestmark = pytest.mark.integration

EMAIL = "demo@example.com"
SETTINGS = "/users/user/settings/update"


def ask(url: str, text: str) -> httpx.Response:
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}]}
    return httpx.post(url + "/v1/chat/completions", json=body, timeout=30)


def test_memory_and_tools_are_off_before_the_first_request_and_switched_off_once(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    write_session(emulator, tmp_path)
    with pooled_gateway(emulator, tmp_path) as gateway:
        before = states(gateway)["main"]["memory"]
        answers = [ask(gateway.url, f"echo: {i}").status_code for i in range(3)]
        after = states(gateway)["main"]
        switched = len(emulator.requests(SETTINGS))
        # a new browser session (after a captcha, say) is switched off again
        admin(
            gateway,
            "POST",
            "/admin/accounts",
            json={"name": "main", "curl": adopted_copy(emulator, "chrome_bash", EMAIL)},
        )
        ask(gateway.url, "echo: new session")
        again = len(emulator.requests(SETTINGS))
    settings = emulator.settings(EMAIL)

    assert (before, after["memory"], after["memory_message"]) == ("pending", "off", None)
    assert answers == [200, 200, 200]
    assert (switched, again) == (1, 2)
    assert settings["memory"] == {"enable_memory": False, "enable_history_memory": False}
    assert not any(settings["tools_enabled"].values())


def test_an_account_whose_memory_could_not_be_switched_off_serves_and_says_so(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    write_session(emulator, tmp_path)
    emulator.set_fault("http_5xx", route="settings_update", status=502)
    with pooled_gateway(emulator, tmp_path) as gateway:
        answered = ask(gateway.url, "echo: still served")
        row = states(gateway)["main"]

    assert answered.status_code == 200
    assert row["memory"] == "failed"
    assert "502" in row["memory_message"]


def test_a_session_that_ended_is_shown_as_needing_a_new_one_with_the_reason(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    write_session(emulator, tmp_path)
    emulator.set_fault("expired_token")
    emulator.set_fault("expired_token", route="refresh", form="unauthorized")
    with pooled_gateway(emulator, tmp_path) as gateway:
        refused = ask(gateway.url, "echo: hello")
        row = states(gateway)["main"]

    assert refused.status_code == 503
    assert row["state"] == "needs_session"
    assert row["can_refresh"] is True
    assert "the browser session ended" in row["message"]
    assert "qwen-proxy accounts import-curl main" in row["message"]


def test_an_expired_environment_token_is_told_once_and_right(
    emulator_2026_06: EmulatorHandle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    emulator = emulator_2026_06
    expired = emulator.mint_token(EMAIL, exp=int(time.time()) - 86400)
    settings = gateway_settings(emulator.url, expired, tmp_path, admin_key=ADMIN_KEY)
    with running_gateway(settings) as gateway:
        refused = ask(gateway.url, "echo: hello")
        rows = states(gateway)

    message = refused.json()["error"]["message"]
    assert refused.status_code == 503
    assert "can serve requests now" in message  # not "*models*"
    assert rows["env"]["state"] == "disabled"
    assert "set a fresh QWEN_PROXY_TOKEN" in rows["env"]["message"]
    assert "before then" not in caplog.text  # no advice to act before a date in the past
    assert "accounts add --name env" not in caplog.text


def test_a_session_whose_renewal_is_refused_signs_in_at_the_auth_host_as_its_browser(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    account = emulator.accounts[0]
    session = replace(browser_session(emulator), email=account.email, password=account.password)
    save_accounts(tmp_path / "accounts.json", [session])
    emulator.expire_token(EMAIL)  # the token the gateway holds no longer works
    emulator.set_fault("expired_token", route="refresh")  # and neither does its refresh token
    with pooled_gateway(emulator, tmp_path, signin_interval=0) as gateway:
        answered = ask(gateway.url, "echo: signed in again")
        row = states(gateway)["main"]
    (sign_in,) = emulator.requests("/auth/api/v2/auths/signin")

    assert answered.status_code == 200
    assert answered.json()["choices"][0]["message"]["content"] == "signed in again"
    assert row["state"] == "active"
    assert sign_in.headers["bx-ua"] == account.bx_ua
    assert sign_in.headers["bx-umidtoken"] == account.bx_umidtoken
    assert sign_in.headers["sec-fetch-site"] == "same-site"
