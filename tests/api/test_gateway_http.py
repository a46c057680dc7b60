"""The gateway's HTTP face: auth, limits, routes, health — over a real socket."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway_support import MODEL, gateway_settings, running_gateway, session_settings

pytestmark = pytest.mark.integration

CHAT = "/v1/chat/completions"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "echo: hi"}]}


@pytest.fixture
def keyed_gateway(emulator: Any, tmp_path: Path) -> Any:
    settings = session_settings(emulator, tmp_path, api_keys=("k-one", "k-two"))
    with running_gateway(settings) as gateway:
        yield gateway


def test_missing_key_is_401_when_keys_are_set(keyed_gateway: Any) -> None:
    response = httpx.post(keyed_gateway.url + CHAT, json=BODY)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_wrong_key_is_401_and_right_key_works(keyed_gateway: Any) -> None:
    wrong = openai.OpenAI(base_url=keyed_gateway.url + "/v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(**BODY)  # type: ignore[call-overload]
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    right = openai.OpenAI(base_url=keyed_gateway.url + "/v1", api_key="k-two", max_retries=0)
    assert right.chat.completions.create(**BODY).choices[0].message.content == "hi"  # type: ignore[call-overload]


def test_health_needs_no_key_and_ready_reports_ready(keyed_gateway: Any) -> None:
    assert httpx.get(keyed_gateway.url + "/health").json() == {"status": "ok"}
    assert httpx.get(keyed_gateway.url + "/ready").status_code == 200


def test_not_ready_without_any_account(emulator: Any, tmp_path: Path) -> None:
    with running_gateway(gateway_settings(emulator.url, None, tmp_path)) as gateway:
        response = httpx.get(gateway.url + "/ready")
        assert response.status_code == 503
        assert "account" in response.json()["error"]["message"]
        chat = httpx.post(gateway.url + CHAT, json=BODY)
        assert chat.status_code == 503


def test_body_over_limit_is_413(emulator: Any, tmp_path: Path) -> None:
    settings = session_settings(emulator, tmp_path, max_body_bytes=2048)
    with running_gateway(settings) as gateway:
        big = {"model": MODEL, "messages": [{"role": "user", "content": "x" * 5000}]}
        response = httpx.post(gateway.url + CHAT, json=big)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "request_too_large"


def test_invalid_json_is_400(gateway: Any) -> None:
    response = httpx.post(
        gateway.url + CHAT, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_wrong_content_type_is_415(gateway: Any) -> None:
    response = httpx.post(
        gateway.url + CHAT, content=b"model=x", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415


def test_unknown_route_and_wrong_method_are_openai_errors(gateway: Any) -> None:
    response = httpx.get(gateway.url + "/v1/nothing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    response = httpx.get(gateway.url + CHAT)
    assert response.status_code == 405


def test_ignored_sampling_params_are_listed_in_a_header(gateway: Any) -> None:
    response = httpx.post(gateway.url + CHAT, json={**BODY, "temperature": 0.2, "seed": 7})
    assert response.status_code == 200
    assert response.headers["x-qwen-proxy-ignored-params"] == "seed,temperature"


def test_serve_refuses_public_bind_without_keys(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "qwen_proxy", "serve", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "QWEN_PROXY_API_KEYS" in result.stderr
