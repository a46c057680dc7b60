"""The cleanup against the emulator with a short TTL: it deletes the gateway's forgotten chats,
one by one, and nothing else (checked in the emulator's record of delete calls)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway_support import MODEL, gateway_settings, running_gateway

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TTL = 1.5


def chat_ids(emulator: Any) -> set[str]:
    return {chat["id"] for chat in emulator.chats()}


def test_forgotten_chats_are_deleted_and_live_or_foreign_ones_kept(
    emulator_2026_06: Any, tmp_path: Path
) -> None:
    # the 2026-06 era: the test makes a "browser" chat with the account's token alone
    emulator = emulator_2026_06
    settings = gateway_settings(
        emulator.url,
        emulator.token,
        tmp_path,
        store="sqlite",
        conversation_ttl=TTL,
        cleanup_interval=0.3,
        cleanup_pace=0.0,
    )
    # a chat the account's owner made in the browser: not the gateway's to delete
    foreign = httpx.post(
        emulator.url + "/api/v2/chats/new",
        json={"models": [MODEL]},
        headers={"Authorization": f"Bearer {emulator.token}"},
    ).json()["data"]["id"]
    with running_gateway(settings) as gateway:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "A one-off question."}]
        )
        (forgotten,) = chat_ids(emulator) - {foreign}
        # a conversation that goes on for longer than the TTL, one turn every 0.3 s
        history: list[dict[str, Any]] = [{"role": "user", "content": "Let us keep talking."}]
        live: str | None = None
        deadline = time.monotonic() + 4 * TTL
        while time.monotonic() < deadline:
            reply = client.chat.completions.create(model=MODEL, messages=history)  # type: ignore[arg-type]
            history += [
                {"role": "assistant", "content": reply.choices[0].message.content},
                {"role": "user", "content": "And then?"},
            ]
            if live is None:
                (live,) = chat_ids(emulator) - {foreign, forgotten}
            deleted = {d["chat_id"] for d in emulator.deletions()}
            if forgotten in deleted and time.monotonic() > deadline - TTL:
                break
            time.sleep(0.3)
        deletions = emulator.deletions()
    assert {"account": emulator.accounts[0].email, "chat_id": forgotten, "deleted": 1} in deletions
    deleted = [d["chat_id"] for d in deletions]
    assert live not in deleted
    assert foreign not in deleted
    assert None not in deleted  # never the delete-all route
    assert chat_ids(emulator) == {foreign, live}
