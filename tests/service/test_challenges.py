"""Challenges (the risk engine's JSON, the firewall's slider page) before or inside the stream:
the account goes to its captcha state with the link kept, the request moves to another account
or ends with a clear error, and no challenge is ever retried on the same account or turned
into an empty reply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from accounts_support import email, pooled_gateway, several_accounts, states, write_accounts
from gateway_support import MODEL
from qwen_proxy.emulator.testing import EmulatorHandle
from qwen_proxy.server.run import BackgroundGateway

pytestmark = pytest.mark.integration

COMPLETIONS = "/api/v2/chat/completions"


def post(gateway: BackgroundGateway, content: str, **extra: Any) -> httpx.Response:
    body = {"model": MODEL, "messages": [{"role": "user", "content": content}], **extra}
    return httpx.post(gateway.url + "/v1/chat/completions", json=body, timeout=30)


def sent_by(emulator: EmulatorHandle, name: str) -> int:
    """How many completions account ``name`` posted (its chats' user turns)."""
    return sum(
        1
        for chat in emulator.chats(email(name))
        for message in chat["chat"]["messages"]
        if message["role"] == "user"
    )


@pytest.mark.parametrize("fault", ["challenge", "slider", "capacity"])
def test_a_challenge_before_the_stream_moves_the_request_and_keeps_the_link(
    tmp_path: Path, fault: str
) -> None:
    with several_accounts("ab") as emulator:
        write_accounts(tmp_path, emulator, "ab")
        emulator.set_fault(fault, account=email("a"))
        with pooled_gateway(emulator, tmp_path) as gateway:
            answers = [post(gateway, f"echo: {i}") for i in range(3)]
            rows = states(gateway)
            challenged = len(
                [r for r in emulator.requests(COMPLETIONS) if r.method == "POST"]
            ) - sent_by(emulator, "b")

    assert [r.json()["choices"][0]["message"]["content"] for r in answers] == ["0", "1", "2"]
    assert rows["a"]["state"] == "quarantined"
    if fault != "capacity":  # the emulator's RGV587-only answer names no page
        assert "punish" in rows["a"]["verify_url"]
        assert rows["a"]["verify_url"].startswith(("https://", "http://127.0.0.1"))
    assert challenged == 1  # tried once, never again


def test_a_challenge_inside_the_stream_before_any_text_moves_the_request(
    tmp_path: Path,
) -> None:
    with several_accounts("ab") as emulator:
        write_accounts(tmp_path, emulator, "ab")
        # whichever account serves first meets it
        emulator.set_fault("challenge_midstream", after=0, times=1)
        with pooled_gateway(emulator, tmp_path) as gateway:
            answer = post(gateway, "echo: moved", stream=True)
            rows = states(gateway).values()

    assert answer.status_code == 200
    assert '"content":"moved"' in answer.text.replace(" ", "")
    (challenged,) = [row for row in rows if row["state"] == "quarantined"]
    assert "punish" in challenged["verify_url"]


def test_a_challenge_after_some_text_ends_the_stream_with_a_captcha_error(
    emulator: EmulatorHandle, gateway: BackgroundGateway
) -> None:
    emulator.set_knobs(event_delay=0.02)  # the first text reaches the client before it
    emulator.set_fault("challenge_midstream", after=2)
    response = post(gateway, "echo: a long enough answer for two deltas", stream=True)

    events = [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")
    ]
    errors = [event["error"] for event in events if "error" in event]
    text = "".join(
        (event.get("choices") or [{}])[0].get("delta", {}).get("content") or "" for event in events
    )
    assert response.status_code == 200
    assert text  # what came before stays the client's
    assert [error["code"] for error in errors] == ["upstream_captcha"]


def test_a_challenge_after_some_text_is_an_error_for_a_whole_reply_never_an_empty_one(
    emulator: EmulatorHandle, gateway: BackgroundGateway
) -> None:
    emulator.set_knobs(event_delay=0.02)
    emulator.set_fault("challenge_midstream", after=2)
    response = post(gateway, "echo: a long enough answer for two deltas")

    assert response.status_code != 200
    assert response.json()["error"]["code"] == "upstream_captcha"


def test_a_challenge_when_another_account_is_free_soon_is_a_429_with_the_wait(
    tmp_path: Path,
) -> None:
    with several_accounts("ab") as emulator:
        write_accounts(tmp_path, emulator, "ab")
        with pooled_gateway(emulator, tmp_path) as gateway:
            emulator.set_fault("rate_limited", account=email("b"), num=1, times=1)
            post(gateway, "echo: a serves")
            post(gateway, "echo: b is limited, a serves")  # b rests for an hour
            emulator.set_fault("challenge", account=email("a"))
            response = post(gateway, "echo: nobody now")

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "upstream_captcha"
    assert 3000 < int(response.headers["retry-after"]) <= 3600
