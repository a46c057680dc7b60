"""Several accounts behind one gateway, against the emulator: each upstream class moves load,
quarantines or renews an account as the operator would expect, and no secret reaches a log."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import openai
import pytest

from accounts_support import (
    PASSWORDS,
    admin,
    ask,
    chats_per_account,
    email,
    pooled_gateway,
    several_accounts,
    states,
    wait_until,
    write_accounts,
)
from qwen_proxy.accounts import load_accounts, token_expiry

pytestmark = pytest.mark.integration

VERIFY_URL = "https://chat.qwen.ai/punish?x5secdata=emulator"


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="test", max_retries=0)


def assert_no_secret(text: str, secrets: list[str]) -> None:
    leaked = [s[:6] + "..." for s in secrets if s and s in text]
    assert not leaked, f"secrets in output: {leaked}"


def test_rate_limited_account_rests_and_load_moves_to_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with several_accounts() as emulator:
        write_accounts(tmp_path, emulator, "abc")
        emulator.set_fault("rate_limited", account=email("a"), num=2)
        with pooled_gateway(emulator, tmp_path) as gateway:
            client = sdk(gateway.url)
            answers = [ask(client, f"echo: request {i}") for i in range(9)]
            rows = states(gateway)
        secrets = [acc.token for acc in emulator.accounts]

    assert answers == [f"request {i}" for i in range(9)]
    assert rows["a"]["state"] == "cooling"
    rest = rows["a"]["model_cooldowns"]
    # the upstream's num=2 hours is honoured, not a short default back-off
    assert all(until - time.time() > 1.9 * 3600 for until in rest.values())
    assert rows["b"]["requests"] + rows["c"]["requests"] >= 9
    assert rows["a"]["failures"] == 1  # tried once, then left alone
    assert "account a: rate_limit" in caplog.text
    assert_no_secret(caplog.text, secrets)


def test_load_spreads_over_healthy_accounts_and_skips_a_rate_limited_one(
    tmp_path: Path,
) -> None:
    with several_accounts() as emulator:
        write_accounts(tmp_path, emulator, "abc")
        with pooled_gateway(emulator, tmp_path) as gateway:
            client = sdk(gateway.url)
            for i in range(6):
                ask(client, f"echo: before {i}")
            before = chats_per_account(emulator, "abc")
            emulator.set_fault("rate_limited", account=email("b"), num=1)
            for i in range(6):
                ask(client, f"echo: after {i}")
            after = chats_per_account(emulator, "abc")

    assert before == {"a": 2, "b": 2, "c": 2}
    # b opened one more chat (the rate-limited try); its share went to a and c
    assert after["b"] - before["b"] <= 1
    assert (after["a"] - before["a"]) + (after["c"] - before["c"]) == 6


def test_captcha_quarantines_the_account_until_fresh_cookies_are_imported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    cookie = "cna=browser-cookie-value-xyz; isg=another-secret-cookie"
    with several_accounts("ab", era="2026-06") as emulator:
        write_accounts(tmp_path, emulator, "ab")
        fault = emulator.set_fault("waf_json", account=email("b"))
        with pooled_gateway(emulator, tmp_path) as gateway:
            client = sdk(gateway.url)
            answers = [ask(client, f"echo: q{i}") for i in range(4)]
            quarantined = states(gateway)["b"]
            emulator.clear_fault(fault)
            b_token = emulator.account(email("b")).token
            imported = admin(
                gateway,
                "POST",
                "/admin/accounts/b/cookies",
                content=f"token={b_token}; {cookie}",
            )
            before = len(emulator.chats(email("b")))
            for i in range(2):
                ask(client, f"echo: back {i}")
            after = len(emulator.chats(email("b")))
            listing = admin(gateway, "GET", "/admin/accounts").text
        stored = {a.name: a for a in load_accounts(tmp_path / "accounts.json")}

    assert answers == [f"q{i}" for i in range(4)]
    assert quarantined["state"] == "quarantined"
    assert quarantined["verify_url"] == VERIFY_URL
    assert VERIFY_URL in caplog.text
    assert imported.status_code == 200
    assert imported.json()["state"] == "active"
    assert after - before >= 1  # b serves again
    assert "cna=browser-cookie-value-xyz" in (stored["b"].cookies or "")
    assert_no_secret(caplog.text + listing, [b_token, "browser-cookie-value-xyz"])


def test_expired_tokens_are_renewed_by_paced_sign_ins_while_the_request_waits(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with several_accounts("ab", era="2026-06") as emulator:
        write_accounts(tmp_path, emulator, "ab", passwords=True)
        with pooled_gateway(emulator, tmp_path, signin_interval=0.3) as gateway:
            client = sdk(gateway.url)
            ask(client, "echo: warm up")
            dead = emulator.account(email("a")).token
            emulator.expire_token(email("a"))
            emulator.expire_token(email("b"))
            # both tokens now fail upstream: the request waits for a renewal and is served
            while_expired = ask(client, "echo: while expired")
            wait_until(lambda: all(r["state"] == "active" for r in states(gateway).values()))
            answer = ask(client, "echo: after renewal")
            sign_ins = emulator.requests("/auths/signin")
        stored = {a.name: a for a in load_accounts(tmp_path / "accounts.json")}

    assert while_expired == "while expired"
    assert answer == "after renewal"
    assert len(sign_ins) == 2
    assert stored["a"].token != dead
    assert (token_expiry(stored["a"].token) or 0) > time.time() + 3600
    assert "renewed by sign-in" in caplog.text
    assert_no_secret(caplog.text, [dead, stored["a"].token, stored["b"].token, *PASSWORDS.values()])


def test_token_expired_in_the_file_is_renewed_at_start(tmp_path: Path) -> None:
    with several_accounts("a", era="2026-06") as emulator:
        old = emulator.mint_token(email("a"), exp=int(time.time()) - 60)
        write_accounts(tmp_path, emulator, "a", passwords=True, tokens={"a": old})
        with pooled_gateway(emulator, tmp_path) as gateway:
            wait_until(lambda: states(gateway)["a"]["state"] == "active")
            answer = ask(sdk(gateway.url), "echo: fresh")

    assert answer == "fresh"
    assert load_accounts(tmp_path / "accounts.json")[0].token != old


def test_expired_token_without_password_tells_the_operator_how_to_fix_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with several_accounts("a", era="2026-06") as emulator:
        write_accounts(tmp_path, emulator, "a")
        with pooled_gateway(emulator, tmp_path) as gateway:
            emulator.expire_token(email("a"))
            with pytest.raises(openai.APIStatusError) as failed:
                ask(sdk(gateway.url), "echo: hello")
            row = states(gateway)["a"]

    assert failed.value.status_code == 503
    assert row["state"] == "disabled"
    assert "qwen-proxy accounts import-curl a" in row["message"]
    assert "qwen-proxy accounts import-curl a" in caplog.text


def test_no_account_left_answers_503_saying_why_and_when(tmp_path: Path) -> None:
    with several_accounts("ab") as emulator:
        write_accounts(tmp_path, emulator, "ab")
        emulator.set_fault("waf_html", account=email("a"))
        emulator.set_fault("rate_limited", account=email("b"), num=1)
        with pooled_gateway(emulator, tmp_path) as gateway:
            client = sdk(gateway.url)
            with pytest.raises(openai.APIStatusError):
                ask(client, "echo: one")
            with pytest.raises(openai.APIStatusError) as refused:
                ask(client, "echo: two")

    response = refused.value.response
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "no_account_available"
    assert "needs captcha verification" in error["message"]
    assert "rate-limited until" in error["message"]
    assert int(response.headers["retry-after"]) > 3000


def test_first_request_succeeds_when_one_account_is_already_expired(tmp_path: Path) -> None:
    with several_accounts("ab", era="2026-06") as emulator:
        write_accounts(tmp_path, emulator, "ab")
        emulator.expire_token(email("a"))
        with pooled_gateway(emulator, tmp_path) as gateway:
            answers = [ask(sdk(gateway.url), f"echo: {i}") for i in range(3)]
            rows = states(gateway)

    assert answers == ["0", "1", "2"]
    assert rows["a"]["state"] == "disabled"
    assert rows["b"]["state"] == "active"
