"""A Messages stream over raw HTTP: pings while the upstream is quiet, a client that hangs up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway_support import eventually, in_flight, running_gateway, session_settings, stored_nodes
from qwen_proxy.server.run import BackgroundGateway

pytestmark = pytest.mark.integration

BODY = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 500,
    "stream": True,
    "messages": [{"role": "user", "content": "echo: patience pays"}],
}


@pytest.fixture
def pinging(emulator: Any, tmp_path: Path) -> Iterator[BackgroundGateway]:
    """A gateway that pings after 0.2 s of silence, one request per account at a time."""
    settings = session_settings(emulator, tmp_path, ping_interval=0.2, account_max_concurrent=1)
    with running_gateway(settings) as running:
        yield running


def event_names(raw: str) -> list[str]:
    return [line.removeprefix("event: ") for line in raw.splitlines() if line.startswith("event:")]


def answer_text(raw: str) -> str:
    datas = [orjson.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]
    return "".join(d["delta"].get("text", "") for d in datas if d["type"] == "content_block_delta")


def squeeze(names: list[str]) -> list[str]:
    """Runs of one event name as one."""
    return [name for i, name in enumerate(names) if i == 0 or names[i - 1] != name]


def test_a_slow_first_token_starts_the_stream_and_pings_until_it_comes(
    emulator: Any, pinging: BackgroundGateway
) -> None:
    emulator.set_knobs(ttfb=1.0)
    raw = httpx.post(pinging.url + "/v1/messages", json=BODY, timeout=10).text
    names = event_names(raw)
    assert names[0] == "message_start"
    assert names[1] == "ping"
    assert squeeze(names)[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert answer_text(raw) == "patience pays"


def test_a_quiet_upstream_mid_answer_gets_pings_between_deltas(
    emulator: Any, pinging: BackgroundGateway
) -> None:
    emulator.set_knobs(event_delay=0.5, answer_length=6, delta_max=3)
    body = {**BODY, "messages": [{"role": "user", "content": "hello"}]}
    names = event_names(httpx.post(pinging.url + "/v1/messages", json=body, timeout=10).text)
    first_delta = names.index("content_block_delta")
    assert "ping" in names[first_delta:]
    assert names[-1] == "message_stop"


def test_a_quick_upstream_gets_no_ping(emulator: Any, gateway: BackgroundGateway) -> None:
    names = event_names(httpx.post(gateway.url + "/v1/messages", json=BODY, timeout=10).text)
    assert "ping" not in names


def test_a_failure_before_the_first_token_after_the_stream_started_is_an_error_event(
    emulator: Any, pinging: BackgroundGateway
) -> None:
    emulator.set_fault("stall", seconds=0.6)
    emulator.set_fault("capacity")
    raw = httpx.post(pinging.url + "/v1/messages", json=BODY, timeout=10).text
    names = event_names(raw)
    assert names[0] == "message_start"
    assert names[-1] == "error"
    assert '"overloaded_error"' in raw


@pytest.mark.slow
def test_hanging_up_mid_stream_frees_the_account_and_records_nothing(
    emulator: Any, pinging: BackgroundGateway
) -> None:
    # one event every 2 s: without the disconnect watch the gateway would sit on the upstream
    emulator.set_knobs(event_delay=2.0, answer_length=60)
    with (
        httpx.Client(base_url=pinging.url, timeout=10) as http,
        http.stream("POST", "/v1/messages", json=BODY) as response,
    ):
        assert response.status_code == 200
        first = next(response.iter_bytes())
        assert b"message_start" in first
    assert eventually(lambda: in_flight(pinging) == 0, timeout=3.0)
    emulator.set_knobs(event_delay=0.0)
    started = time.monotonic()
    after = httpx.post(pinging.url + "/v1/messages", json=BODY, timeout=10)
    assert after.status_code == 200
    assert time.monotonic() - started < 5.0, "the next request waited for a leaked slot"
    assert stored_nodes(pinging) == 1
