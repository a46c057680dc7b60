"""A single-account gateway is not benched by one bad moment of the upstream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_support import MODEL, running_gateway, session_settings

pytestmark = pytest.mark.integration

CHAT = "/v1/chat/completions"


def ask(gateway: Any) -> httpx.Response:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "echo: still there?"}]}
    return httpx.post(gateway.url + CHAT, json=body, timeout=30)


def test_one_failed_request_with_its_retries_does_not_bench_the_only_account(
    emulator: Any, tmp_path: Path
) -> None:
    settings = session_settings(emulator, tmp_path, retries=2)
    with running_gateway(settings) as gateway:
        emulator.set_fault("http_5xx", status=502)
        failed = ask(gateway)
        assert failed.status_code == 502
        emulator.clear_faults()
        # the upstream is back: the next client is served at once, not refused for 30 s
        response = ask(gateway)
        assert response.status_code == 200, response.text


def test_after_failures_across_requests_the_only_account_is_tried_again(
    emulator: Any, tmp_path: Path
) -> None:
    settings = session_settings(emulator, tmp_path, retries=0)
    with running_gateway(settings) as gateway:
        emulator.set_fault("http_5xx", status=500)
        for _ in range(3):  # three failing requests in a row: the account rests
            assert ask(gateway).status_code == 502
        emulator.clear_faults()
        response = ask(gateway)
        assert response.status_code == 200, response.text
        assert ask(gateway).status_code == 200
