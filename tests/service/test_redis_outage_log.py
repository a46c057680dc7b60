"""An operator learns from the log, once, that Redis is gone, and again when it is back."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_support import MODEL, running_gateway, session_settings
from qwen_proxy.server.run import listen_socket

pytestmark = pytest.mark.integration


def dead_redis_url() -> str:
    sock = listen_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connections are refused at once
    return f"redis://127.0.0.1:{port}/0"


def test_a_redis_down_at_startup_is_logged_once_however_many_requests_fail(
    emulator: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = session_settings(emulator, tmp_path, store=dead_redis_url())
    with caplog.at_level(logging.INFO, logger="qwen_proxy"), running_gateway(settings) as gateway:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(3):
            response = httpx.post(gateway.url + "/v1/chat/completions", json=body, timeout=30)
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "store_unavailable"
    down = [r for r in caplog.records if "does not answer" in r.getMessage()]
    lines = sorted({r.getMessage() for r in down})
    # one line per Redis user (conversations, account state, client keys), however many
    # requests failed
    assert 1 <= len(down) <= 3, lines
    assert all("answers 503 until it is back" in line for line in lines)
