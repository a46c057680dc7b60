from __future__ import annotations

import hashlib
import time

import httpx
import pytest

from emulator_client import Qwen
from qwen_proxy.emulator.testing import EmulatorHandle

pytestmark = pytest.mark.integration


def test_models_are_served_on_both_paths_in_the_fixture_shape(qwen: Qwen) -> None:
    one = qwen.http.get("/api/models", headers=qwen.auth()).json()
    two = qwen.http.get("/api/v2/models/", headers=qwen.auth()).json()
    assert one == two
    ids = [m["id"] for m in one["data"]]
    assert "qwen3.7-plus" in ids
    assert one["data"][0]["info"]["meta"]["abilities"]["thinking"] == 3


def test_create_chat_ignores_unknown_fields(qwen: Qwen) -> None:
    body = {"title": "New Chat", "models": ["qwen3.7-plus"], "whatever": {"x": 1}}
    reply = qwen.http.post("/api/v2/chats/new", json=body, headers=qwen.auth()).json()
    assert reply["success"] is True
    assert len(reply["data"]["id"]) == 36


def test_auth_verify_names_the_user(qwen: Qwen, emulator: EmulatorHandle) -> None:
    me = qwen.http.get("/api/v1/auths/", headers=qwen.auth()).json()
    assert me["email"] == emulator.accounts[0].email
    assert me["role"] == "user"


def test_token_cookie_works_and_the_header_wins_over_it(
    qwen: Qwen, emulator: EmulatorHandle
) -> None:
    cookie_only = httpx.get(emulator.url + "/api/v1/auths/", cookies={"token": emulator.token})
    assert cookie_only.status_code == 200
    other = emulator.add_account("b@example.com")
    both = httpx.get(
        emulator.url + "/api/v1/auths/",
        headers={"Authorization": f"Bearer {other.token}", "Cookie": f"token={emulator.token}"},
    )
    assert both.json()["email"] == "b@example.com"


def test_expired_and_unknown_tokens_get_401_detail(qwen: Qwen, emulator: EmulatorHandle) -> None:
    past = emulator.mint_token(emulator.accounts[0].email, exp=int(time.time()) - 5)
    for headers in ({"Authorization": f"Bearer {past}"}, qwen.auth("not.a.token"), {}):
        response = qwen.http.get("/api/v1/auths/", headers=headers)
        assert response.status_code == 401
        assert "detail" in response.json()


def test_expire_token_makes_the_old_token_expired_and_hands_out_a_new_one(
    qwen: Qwen, emulator: EmulatorHandle
) -> None:
    old = emulator.token
    new = emulator.expire_token(emulator.accounts[0].email)
    assert qwen.http.get("/api/v1/auths/", headers=qwen.auth(old)).status_code == 401
    assert qwen.http.get("/api/v1/auths/", headers=qwen.auth(new)).status_code == 200


def test_unauthorized_form_is_selectable() -> None:
    from qwen_proxy.emulator.config import EmulatorConfig
    from qwen_proxy.emulator.testing import running_emulator

    config = EmulatorConfig.default()
    config.auth_error_form = "unauthorized"
    with running_emulator(config) as emu:
        response = httpx.get(emu.url + "/api/v1/auths/", headers={"Authorization": "Bearer x"})
    assert response.status_code == 200
    assert response.json()["data"]["code"] == "Unauthorized"


def test_signin_takes_the_sha256_of_the_password(emulator_2026_06: EmulatorHandle) -> None:
    # the chat host's own sign-in, from before the auth host
    emulator = emulator_2026_06
    qwen = Qwen(emulator)
    account = emulator.accounts[0]
    digest = hashlib.sha256(account.password.encode()).hexdigest()
    good = qwen.http.post("/api/v1/auths/signin", json={"email": account.email, "password": digest})
    assert good.status_code == 200
    token = good.json()["token"]
    assert qwen.http.get("/api/v1/auths/", headers=qwen.auth(token)).status_code == 200
    plain = {"email": account.email, "password": account.password}
    bad = qwen.http.post("/api/v1/auths/signin", json=plain)
    assert bad.status_code == 400
    assert "detail" in bad.json()


def test_chats_are_listed_detailed_and_deleted(qwen: Qwen) -> None:
    first = qwen.new_chat()
    second = qwen.new_chat()
    qwen.turn(first, "hello there")
    listed = qwen.http.get("/api/v2/chats/?page=1&exclude_project=true", headers=qwen.auth()).json()
    assert {c["id"] for c in listed["data"]} == {first, second}
    detail = qwen.http.get(f"/api/v2/chats/{first}", headers=qwen.auth()).json()["data"]
    roles = [m["role"] for m in detail["chat"]["messages"]]
    assert roles == ["user", "assistant"]
    assert len(detail["chat"]["history"]["messages"]) == 2
    gone = qwen.http.delete(f"/api/v2/chats/{first}", headers=qwen.auth()).json()
    assert gone == {"success": True, "request_id": gone["request_id"], "data": {"status": True}}
    again = qwen.http.delete(f"/api/v2/chats/{first}", headers=qwen.auth()).json()
    assert again["data"]["code"] == "Not_Found"
    qwen.http.delete("/api/v2/chats/", headers=qwen.auth())
    listed = qwen.http.get("/api/v2/chats/", headers=qwen.auth()).json()
    assert listed["data"] == []


def test_a_chat_is_invisible_to_another_account(qwen: Qwen, emulator: EmulatorHandle) -> None:
    chat_id = qwen.new_chat()
    other = emulator.add_account("other@example.com")
    stranger = Qwen(emulator, other.token)
    assert stranger.turn(chat_id, "hi").json()["data"]["code"] == "Not_Found"
    detail = stranger.http.get(f"/api/v2/chats/{chat_id}", headers=stranger.auth()).json()
    assert detail["data"]["code"] == "Not_Found"


def test_sts_token_hands_out_a_local_url_that_refuses_an_unsigned_put_today(qwen: Qwen) -> None:
    # in the 2026-10 era a PUT to the presigned read URL is refused, as the service does: the
    # bytes go to the object store signed with the grant (tests/uploads/test_upload_live.py)
    body = {"filename": "cat.png", "filesize": 4, "filetype": "image"}
    v1 = qwen.http.post("/api/v1/files/getstsToken", json=body, headers=qwen.auth()).json()
    v2 = qwen.http.post("/api/v2/files/getstsToken", json=body, headers=qwen.auth()).json()
    assert v1["file_url"].startswith(qwen.emulator.url)
    assert "endpoint" in v2["data"]
    put = qwen.http.put(v1["file_url"], content=b"\x89PNG", headers={"Content-Type": "image/png"})
    assert put.status_code == 403


def test_requests_are_recorded_with_credentials_redacted(
    qwen: Qwen, emulator: EmulatorHandle
) -> None:
    chat_id = qwen.new_chat()
    qwen.turn(chat_id, "hi", fid="f-1")
    recorded = emulator.requests("/chat/completions")[-1]
    assert recorded.query == {"chat_id": chat_id}
    assert recorded.json["messages"][0]["fid"] == "f-1"
    assert recorded.headers["authorization"] == "<redacted>"
    assert emulator.token not in str(emulator.requests())
    emulator.clear_requests()
    emulator.set_knobs(record=False)
    qwen.turn(chat_id, "hi")
    assert emulator.requests() == []


def test_every_delete_call_is_recorded_even_with_recording_off(
    qwen: Qwen, emulator: EmulatorHandle
) -> None:
    emulator.set_knobs(record=False)
    kept, gone = qwen.new_chat(), qwen.new_chat()
    assert qwen.http.delete(f"/api/v2/chats/{gone}", headers=qwen.auth()).json()["success"]
    missing = qwen.http.delete("/api/v2/chats/no-such-chat", headers=qwen.auth()).json()
    assert missing["success"] is False
    assert [c["id"] for c in emulator.chats()] == [kept]
    qwen.http.delete("/api/v2/chats/", headers=qwen.auth())
    email = emulator.accounts[0].email
    assert emulator.deletions() == [
        {"account": email, "chat_id": gone, "deleted": 1},
        {"account": email, "chat_id": "no-such-chat", "deleted": 0},
        {"account": email, "chat_id": None, "deleted": 1},
    ]
    assert emulator.chats() == []
