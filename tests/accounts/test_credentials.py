"""Credentials and browser sessions on disk, cookie import, and reading a JWT's expiry."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from qwen_proxy.accounts import (
    Credentials,
    CredentialsError,
    import_cookies,
    load_accounts,
    mask_email,
    mask_secret,
    migrate_accounts_file,
    parse_cookie_string,
    save_accounts,
    token_claims,
    token_expiry,
    token_from_cookies,
)
from qwen_proxy.accounts.cookies import set_cookie_changes, update_jar
from qwen_proxy.qwen.browser import BrowserProfile

pytestmark = pytest.mark.unit

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6InUxIiwiZXhwIjoxNzgwMDAwMDAwfQ.c2lnbmF0dXJlLXNlY3JldA"
PASSWORD = "correct horse battery staple"
COOKIES = "cna=abc123secretcookie; token=" + TOKEN


def make_jwt(claims: dict[str, object]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJIUzI1NiJ9.{payload}.c2ln"


def full_account(name: str = "main") -> Credentials:
    return Credentials(
        name=name,
        token=TOKEN,
        cookies=COOKIES,
        email="alice@example.com",
        password=PASSWORD,
        proxy="http://user:proxysecret@10.0.0.1:3128",
    )


# -- storage --------------------------------------------------------------------------------


def test_saved_accounts_load_back_identical(tmp_path: Path) -> None:
    path = tmp_path / "data" / "accounts.json"
    accounts = [full_account("main"), Credentials(name="spare", token="t2")]
    save_accounts(path, accounts)
    assert load_accounts(path) == accounts


def test_accounts_file_is_owner_only_even_with_a_permissive_umask(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    old = os.umask(0o000)
    try:
        save_accounts(path, [full_account()])
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_saving_replaces_the_file_atomically_without_leftovers(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    save_accounts(path, [full_account()])
    inode = path.stat().st_ino
    save_accounts(path, [Credentials(name="other", token="t")])
    assert [a.name for a in load_accounts(path)] == ["other"]
    # a new file was renamed over the old one rather than rewritten in place
    assert path.stat().st_ino != inode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accounts.json"]


def test_missing_accounts_file_means_no_accounts(tmp_path: Path) -> None:
    assert load_accounts(tmp_path / "nope.json") == []


def test_world_readable_accounts_file_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "accounts.json"
    save_accounts(path, [full_account()])
    path.chmod(0o644)
    load_accounts(path)
    assert "chmod 600" in caplog.text
    assert TOKEN not in caplog.text


def test_broken_accounts_file_error_names_the_file_not_the_secrets(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    path.write_text('{"accounts": [{"name": "a", "token": "' + TOKEN + '", "password": 5}]}')
    with pytest.raises(CredentialsError) as caught:
        load_accounts(path)
    assert str(path) in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_duplicate_account_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="twice"):
        save_accounts(tmp_path / "a.json", [Credentials("x", "t"), Credentials("x", "u")])


def test_an_account_needs_a_token_or_a_way_to_sign_in() -> None:
    with pytest.raises(CredentialsError):
        Credentials(name="a", token="")
    assert Credentials(name="a", token="", email="a@b.c", password="p").can_sign_in


@pytest.mark.parametrize(
    "proxy",
    [
        "socks5://user:proxysecret@10.0.0.1:1080",
        "https://user:proxysecret@10.0.0.1:3128",
        "10.0.0.1:3128",
        "http://user:proxysecret@10.0.0.1:notaport",
    ],
)
def test_a_proxy_the_upstream_wire_cannot_use_is_refused_without_echoing_it(proxy: str) -> None:
    with pytest.raises(CredentialsError, match="http://host:port") as refused:
        Credentials(name="a", token="t", proxy=proxy)
    assert "proxysecret" not in str(refused.value)


@pytest.mark.parametrize("field", ["token", "cookies"])
def test_a_token_or_cookie_with_a_line_break_is_refused_without_echoing_it(field: str) -> None:
    values = {"token": "t", field: "secretpart\r\nX-Injected: 1"}
    with pytest.raises(CredentialsError, match="line break") as refused:
        Credentials(name="a", **values)
    assert "secretpart" not in str(refused.value)


# -- redaction ------------------------------------------------------------------------------


def test_credentials_repr_and_str_hide_every_secret() -> None:
    account = full_account()
    shown = repr(account) + str(account) + repr([account]) + f"{account!r}"
    for secret in (TOKEN, PASSWORD, "abc123secretcookie", "proxysecret", "alice@"):
        assert secret not in shown
    assert "a***@example.com" in shown
    assert "10.0.0.1:3128" in shown


def test_email_is_masked_to_first_letter_and_domain() -> None:
    assert mask_email("alice@example.com") == "a***@example.com"
    assert mask_email(None) is None


# -- cookies --------------------------------------------------------------------------------


def test_cookie_header_string_is_parsed_with_or_without_prefix() -> None:
    assert parse_cookie_string("Cookie: a=1; token=xyz ;b=") == {"a": "1", "token": "xyz", "b": ""}
    assert token_from_cookies("a=1; token=xyz") == "xyz"
    assert token_from_cookies("a=1") is None


def test_browser_extension_json_export_keeps_only_qwen_cookies() -> None:
    export = json.dumps(
        [
            {"name": "token", "value": TOKEN, "domain": ".qwen.ai", "path": "/"},
            {"name": "acw_tc", "value": "waf1", "domain": "chat.qwen.ai"},
            {"name": "sid", "value": "other-site", "domain": ".example.com"},
        ]
    )
    imported = import_cookies(export)
    assert imported.token == TOKEN
    assert parse_cookie_string(imported.header) == {"token": TOKEN, "acw_tc": "waf1"}
    assert TOKEN not in repr(imported)


def test_netscape_cookies_txt_is_imported() -> None:
    text = (
        "# Netscape HTTP Cookie File\n"
        f"#HttpOnly_.qwen.ai\tTRUE\t/\tTRUE\t1790000000\ttoken\t{TOKEN}\n"
        ".example.com\tTRUE\t/\tFALSE\t0\tsid\tnope\n"
    )
    imported = import_cookies(text)
    assert imported.header == f"token={TOKEN}"


def test_cookie_import_without_a_token_still_imports_the_cookies() -> None:
    imported = import_cookies("cna=1; acw_tc=2")
    assert imported.token is None
    assert imported.header == "cna=1; acw_tc=2"


def test_unreadable_cookie_export_is_refused_without_echoing_it() -> None:
    with pytest.raises(CredentialsError) as caught:
        import_cookies("[{broken " + TOKEN)
    assert TOKEN not in str(caught.value)


# -- JWT ------------------------------------------------------------------------------------


def test_token_expiry_is_read_from_the_exp_claim() -> None:
    assert token_expiry(make_jwt({"id": "u", "exp": 1_790_000_000})) == 1_790_000_000.0
    assert token_claims(TOKEN) == {"id": "u1", "exp": 1780000000}


@pytest.mark.parametrize(
    "token",
    ["not-a-jwt", "a.b.c", "a.!!!.c", make_jwt({"id": "u"}), make_jwt({"exp": True})],
)
def test_token_without_readable_expiry_has_none(token: str) -> None:
    assert token_expiry(token) is None


# -- browser sessions -------------------------------------------------------------------------

BX_UA = "231!browser-fingerprint-" + "x" * 40
UMID = "T2gA-device-token-" + "y" * 20
SESSION_COOKIES = f"cna=c1; acw_tc=w1; token={TOKEN}; refresh_token=refresh-secret-value"


def browser_session(name: str = "browser") -> Credentials:
    profile = BrowserProfile(
        user_agent="Mozilla/5.0 Chrome/142.0.0.0",
        sec_ch_ua='"Chromium";v="142"',
        sec_ch_ua_mobile="?0",
        sec_ch_ua_platform='"Windows"',
        timezone="GMT+0800 (China Standard Time)",
        bx_ua=BX_UA,
        bx_umidtoken=UMID,
        bx_v="2.5.36",
        web_version="0.3.11",
    )
    return Credentials(name=name, token=TOKEN, cookies=SESSION_COOKIES).with_browser(profile)


def test_a_browser_session_keeps_its_jar_refresh_token_and_profile() -> None:
    account = browser_session()

    assert account.is_browser_session
    assert account.refresh_token == "refresh-secret-value"
    assert list(account.jar) == ["cna", "acw_tc", "token", "refresh_token"]
    assert account.browser is not None
    assert account.browser.bx_ua == BX_UA
    assert account.browser.web_version == "0.3.11"


def test_a_token_only_account_has_no_browser_profile() -> None:
    account = Credentials(name="old", token=TOKEN)

    assert account.browser is None
    assert not account.is_browser_session
    assert account.refresh_token is None


def test_browser_sessions_are_saved_and_load_back_identical(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    accounts = [browser_session(), full_account("old")]

    save_accounts(path, accounts)
    stored = json.loads(path.read_text())

    assert load_accounts(path) == accounts
    assert stored["version"] == 2
    assert stored["accounts"][0]["browser"]["bx_umidtoken"] == UMID
    assert "browser" not in stored["accounts"][1]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_old_accounts_file_is_read_and_migrated_in_place_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    old = {"version": 1, "accounts": [{"name": "main", "token": TOKEN, "cookies": COOKIES}]}
    path.write_text(json.dumps(old))
    path.chmod(0o644)

    before = load_accounts(path)
    migrated = migrate_accounts_file(path)
    again = migrate_accounts_file(path)

    assert before == [Credentials(name="main", token=TOKEN, cookies=COOKIES)]
    assert migrated is True
    assert again is False
    assert json.loads(path.read_text())["version"] == 2
    assert load_accounts(path) == before
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accounts.json"]


def test_the_first_layout_a_bare_list_is_migrated_too(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps([{"name": "main", "token": TOKEN}]))

    assert migrate_accounts_file(path) is True
    assert load_accounts(path) == [Credentials(name="main", token=TOKEN)]


def test_a_missing_accounts_file_is_not_created_by_the_migration(tmp_path: Path) -> None:
    assert migrate_accounts_file(tmp_path / "accounts.json") is False
    assert not (tmp_path / "accounts.json").exists()


def test_a_file_from_a_newer_gateway_is_refused_rather_than_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps({"version": 3, "accounts": []}))

    with pytest.raises(CredentialsError, match="newer"):
        load_accounts(path)
    assert migrate_accounts_file(path) is False


def test_a_browser_profile_that_is_not_an_object_is_refused_naming_the_account(
    tmp_path: Path,
) -> None:
    path = tmp_path / "accounts.json"
    path.write_text(
        json.dumps({"version": 2, "accounts": [{"name": "a", "token": "t", "browser": "x"}]})
    )
    with pytest.raises(CredentialsError, match="#1: browser"):
        load_accounts(path)


def test_a_browser_session_never_shows_a_secret() -> None:
    account = browser_session()
    shown = repr(account) + str(account) + repr(account.browser)

    for secret in (TOKEN, BX_UA, UMID, "refresh-secret-value"):
        assert secret not in shown
    assert "Chrome/142" in shown


@pytest.mark.parametrize("field", ["bx_ua", "bx_umidtoken", "user_agent", "sec_ch_ua"])
def test_a_browser_value_with_a_line_break_is_refused_without_echoing_it(field: str) -> None:
    with pytest.raises(CredentialsError, match="line break") as refused:
        Credentials(name="a", token="t", **{field: "secretpart\r\nX-Injected: 1"})
    assert "secretpart" not in str(refused.value)


def test_secrets_are_masked_to_a_prefix_and_a_length() -> None:
    assert mask_secret(TOKEN) == f"eyJh... ({len(TOKEN)} chars)"
    assert mask_secret("short") == "(5 chars)"
    assert mask_secret(None) == "(none)"


def test_set_cookie_answers_update_the_jar_in_place_and_delete_cookies() -> None:
    changes = set_cookie_changes(
        [
            "refresh_token=new-refresh; Domain=.qwen.ai; Path=/; Max-Age=2592000; HttpOnly",
            "token=new-access; Path=/",
            "acw_tc=; Max-Age=0",
            "tfstk=t1; Path=/",
        ]
    )

    jar = update_jar("cna=c1; acw_tc=w1; token=old; refresh_token=old-refresh", changes)

    assert jar == "cna=c1; token=new-access; refresh_token=new-refresh; tfstk=t1"


@pytest.mark.parametrize(
    "name",
    ["../x", "a/b", "nul\x00byte", "x" * 65, "-leading", "with space", "", "é"],
)
def test_account_names_outside_the_safe_set_are_refused(name: str) -> None:
    with pytest.raises(CredentialsError, match="is not allowed"):
        Credentials(name=name, token="t")


@pytest.mark.parametrize("name", ["work", "me@example.com", "a.b-c_d+1", "X" * 64])
def test_ordinary_account_names_are_accepted(name: str) -> None:
    assert Credentials(name=name, token="t").name == name


def test_a_refused_name_is_not_echoed_whole() -> None:
    with pytest.raises(CredentialsError) as caught:
        Credentials(name="y" * 1_000_000, token="t")
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize(
    "proxy",
    [
        "http://proxy:8080\r\nX-Evil: 1",
        "http://proxy:8080/path",
        "http://proxy:8080?q=1",
        "http://pro xy:8080",
        "socks5://proxy:1080",
    ],
)
def test_a_proxy_is_http_host_port_and_nothing_else(proxy: str) -> None:
    with pytest.raises(CredentialsError):
        Credentials(name="a", token="t", proxy=proxy)


def test_oversized_secrets_are_refused_with_the_limit() -> None:
    with pytest.raises(CredentialsError, match="at most 16,384"):
        Credentials(name="a", token="t" * 20_000)
