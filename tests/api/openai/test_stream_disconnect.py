"""A client that hangs up mid-stream: the gateway stops the upstream read and frees the account."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_support import eventually, in_flight, running_gateway, session_settings, stored_nodes
from qwen_proxy.server.run import BackgroundGateway

pytestmark = pytest.mark.integration

_STREAM_BODY = {
    "model": "qwen3.7-plus",
    "stream": True,
    "messages": [{"role": "user", "content": "hi"}],
}


@pytest.mark.slow
def test_hanging_up_mid_stream_frees_the_account_and_records_nothing(
    emulator: Any, tmp_path: Path
) -> None:
    # one account that serves one request at a time: a leaked slot would block the next request
    settings = session_settings(emulator, tmp_path, account_max_concurrent=1)
    # one event every 2 s: without the disconnect watch the gateway would sit on the upstream
    emulator.set_knobs(event_delay=2.0, answer_length=60)
    with running_gateway(settings) as gateway:
        with (
            httpx.Client(base_url=gateway.url, timeout=10) as http,
            http.stream("POST", "/v1/chat/completions", json=_STREAM_BODY) as response,
        ):
            assert response.status_code == 200
            first = next(response.iter_bytes())
            assert b'"role":"assistant"' in first
            assert b"[DONE]" not in first
        assert eventually(lambda: in_flight(gateway) == 0, timeout=3.0)
        emulator.set_knobs(event_delay=0.0)
        started = time.monotonic()
        after = httpx.post(gateway.url + "/v1/chat/completions", json=_STREAM_BODY, timeout=10)
        assert after.status_code == 200
        assert time.monotonic() - started < 5.0, "the next request waited for a leaked slot"
        # only the completed second reply is recorded, never the one the client hung up on
        assert stored_nodes(gateway) == 1


def test_a_stream_read_to_the_end_is_recorded_and_frees_the_account(
    emulator: Any, gateway: BackgroundGateway
) -> None:
    emulator.set_knobs(event_delay=0.0)
    body = _STREAM_BODY
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        text = http.post("/v1/chat/completions", json=body).text
    assert text.rstrip().endswith("data: [DONE]")
    assert in_flight(gateway) == 0
    assert stored_nodes(gateway) == 1


@pytest.mark.slow
def test_an_open_stream_holds_its_account_slot_while_the_upstream_generates(
    emulator: Any, tmp_path: Path
) -> None:
    # What `accounts list` and the admin routes show matches what the pool enforces. The slot
    # is given back once the upstream's reply is complete and recorded, which is just before
    # the client gets the tail (finish chunk, usage, [DONE]): a client still reading then
    # sees its account free, rightly so, as the upstream is done with it.
    settings = session_settings(emulator, tmp_path, account_max_concurrent=1)
    emulator.set_knobs(event_delay=0.3, answer_length=12, delta_max=2)
    with (
        running_gateway(settings) as gateway,
        httpx.Client(base_url=gateway.url, timeout=10) as http,
        http.stream("POST", "/v1/chat/completions", json=_STREAM_BODY) as response,
    ):
        chunks = response.iter_bytes()
        seen = b""
        while b'"content":"' not in seen.split(b'"role":"assistant"', 1)[-1]:
            seen += next(chunks)
        # the first text is in; five more events are ~1.5 s away
        assert in_flight(gateway) == 1
        seen += b"".join(chunks)
        assert seen.rstrip().endswith(b"data: [DONE]")
        assert eventually(lambda: in_flight(gateway) == 0)
