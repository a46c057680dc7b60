"""Named client keys against a running gateway: who gets in, under which limits, what they used."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_support import MODEL, running_gateway, session_settings
from qwen_proxy.keys import add_key, key_rows, revoke_key
from qwen_proxy.keys.file import FileKeyStore

pytestmark = pytest.mark.integration

CHAT = "/v1/chat/completions"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "echo: hi"}]}
#: how soon a running gateway must follow a change of the keys
FOLLOW_WITHIN = 2.0


def add(data_dir: Path, name: str, **limits: Any) -> str:
    """Add a key as ``qwen-proxy keys add`` does; its secret."""
    _, secret = asyncio.run(add_key(FileKeyStore(data_dir), name, now=time.time(), **limits))
    return secret


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def until(check: Any, within: float = FOLLOW_WITHIN) -> float:
    """Seconds until ``check()`` holds (fails after ``within``): the gateway polls its keys."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > within:
            pytest.fail(f"not followed within {within} s")
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def keyed(emulator: Any, tmp_path: Path) -> Any:
    """A gateway with one environment key ("k-env") and the keys in tmp_path/keys.json."""
    settings = session_settings(emulator, tmp_path, api_keys=("k-env",), admin_key="admin-secret")
    with running_gateway(settings) as gateway:
        yield gateway


def test_a_named_key_works_and_environment_keys_keep_working_unlimited(
    keyed: Any, tmp_path: Path
) -> None:
    secret = add(tmp_path, "alice", rpm=100)
    until(lambda: httpx.post(keyed.url + CHAT, json=BODY, headers=auth(secret)).status_code == 200)
    answer = httpx.post(keyed.url + CHAT, json=BODY, headers=auth(secret))
    assert answer.json()["choices"][0]["message"]["content"] == "hi"
    assert answer.headers["x-ratelimit-limit-requests"] == "100"
    env = httpx.post(keyed.url + CHAT, json=BODY, headers=auth("k-env"))
    assert env.status_code == 200
    assert not any(name.startswith("x-ratelimit") for name in env.headers)


def test_a_revoked_key_is_refused_within_two_seconds(keyed: Any, tmp_path: Path) -> None:
    secret = add(tmp_path, "bob")
    until(lambda: httpx.get(keyed.url + "/v1/models", headers=auth(secret)).status_code == 200)
    asyncio.run(revoke_key(FileKeyStore(tmp_path), "bob", now=time.time()))
    until(lambda: httpx.get(keyed.url + "/v1/models", headers=auth(secret)).status_code == 401)
    refused = httpx.post(keyed.url + CHAT, json=BODY, headers=auth(secret))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert "revoked" in refused.json()["error"]["message"]


def test_an_expired_key_is_a_401(emulator: Any, tmp_path: Path) -> None:
    secret = add(tmp_path, "temp", expires_at=time.time() + 0.5)
    time.sleep(0.6)
    with running_gateway(session_settings(emulator, tmp_path)) as gateway:
        refused = httpx.post(gateway.url + CHAT, json=BODY, headers=auth(secret))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert "expired" in refused.json()["error"]["message"]


def test_named_keys_alone_turn_client_auth_on(emulator: Any, tmp_path: Path) -> None:
    secret = add(tmp_path, "alice")
    with running_gateway(session_settings(emulator, tmp_path)) as gateway:
        assert httpx.post(gateway.url + CHAT, json=BODY).status_code == 401
        assert httpx.post(gateway.url + CHAT, json=BODY, headers=auth(secret)).status_code == 200


def test_over_the_rpm_is_a_429_in_openais_shape_with_retry_after(
    emulator: Any, tmp_path: Path
) -> None:
    secret = add(tmp_path, "alice", rpm=2)
    with running_gateway(session_settings(emulator, tmp_path)) as gateway:
        answers = [
            httpx.post(gateway.url + CHAT, json=BODY, headers=auth(secret)) for _ in range(3)
        ]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert [a.headers["x-ratelimit-remaining-requests"] for a in answers] == ["1", "0", "0"]
    refused = answers[2]
    error = refused.json()["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert error["type"] == "rate_limit_error"
    assert set(error) == {"message", "type", "param", "code"}
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-limit-requests"] == "2"
    assert refused.headers["x-ratelimit-reset-requests"].endswith(("s", "ms"))


def test_tokens_of_replies_count_against_the_tpm(emulator: Any, tmp_path: Path) -> None:
    secret = add(tmp_path, "alice", tpm=5)
    with running_gateway(session_settings(emulator, tmp_path)) as gateway:
        first = httpx.post(gateway.url + CHAT, json=BODY, headers=auth(secret))
        assert first.status_code == 200
        assert first.json()["usage"]["total_tokens"] >= 5
        assert first.headers["x-ratelimit-limit-tokens"] == "5"
        second = httpx.post(gateway.url + CHAT, json=BODY, headers=auth(secret))
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "rate_limit_exceeded"
    assert "tokens per minute" in second.json()["error"]["message"]
    assert second.headers["x-ratelimit-remaining-tokens"] == "0"


async def test_requests_over_the_concurrency_limit_are_refused_while_others_run(
    emulator: Any, tmp_path: Path
) -> None:
    _, secret = await add_key(FileKeyStore(tmp_path), "alice", now=time.time(), concurrency=2)
    emulator.set_knobs(event_delay=0.05, answer_length=200)
    settings = session_settings(emulator, tmp_path)
    with running_gateway(settings) as gateway:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
            answers = await asyncio.gather(
                *(client.post(CHAT, json=BODY, headers=auth(secret)) for _ in range(5))
            )
            codes = sorted(a.status_code for a in answers)
            assert codes == [200, 200, 429, 429, 429]
            refused = next(a for a in answers if a.status_code == 429)
            assert refused.headers["retry-after"] == "1"
            assert "concurrent" in refused.json()["error"]["message"]
            # the slots are free again once those replies ended
            again = await client.post(CHAT, json=BODY, headers=auth(secret))
            assert again.status_code == 200


def test_a_model_outside_the_keys_list_is_model_not_found(emulator: Any, tmp_path: Path) -> None:
    secret = add(tmp_path, "alice", models=("qwen-max-latest",))
    with running_gateway(session_settings(emulator, tmp_path)) as gateway:
        refused = httpx.post(gateway.url + CHAT, json=BODY, headers=auth(secret))
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "model_not_found"
    assert refused.json()["error"]["param"] == "model"


def test_usage_of_a_key_reaches_the_key_store(emulator: Any, tmp_path: Path) -> None:
    secret = add(tmp_path, "alice")
    with running_gateway(session_settings(emulator, tmp_path)) as gateway:
        for _ in range(2):
            assert httpx.post(gateway.url + CHAT, json=BODY, headers=auth(secret)).is_success
    # the gateway writes what is left at shutdown (and every two seconds while it runs)
    usage = asyncio.run(key_rows(FileKeyStore(tmp_path), now=time.time()))[0]["usage"]
    assert usage["requests"] == 2
    assert usage["today_requests"] == 2
    assert usage["input_tokens"] > 0
    assert usage["output_tokens"] > 0


def test_the_admin_routes_add_list_and_revoke_keys(keyed: Any) -> None:
    admin = {"Authorization": "Bearer admin-secret"}
    assert httpx.get(keyed.url + "/admin/keys").status_code == 401
    made = httpx.post(
        keyed.url + "/admin/keys",
        json={"name": "carol", "rpm": 10, "models": [MODEL]},
        headers=admin,
    )
    assert made.status_code == 201
    secret = made.json()["key"]
    assert httpx.post(keyed.url + CHAT, json=BODY, headers=auth(secret)).status_code == 200
    listing = httpx.get(keyed.url + "/admin/keys", headers=admin).json()["data"]
    assert [row["name"] for row in listing] == ["carol"]
    assert secret not in str(listing)
    assert "digest" not in listing[0]
    assert httpx.delete(keyed.url + "/admin/keys/carol", headers=admin).json()["revoked"]
    assert httpx.post(keyed.url + CHAT, json=BODY, headers=auth(secret)).status_code == 401
    assert httpx.delete(keyed.url + "/admin/keys/carol", headers=admin).status_code == 404
    bad = httpx.post(keyed.url + "/admin/keys", json={"name": "x", "rpm": "ten"}, headers=admin)
    assert bad.status_code == 400
