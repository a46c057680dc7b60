"""Adding an account by pasting one request copied from the browser ("Copy as cURL")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qwen_proxy.accounts.credentials import Credentials
from qwen_proxy.accounts.curl_import import (
    CurlImportError,
    allowed_hosts,
    import_curl,
    read_copied_request,
)
from qwen_proxy.accounts.errors import CredentialsError

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED: dict[str, dict[str, str]] = json.loads((FIXTURES / "expected.json").read_text())
COPIES = ["chrome_bash", "chrome_cmd", "firefox_bash", "firefox_cmd"]
TOKEN = EXPECTED["chrome"]["token"]
JAR = EXPECTED["chrome"]["cookies"]
URL = "https://chat.qwen.ai/api/v2/chat/completions?chat_id=c1"


def copy(name: str) -> str:
    # newline="" keeps the CRLF line ends a copy made on Windows has
    with (FIXTURES / f"{name}.txt").open(newline="") as file:
        return file.read()


@pytest.mark.parametrize("name", COPIES)
def test_a_copied_request_gives_the_whole_browser_session(name: str) -> None:
    expected = EXPECTED[name.split("_")[0]]

    session = import_curl(copy(name))

    assert session.token == expected["token"]
    assert session.cookies == expected["cookies"]
    assert session.browser.bx_ua == expected["bx_ua"]
    assert session.browser.bx_umidtoken == expected["bx_umidtoken"]
    assert session.browser.bx_v == "2.5.36"
    assert session.has_refresh_token
    assert session.host == "chat.qwen.ai"
    assert session.warnings == ()
    assert session.cookie_names[:3] == ["cna", "_bl_uid", "cnaui"]


@pytest.mark.parametrize("name", COPIES)
def test_the_request_itself_is_read_to_the_last_byte_of_its_body(name: str) -> None:
    request = read_copied_request(copy(name))

    assert request.method == "POST"
    assert request.url.startswith("https://chat.qwen.ai/api/v2/chat/completions?chat_id=")
    assert request.body == EXPECTED[name.split("_")[0]]["body"]
    assert json.loads(request.body or "")["messages"][0]["files"] == []


@pytest.mark.parametrize("name", ["chrome_bash", "chrome_cmd"])
def test_chrome_gives_its_client_hints_but_no_app_version(name: str) -> None:
    browser = import_curl(copy(name)).browser

    assert browser.sec_ch_ua == (
        '"Chromium";v="142", "Google Chrome";v="142", "Not_A Brand";v="99"'
    )
    assert browser.sec_ch_ua_mobile == "?0"
    assert browser.sec_ch_ua_platform == '"Windows"'
    assert "Chrome/142" in (browser.user_agent or "")
    assert browser.web_version is None  # Chrome leaves a header named "version" out
    assert browser.timezone == "GMT+0800 (China Standard Time)"
    assert browser.accept_language == "en-US,en;q=0.9,zh-CN;q=0.8,zh;q=0.7"
    assert import_curl(copy(name)).browser_name == "Chrome"


@pytest.mark.parametrize("name", ["firefox_bash", "firefox_cmd"])
def test_firefox_gives_the_app_version_and_no_client_hints(name: str) -> None:
    session = import_curl(copy(name))

    assert session.browser.web_version == "0.3.11"
    assert session.browser.sec_ch_ua is None
    assert session.browser.timezone == "GMT+0100 (Central European Standard Time)"
    assert session.browser_name == "Firefox"


def curl(*parts: str) -> str:
    return " \\\n  ".join(["curl " + repr_bash(URL), *parts])


def repr_bash(text: str) -> str:
    return "'" + text + "'"


@pytest.mark.parametrize(
    ("parts", "token", "cookies"),
    [
        # the cookie jar as -H 'cookie: ...' (older Chrome, Firefox) or -b
        ([f"-H 'cookie: {JAR}'"], TOKEN, JAR),
        ([f"-H 'Cookie: {JAR}'"], TOKEN, JAR),
        ([f"-b '{JAR}'"], TOKEN, JAR),
        ([f"--cookie '{JAR}'"], TOKEN, JAR),
        (["-b 'a=1'", "-b 'token=t2'"], "t2", "a=1; token=t2"),
        # the token from the bearer header when there is no token cookie
        ([f"-H 'authorization: Bearer {TOKEN}'", "-b 'acw_tc=w'"], TOKEN, "acw_tc=w"),
        # both: the bearer header is what the web app authenticates with
        (["-H 'Authorization: Bearer bearer-wins'", "-b 'token=cookie'"], "bearer-wins", None),
        (["-H 'authorization:bearer   spaced'", "-b 'x=1'"], "spaced", "x=1"),
    ],
)
def test_token_and_jar_are_found_in_every_form_browsers_write(
    parts: list[str], token: str, cookies: str | None
) -> None:
    session = import_curl(curl(*parts))

    assert session.token == token
    if cookies is not None:
        assert session.cookies == cookies


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (["-X 'GET'", "-b 'token=t'"], {"method": "GET", "body": None}),
        (["-b 'token=t'", "--data-raw '{}'"], {"method": "POST", "body": "{}"}),
        (["-b 'token=t'", "--data '{}'", "-X PUT"], {"method": "PUT", "body": "{}"}),
        (["-b 'token=t'", "-H 'x-empty;'"], {"header": ("x-empty", "")}),
        (["-b 'token=t'", "--compressed", "-k", "--http2"], {"method": "GET"}),
        (["-b 'token=t'", "-A 'UA/1'"], {"header": ("user-agent", "UA/1")}),
    ],
)
def test_curl_options_are_read_as_curl_reads_them(
    parts: list[str], expected: dict[str, Any]
) -> None:
    request = read_copied_request(curl(*parts))

    if "method" in expected:
        assert request.method == expected["method"]
    if "body" in expected:
        assert request.body == expected["body"]
    if "header" in expected:
        name, value = expected["header"]
        assert request.header(name) == value


def test_the_url_may_come_by_option() -> None:
    request = read_copied_request("curl --url 'https://chat.qwen.ai/x' -b 'token=t'")
    assert request.url == "https://chat.qwen.ai/x"
    request = read_copied_request("curl --url=https://chat.qwen.ai/y -b 'token=t'")
    assert request.url == "https://chat.qwen.ai/y"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "nothing was pasted"),
        ("   \n ", "nothing was pasted"),
        ("wget https://chat.qwen.ai/", "not a curl command"),
        ("curl -H 'x: y'", "no URL"),
        (f"curl 'https://example.com/api' -b 'token={TOKEN}'", "example.com, not to chat.qwen.ai"),
        (f"curl '{URL}' -b 'cna=1; acw_tc=2'", "carries no token"),
        (f"curl '{URL}' -H 'authorization: Basic abc'", "carries no token"),
        (f"curl '{URL}' -b cookies.txt", "cookie file"),
        (f"curl '{URL}' -b 'token={TOKEN}", "unclosed"),
        (f"curl '{URL}' -H", "has no value"),
    ],
)
def test_a_request_that_cannot_be_an_account_is_refused_with_what_to_do(
    text: str, message: str
) -> None:
    with pytest.raises(CurlImportError, match=message) as refused:
        import_curl(text)

    assert TOKEN not in str(refused.value)
    assert isinstance(refused.value, CredentialsError)


def test_the_configured_upstream_host_is_accepted_too() -> None:
    text = "curl 'http://127.0.0.1:8900/api/v2/chats/new' -b 'token=t'"

    with pytest.raises(CurlImportError):
        import_curl(text)
    session = import_curl(text, allowed_hosts("http://127.0.0.1:8900"))

    assert session.host == "127.0.0.1"


def test_a_request_without_anti_bot_values_or_refresh_token_is_taken_with_warnings() -> None:
    session = import_curl(f"curl '{URL}' -b 'token={TOKEN}'")

    assert session.token == TOKEN
    assert any("bx-ua" in warning for warning in session.warnings)
    assert any("refresh_token" in warning for warning in session.warnings)
    assert any("User-Agent" in warning for warning in session.warnings)
    assert all(TOKEN not in warning for warning in session.warnings)


@pytest.mark.parametrize("name", COPIES)
def test_nothing_read_from_a_copy_shows_a_secret(name: str) -> None:
    expected = EXPECTED[name.split("_")[0]]
    session = import_curl(copy(name))
    shown = repr(session) + repr(read_copied_request(copy(name))) + repr(session.browser)

    for secret in (expected["token"], expected["bx_ua"], expected["bx_umidtoken"]):
        assert secret not in shown
    assert expected["refresh_token"] not in shown


def test_what_was_found_is_summarised_with_every_secret_masked() -> None:
    expected = EXPECTED["chrome"]
    summary = import_curl(copy("chrome_bash")).summary()
    shown = json.dumps(summary)

    assert summary["token"] == f"eyJh... ({len(TOKEN)} chars)"
    assert summary["bx_ua"] == f"231!... ({len(expected['bx_ua'])} chars)"
    assert summary["cookies"][:3] == ["cna", "_bl_uid", "cnaui"]
    assert summary["browser"] == "Chrome"
    assert summary["token_expires_at"] == 1795771050.0
    for secret in (TOKEN, expected["bx_ua"], expected["bx_umidtoken"], expected["refresh_token"]):
        assert secret not in shown


def test_a_new_browser_session_replaces_only_the_session_of_an_existing_account() -> None:
    existing = Credentials(
        name="main", token="old", email="a@b.c", password="pw", proxy="http://10.0.0.1:3128"
    )
    session = import_curl(copy("firefox_bash"))

    account = session.credentials("main", existing)

    assert (account.email, account.password, account.proxy) == ("a@b.c", "pw", existing.proxy)
    assert account.token == session.token
    assert account.cookies == session.cookies
    assert account.browser == session.browser
    assert account.is_browser_session
    assert session.credentials("fresh").email is None
