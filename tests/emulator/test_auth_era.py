"""The emulator's 2026-10 era: browser sessions, short tokens, the firewall's gates, 200 errors.

Each rule is shown by a request that passes and the same request missing one thing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from emulator_client import Qwen
from qwen_proxy.emulator.config import EmulatorConfig
from qwen_proxy.emulator.testing import EmulatorHandle, running_emulator

pytestmark = pytest.mark.integration

EMAIL = "demo@example.com"
PASSWORD = "demo-password"
SLIDER_MARKERS = ("aliyun_waf", "punish", "x5sec", "baxia", "nc_1_n1z", "人机验证", "captcha")


@pytest.fixture
def browser(emulator_now: EmulatorHandle) -> Iterator[Qwen]:
    """A client sending the sample account's whole browser session."""
    client = Qwen(emulator_now, browser=emulator_now.account(EMAIL).browser_headers())
    yield client
    client.http.close()


def without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() != name.lower()}


def assert_slider(response: httpx.Response) -> None:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<!doctype")
    for marker in SLIDER_MARKERS:
        assert marker in response.text
    assert len(response.content) > 15_000


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def sign_in(emulator: EmulatorHandle, headers: dict[str, str]) -> httpx.Response:
    body = {"email": EMAIL, "password": hashlib.sha256(PASSWORD.encode()).hexdigest()}
    return httpx.post(emulator.auth_url + "/api/v2/auths/signin", json=body, headers=headers)


ANTI_BOT = {"bx-ua": "231!a", "bx-umidtoken": "T2gAb", "bx-v": "2.5.36", "version": "0.3.12"}


# -- the write gates -------------------------------------------------------------------------


def test_a_browser_session_passes_every_gate_of_a_write_call(browser: Qwen) -> None:
    chat_id = browser.new_chat()

    reply = browser.turn(chat_id, "echo: through the firewall")

    assert reply.status == 200
    assert reply.answer == "through the firewall"


@pytest.mark.parametrize("header", ["bx-ua", "bx-umidtoken", "bx-v"])
@pytest.mark.parametrize("route", ["chats/new", "chat/completions"])
def test_a_write_call_missing_an_anti_bot_header_gets_the_slider_page(
    browser: Qwen, header: str, route: str
) -> None:
    chat_id = browser.new_chat()
    headers = without(browser.auth(), header)

    if route == "chats/new":
        answer = browser.http.post("/api/v2/chats/new", json={"models": ["x"]}, headers=headers)
    else:
        body = browser.body(chat_id, "hi", None)
        answer = browser.http.post(
            "/api/v2/chat/completions", params={"chat_id": chat_id}, json=body, headers=headers
        )

    assert_slider(answer)
    assert "x-actual-status-code" not in answer.headers


def test_a_token_with_another_sessions_jar_gets_the_slider_page(
    browser: Qwen, emulator_now: EmulatorHandle
) -> None:
    other = emulator_now.open_session(EMAIL)
    mixed = {**browser.auth(), "Cookie": other.cookies}

    answer = browser.http.post("/api/v2/chats/new", json={}, headers=mixed)
    own = browser.http.post("/api/v2/chats/new", json={}, headers=other.browser_headers())

    assert_slider(answer)
    assert own.json()["success"] is True


def test_a_token_cookie_alone_gets_the_slider_page(browser: Qwen) -> None:
    token = browser.token
    thin = {**without(browser.auth(), "Cookie"), "Cookie": f"token={token}"}

    assert_slider(browser.http.post("/api/v2/chats/new", json={}, headers=thin))


def test_reads_need_no_browser_session_and_models_no_account(
    emulator_now: EmulatorHandle,
) -> None:
    token = emulator_now.token

    me = httpx.get(
        emulator_now.url + "/api/v1/auths/", headers={"Authorization": f"Bearer {token}"}
    )
    models = httpx.get(emulator_now.url + "/api/models")

    assert me.json()["email"] == EMAIL
    assert models.status_code == 200
    assert models.json()["data"]


def test_a_write_call_without_the_version_header_is_a_bad_request_in_a_200(
    browser: Qwen,
) -> None:
    answer = browser.http.post(
        "/api/v2/chats/new", json={}, headers=without(browser.auth(), "version")
    )

    assert answer.status_code == 200
    assert answer.json()["data"]["code"] == "Bad_Request"
    assert answer.headers["x-actual-status-code"] == "400"


def test_a_completion_body_without_chat_id_is_refused_by_field_name(browser: Qwen) -> None:
    chat_id = browser.new_chat()
    body = browser.body(chat_id, "hi", None)
    del body["chat_id"]

    answer = browser.post(chat_id, body)

    assert answer.json()["data"]["details"] == "Field 'chat_id': Field required"


def test_a_body_over_the_cap_gets_the_challenge(browser: Qwen) -> None:
    chat_id = browser.new_chat()
    over = browser.body(chat_id, "x" * (128 * 1024), None)
    under = browser.body(chat_id, "y" * (120 * 1024), None)

    refused = browser.post(chat_id, over)
    served = browser.post(chat_id, under)

    assert refused.status == 200
    challenge = refused.json()
    assert challenge["ret"][0] == "FAIL_SYS_USER_VALIDATE"
    assert challenge["ret"][1].startswith("RGV587_ERROR::")
    assert "/api/v2/chat/completions/_____tmd_____/punish?x5secdata=" in challenge["data"]["url"]
    assert served.content_type.startswith("text/event-stream")
    assert served.answer


def test_errors_in_200s_carry_their_real_status(
    browser: Qwen, emulator_now: EmulatorHandle
) -> None:
    missing = browser.http.get("/api/v2/chats/no-such-chat", headers=browser.auth())
    emulator_now.set_fault("rate_limited", times=1)
    chat_id = browser.new_chat()
    limited = browser.http.post(
        "/api/v2/chat/completions",
        params={"chat_id": chat_id},
        json=browser.body(chat_id, "hi", None),
        headers=browser.auth(),
    )

    assert (missing.status_code, missing.headers["x-actual-status-code"]) == (200, "404")
    assert (limited.status_code, limited.headers["x-actual-status-code"]) == (200, "429")


# -- challenges as faults --------------------------------------------------------------------


def test_the_challenge_comes_as_json_in_a_200(browser: Qwen, emulator_now: EmulatorHandle) -> None:
    chat_id = browser.new_chat()
    emulator_now.set_fault("challenge", times=1)

    answer = browser.turn(chat_id, "hi")

    assert answer.status == 200
    assert answer.content_type.startswith("application/json")
    assert answer.json()["ret"][0] == "FAIL_SYS_USER_VALIDATE"
    assert "action=captcha" in answer.json()["data"]["url"]


def test_the_challenge_comes_inside_a_stream_after_some_answer(browser: Qwen) -> None:
    chat_id = browser.new_chat()

    answer = browser.turn(chat_id, "echo: partial answer [[fault:challenge_midstream after=2]]")

    assert answer.content_type.startswith("text/event-stream")
    assert answer.answer
    last = answer.events[-1]
    assert last["ret"][0] == "FAIL_SYS_USER_VALIDATE"
    assert "punish" in last["data"]["url"]
    assert not any(
        e.get("choices", [{}])[0].get("delta", {}).get("status") == "finished"
        for e in answer.events
        if "choices" in e
    )


def test_the_slider_fault_answers_the_page_on_any_route(emulator_now: EmulatorHandle) -> None:
    emulator_now.set_fault("slider", route="models", times=1)

    assert_slider(httpx.get(emulator_now.url + "/api/models"))
    assert httpx.get(emulator_now.url + "/api/models").status_code == 200


def test_a_bare_internal_error_can_come_inside_the_stream(browser: Qwen) -> None:
    chat_id = browser.new_chat()

    answer = browser.turn(chat_id, "echo: x [[fault:error_midstream envelope=bare]]")

    assert answer.events[-1] == {"error": "Internal error!"}


# -- the auth host -----------------------------------------------------------------------------


def test_sign_in_opens_a_browser_session_with_a_short_token_and_a_refresh_cookie() -> None:
    config = EmulatorConfig.default(access_token_ttl=90)
    with running_emulator(config) as emulator:
        signed = sign_in(emulator, ANTI_BOT)
        token = signed.json()["data"]["access_token"]
        jar = dict(signed.cookies)
        write = httpx.post(
            emulator.url + "/api/v2/chats/new",
            json={},
            headers={**ANTI_BOT, "Authorization": f"Bearer {token}"},
            cookies=jar,
        )

    assert signed.json()["success"] is True
    assert abs(claims(token)["exp"] - (time.time() + 90)) < 5
    assert {"refresh_token", "token", "acw_tc"} <= set(jar)
    assert "HttpOnly" in next(
        h for h in signed.headers.get_list("set-cookie") if h.startswith("refresh_token=")
    )
    assert write.json()["success"] is True


def test_sign_in_from_a_plain_client_meets_the_slider_page(emulator_now: EmulatorHandle) -> None:
    plain = sign_in(emulator_now, {"version": "0.3.12"})
    old_route = httpx.post(emulator_now.url + "/api/v1/auths/signin", json={"email": EMAIL})

    assert_slider(plain)
    assert_slider(old_route)


def test_a_wrong_password_is_refused_in_a_200(emulator_now: EmulatorHandle) -> None:
    body = {"email": EMAIL, "password": hashlib.sha256(b"wrong").hexdigest()}
    answer = httpx.post(emulator_now.auth_url + "/api/v2/auths/signin", json=body, headers=ANTI_BOT)

    assert answer.json()["data"]["code"] == "Bad_Request"
    assert answer.headers["x-actual-status-code"] == "400"


def test_the_jar_alone_renews_the_token_and_the_new_token_writes(
    browser: Qwen, emulator_now: EmulatorHandle
) -> None:
    account = emulator_now.account(EMAIL)

    renewed = httpx.get(
        emulator_now.auth_url + "/api/v2/auths/refresh", headers={"Cookie": account.cookies}
    )
    token = renewed.json()["data"]["access_token"]
    write = browser.http.post(
        "/api/v2/chats/new",
        json={},
        headers={**browser.auth(), "Authorization": f"Bearer {token}"},
    )

    assert token != account.token
    assert renewed.json()["data"]["refresh_token"] in account.cookies
    assert write.json()["success"] is True


def test_an_unknown_refresh_token_is_unauthorized_in_a_200(emulator_now: EmulatorHandle) -> None:
    url = emulator_now.auth_url + "/api/v2/auths/refresh"

    unknown = httpx.get(url, headers={"Cookie": "refresh_token=rt.forged"})
    missing = httpx.get(url)

    for answer in (unknown, missing):
        assert answer.status_code == 200
        assert answer.json()["data"]["code"] == "Unauthorized"
        assert answer.headers["x-actual-status-code"] == "401"


def test_a_rotated_refresh_token_stops_working() -> None:
    with running_emulator(EmulatorConfig.default(rotate_refresh_token=True)) as emulator:
        url = emulator.auth_url + "/api/v2/auths/refresh"
        jar = emulator.account(EMAIL).cookies
        first = httpx.get(url, headers={"Cookie": jar})
        again = httpx.get(url, headers={"Cookie": jar})

    assert first.json()["success"] is True
    assert "refresh_token" in dict(first.cookies)
    assert again.json()["data"]["code"] == "Unauthorized"


def test_an_expired_access_token_with_the_right_jar_is_an_auth_error(
    browser: Qwen, emulator_now: EmulatorHandle
) -> None:
    past = emulator_now.mint_token(EMAIL, exp=int(time.time()) - 5)

    answer = browser.http.post(
        "/api/v2/chats/new", json={}, headers={**browser.auth(), "Authorization": f"Bearer {past}"}
    )

    assert answer.status_code == 401
    assert "detail" in answer.json()


def test_a_session_adopts_the_jar_of_a_copied_request(emulator_now: EmulatorHandle) -> None:
    copied = "cna=c1; acw_tc=copied-firewall-cookie; token=stale; refresh_token=rt.copied"

    session = emulator_now.open_session(EMAIL, copied)
    renewed = httpx.get(emulator_now.auth_url + "/api/v2/auths/refresh", headers={"Cookie": copied})
    headers = {**session.browser_headers(), "Cookie": copied.replace("stale", session.token)}
    write = httpx.post(emulator_now.url + "/api/v2/chats/new", json={}, headers=headers)

    assert session.refresh_token == "rt.copied"
    assert renewed.json()["success"] is True
    assert write.json()["success"] is True


# -- the account's settings ------------------------------------------------------------------


def test_the_settings_route_records_memory_and_tool_switches(
    browser: Qwen, emulator_now: EmulatorHandle
) -> None:
    before = emulator_now.settings(EMAIL)
    change = {
        "memory": {"enable_memory": False, "enable_history_memory": False},
        "tools_enabled": {"web_search": False, "code_interpreter": False},
    }

    answer = browser.http.post(
        "/api/v2/users/user/settings/update", json=change, headers=browser.auth()
    )
    after = emulator_now.settings(EMAIL)
    plain = browser.http.post(
        "/api/v2/users/user/settings/update", json=change, headers=browser.bearer()
    )

    assert before["memory"]["enable_memory"] is True
    assert answer.json()["success"] is True
    assert after["memory"] == {"enable_memory": False, "enable_history_memory": False}
    assert after["tools_enabled"]["web_search"] is False
    assert after["tools_enabled"]["image_gen_tool"] is True
    assert emulator_now.requests("/settings/update")[0].json == change
    assert_slider(plain)


# -- what the emulator records ----------------------------------------------------------------


def test_the_record_shows_cookie_names_and_how_the_token_came(browser: Qwen) -> None:
    browser.new_chat()

    (recorded,) = browser.emulator.requests("/chats/new")

    assert recorded.cookie_names[-3:] == ["x-ap", "token", "refresh_token"]
    assert "acw_tc" in recorded.cookie_names
    assert recorded.auth == "both"
    assert recorded.headers["cookie"] == "<redacted>"
    assert recorded.headers["bx-v"] == "2.5.36"


# -- the older era -----------------------------------------------------------------------------


def test_in_the_2026_06_era_a_token_alone_writes_and_there_is_no_auth_host(
    emulator_2026_06: EmulatorHandle,
) -> None:
    emulator = emulator_2026_06
    client = Qwen(emulator)
    chat_id = client.new_chat()

    reply = client.turn(chat_id, "echo: old times")
    missing = client.http.get(f"/api/v2/chats/{'x' * 8}", headers=client.auth())
    auth_host = httpx.get(emulator.url + "/auth/api/v2/auths/refresh")

    assert emulator.era == "2026-06"
    assert reply.answer == "old times"
    assert "x-actual-status-code" not in missing.headers
    assert auth_host.status_code == 404
    client.http.close()
