"""``/admin/accounts`` on a running gateway, and the gateway following accounts.json edits."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import qwen_proxy.service.gateway
from accounts_support import (
    ADMIN_KEY,
    admin,
    email,
    pooled_gateway,
    several_accounts,
    states,
    wait_until,
    write_accounts,
)
from qwen_proxy.accounts import Credentials, load_accounts, save_accounts
from qwen_proxy.emulator.testing import EmulatorHandle
from qwen_proxy.server.run import BackgroundGateway

pytestmark = pytest.mark.integration


@pytest.fixture
def emulator3() -> Iterator[EmulatorHandle]:
    with several_accounts() as handle:
        yield handle


@pytest.fixture
def gateway2(
    emulator3: EmulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BackgroundGateway]:
    """A gateway over accounts a and b, re-reading accounts.json every 50 ms."""
    monkeypatch.setattr(qwen_proxy.service.gateway, "ACCOUNTS_POLL_INTERVAL", 0.05)
    write_accounts(tmp_path, emulator3, "ab")
    with pooled_gateway(emulator3, tmp_path) as gateway:
        yield gateway


def test_admin_routes_are_off_without_an_admin_key(gateway: BackgroundGateway) -> None:
    response = httpx.get(gateway.url + "/admin/accounts", headers={"Authorization": "Bearer x"})

    assert response.status_code == 404
    assert "QWEN_PROXY_ADMIN_KEY" in response.json()["error"]["message"]


def test_admin_routes_refuse_a_missing_or_wrong_key(gateway2: BackgroundGateway) -> None:
    missing = httpx.get(gateway2.url + "/admin/accounts")
    wrong = httpx.get(gateway2.url + "/admin/accounts", headers={"Authorization": "Bearer no"})

    assert missing.status_code == 401
    assert wrong.status_code == 401
    assert wrong.json()["error"]["type"] == "authentication_error"


def test_listing_shows_state_expiry_and_counters_but_no_secret(
    gateway2: BackgroundGateway, emulator3: EmulatorHandle
) -> None:
    response = admin(gateway2, "GET", "/admin/accounts")
    rows = {row["name"]: row for row in response.json()["data"]}

    assert set(rows) == {"a", "b"}
    assert rows["a"]["state"] == "active"
    assert rows["a"]["email"] == "a***@example.com"
    assert rows["a"]["expires_at"] > 0
    assert rows["a"]["requests"] == 0
    assert emulator3.account(email("a")).token not in response.text


def test_added_account_serves_and_is_saved_owner_only(
    gateway2: BackgroundGateway, emulator3: EmulatorHandle, tmp_path: Path
) -> None:
    token = emulator3.account(email("c")).token
    body = {"name": "c", "token": token, "email": email("c"), "password": "pw-charlie-s3cret"}
    added = admin(gateway2, "POST", "/admin/accounts", json=body)
    path = tmp_path / "accounts.json"

    assert added.status_code == 201
    assert added.json()["can_sign_in"] is True
    assert token not in added.text
    assert "pw-charlie" not in added.text
    assert [a.name for a in load_accounts(path)] == ["a", "b", "c"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_removed_account_leaves_the_pool_and_the_file(
    gateway2: BackgroundGateway, tmp_path: Path
) -> None:
    removed = admin(gateway2, "DELETE", "/admin/accounts/a")

    assert removed.status_code == 200
    assert set(states(gateway2)) == {"b"}
    assert [a.name for a in load_accounts(tmp_path / "accounts.json")] == ["b"]


def test_admin_paths_are_percent_decoded_once_only(gateway2: BackgroundGateway) -> None:
    # "%2561" is "%61" once decoded; decoding twice would make it "a" and remove that account
    response = admin(gateway2, "DELETE", "/admin/accounts/%2561")

    assert response.status_code == 404
    assert set(states(gateway2)) == {"a", "b"}


def test_unknown_account_and_bad_bodies_answer_in_openai_shape(
    gateway2: BackgroundGateway,
) -> None:
    unknown = admin(gateway2, "DELETE", "/admin/accounts/zed")
    not_json = admin(gateway2, "POST", "/admin/accounts", content=b"{nope")
    no_token = admin(gateway2, "POST", "/admin/accounts", json={"name": "x"})
    no_cookies = admin(gateway2, "POST", "/admin/accounts/a/cookies", content=b"   ")

    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "account_not_found"
    assert not_json.status_code == 400
    assert no_token.status_code == 400
    assert "needs a token" in no_token.json()["error"]["message"]
    assert no_cookies.status_code == 400


def test_check_reports_valid_then_expired(
    gateway2: BackgroundGateway, emulator3: EmulatorHandle
) -> None:
    before = admin(gateway2, "POST", "/admin/accounts/a/check").json()
    emulator3.expire_token(email("a"))
    after = admin(gateway2, "POST", "/admin/accounts/a/check").json()

    assert before["result"] == "valid"
    assert after["result"] == "expired"
    assert emulator3.requests("/api/v1/auths/")


def test_check_surfaces_the_captcha_verification_url(
    gateway2: BackgroundGateway, emulator3: EmulatorHandle
) -> None:
    emulator3.set_fault("waf_json", account=email("b"), route="auth_verify")
    result = admin(gateway2, "POST", "/admin/accounts/b/check").json()

    assert result["result"] == "captcha"
    assert result["verify_url"] == "https://chat.qwen.ai/punish?x5secdata=emulator"


def test_running_gateway_follows_edits_of_the_accounts_file(
    gateway2: BackgroundGateway, emulator3: EmulatorHandle, tmp_path: Path
) -> None:
    path = tmp_path / "accounts.json"
    accounts = load_accounts(path)
    token = emulator3.account(email("c")).token
    save_accounts(path, [accounts[1], Credentials(name="c", token=token)])

    wait_until(lambda: set(states(gateway2)) == {"b", "c"})


def test_gateway_saves_keep_accounts_another_process_added(
    gateway2: BackgroundGateway, emulator3: EmulatorHandle, tmp_path: Path
) -> None:
    path = tmp_path / "accounts.json"
    external = Credentials(name="c", token=emulator3.account(email("c")).token)
    save_accounts(path, [*load_accounts(path), external])
    # the gateway writes before it has seen the file change
    admin(gateway2, "DELETE", "/admin/accounts/a")

    assert [a.name for a in load_accounts(path)] == ["b", "c"]
    wait_until(lambda: set(states(gateway2)) == {"b", "c"})


def test_admin_key_is_not_a_client_key(gateway2: BackgroundGateway) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}x"}
    response = httpx.get(gateway2.url + "/admin/accounts", headers=headers)

    assert response.status_code == 401


def test_a_bad_proxy_is_refused_naming_the_proxy_field(gateway2: BackgroundGateway) -> None:
    response = admin(
        gateway2,
        "POST",
        "/admin/accounts",
        json={"name": "c", "token": "t", "proxy": "socks5://proxy:1080"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "proxy"
