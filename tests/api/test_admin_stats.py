"""``GET /admin/stats``: the live numbers follow the traffic of the OpenAI face."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from accounts_support import admin, ask, pooled_gateway, several_accounts, write_accounts
from gateway_support import MODEL
from qwen_proxy.emulator.testing import EmulatorHandle
from qwen_proxy.server.run import BackgroundGateway

pytestmark = pytest.mark.integration


@pytest.fixture
def emulator1() -> Iterator[EmulatorHandle]:
    with several_accounts(("a",)) as handle:
        yield handle


@pytest.fixture
def gateway(emulator1: EmulatorHandle, tmp_path: Path) -> Iterator[BackgroundGateway]:
    """A gateway over account a with no retries (each fault reaches the client once)."""
    write_accounts(tmp_path, emulator1, "a")
    with pooled_gateway(emulator1, tmp_path, retries=0) as running:
        yield running


@pytest.fixture
def client(gateway: BackgroundGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)


def stats(gateway: BackgroundGateway) -> dict[str, object]:
    response = admin(gateway, "GET", "/admin/stats")
    assert response.status_code == 200
    data: dict[str, object] = response.json()
    return data


def test_a_fresh_gateway_reports_no_traffic(gateway: BackgroundGateway) -> None:
    numbers = stats(gateway)

    assert numbers["requests"] == 0
    assert numbers["ttft_p50"] is None
    assert numbers["open_streams"] == 0
    assert numbers["accounts"] == {"active": 1}


def test_streamed_and_whole_replies_count_with_their_first_token(
    gateway: BackgroundGateway, client: openai.OpenAI
) -> None:
    ask(client, "one whole reply")
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "one stream"}], stream=True
    )
    for _ in stream:
        pass

    numbers = stats(gateway)

    assert numbers["requests"] == 2
    assert isinstance(numbers["requests_per_second"], float)
    assert numbers["requests_per_second"] > 0
    assert isinstance(numbers["ttft_p50"], float)
    assert isinstance(numbers["ttft_p95"], float)
    assert 0 <= numbers["ttft_p50"] <= numbers["ttft_p95"] < 5
    assert numbers["errors"] == {}
    assert numbers["open_streams"] == 0


def test_errors_count_by_the_class_the_client_was_given(
    gateway: BackgroundGateway, client: openai.OpenAI, emulator1: EmulatorHandle
) -> None:
    emulator1.set_fault("http_5xx", times=1)
    with pytest.raises(openai.APIStatusError):
        ask(client, "fails before the first byte")
    emulator1.set_fault("cut_after", times=1, n=4)
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "fails mid-way"}], stream=True
        ):
            pass
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=[])

    numbers = stats(gateway)

    assert numbers["requests"] == 3
    errors = numbers["errors"]
    assert isinstance(errors, dict)
    assert sum(errors.values()) == 3
    assert errors.get("upstream_server_error") == 1
    assert errors.get("empty_array") == 1  # the validation error's own code
    assert errors.get("upstream_stream_cut") == 1
    assert numbers["open_streams"] == 0


def test_stats_need_the_admin_key(gateway: BackgroundGateway) -> None:
    response = admin(gateway, "GET", "/admin/stats", headers={"Authorization": "Bearer no"})

    assert response.status_code == 401
