"""``POST /admin/accounts`` with ``curl``: an account from one request copied from the browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from accounts_support import admin, pooled_gateway
from gateway_support import MODEL
from qwen_proxy.accounts import load_accounts
from qwen_proxy.emulator.testing import EmulatorHandle
from qwen_proxy.server.run import BackgroundGateway
from session_support import EXPECTED, adopted_copy, copy_text

pytestmark = pytest.mark.integration

EMAIL = "demo@example.com"


@pytest.fixture
def gateway_now(emulator_now: EmulatorHandle, tmp_path: Path) -> Iterator[BackgroundGateway]:
    """A gateway with no account yet, against today's upstream, admin routes on."""
    with pooled_gateway(emulator_now, tmp_path) as gateway:
        yield gateway


def test_a_pasted_copy_becomes_an_account_that_serves_at_once(
    gateway_now: BackgroundGateway, emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    text = adopted_copy(emulator_now, "firefox_cmd", EMAIL)

    added = admin(gateway_now, "POST", "/admin/accounts", json={"name": "fx", "curl": text})
    client = openai.OpenAI(base_url=gateway_now.url + "/v1", api_key="x", max_retries=0)
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "echo: pasted"}]
    )

    assert added.status_code == 201, added.text
    found = added.json()["found"]
    assert found["browser"] == "Firefox"
    assert found["version"] == "0.3.11"
    assert found["bx_ua"] == "231!... (1500 chars)"
    assert "refresh_token" in found["cookies"]
    assert added.json()["name"] == "fx"
    for secret in (EXPECTED["firefox"]["bx_ua"], EXPECTED["firefox"]["bx_umidtoken"]):
        assert secret not in added.text
    assert text.split("Bearer ")[1].split('"')[0] not in added.text
    assert reply.choices[0].message.content == "pasted"
    (stored,) = load_accounts(tmp_path / "accounts.json")
    assert stored.is_browser_session


def test_a_second_paste_gives_the_account_a_new_session_and_keeps_its_sign_in_data(
    gateway_now: BackgroundGateway, emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    first = adopted_copy(emulator_now, "chrome_bash", EMAIL)
    admin(
        gateway_now,
        "POST",
        "/admin/accounts",
        json={"name": "main", "curl": first, "email": EMAIL, "password": "pw-s3cret"},
    )

    again = admin(
        gateway_now,
        "POST",
        "/admin/accounts",
        json={"name": "main", "curl": adopted_copy(emulator_now, "chrome_cmd", EMAIL)},
    )

    assert again.status_code == 200, again.text
    (stored,) = load_accounts(tmp_path / "accounts.json")
    assert (stored.email, stored.password) == (EMAIL, "pw-s3cret")
    assert stored.token not in first


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        (
            {"name": "x", "curl": "curl 'https://example.com/' -b 'token=eyJsecret'"},
            "curl",
            "not to chat.qwen.ai",
        ),
        (
            {"name": "x", "curl": "curl 'https://chat.qwen.ai/api' -b 'a=1'"},
            "curl",
            "carries no token",
        ),
        ({"name": "x", "curl": "no curl at all"}, "curl", "not a curl command"),
        ({"curl": "curl 'https://chat.qwen.ai/api' -b 'token=eyJsecret'"}, "name", "'name'"),
        (
            {"name": "x", "curl": "curl 'https://chat.qwen.ai/' -b 'token=t'", "token": "t"},
            "token",
            "either",
        ),
        ({"name": "x", "curl": 5}, "curl", "must be a string"),
    ],
)
def test_a_paste_that_is_no_account_is_refused_naming_the_field(
    gateway_now: BackgroundGateway, body: dict[str, object], param: str, message: str
) -> None:
    refused = admin(gateway_now, "POST", "/admin/accounts", json=body)

    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["param"] == param
    assert message in error["message"]
    assert "eyJsecret" not in refused.text
    assert admin(gateway_now, "GET", "/admin/accounts").json()["data"] == []


def test_a_copy_to_the_configured_upstream_host_is_accepted(
    gateway_now: BackgroundGateway, emulator_now: EmulatorHandle
) -> None:
    text = copy_text("chrome_bash").replace("https://chat.qwen.ai/api", emulator_now.url + "/api")
    added = admin(gateway_now, "POST", "/admin/accounts", json={"name": "local", "curl": text})

    assert added.status_code == 201, added.text
    assert added.json()["found"]["host"] == "127.0.0.1"
