"""``/admin/conversations``: the newest chats the gateway remembers, and purging one."""

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
def emulator2() -> Iterator[EmulatorHandle]:
    with several_accounts(("a", "b")) as handle:
        yield handle


@pytest.fixture
def gateway(emulator2: EmulatorHandle, tmp_path: Path) -> Iterator[BackgroundGateway]:
    """A gateway over accounts a and b, admin routes on, conversations in memory."""
    write_accounts(tmp_path, emulator2, "ab")
    with pooled_gateway(emulator2, tmp_path) as running:
        yield running


@pytest.fixture
def client(gateway: BackgroundGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)


def test_the_newest_conversation_comes_first_with_its_account_and_turns(
    gateway: BackgroundGateway, client: openai.OpenAI, emulator2: EmulatorHandle
) -> None:
    ask(client, "first conversation")
    history = [{"role": "user", "content": "second conversation"}]
    reply = client.chat.completions.create(model=MODEL, messages=history)  # type: ignore[arg-type]
    history += [
        {"role": "assistant", "content": reply.choices[0].message.content or ""},
        {"role": "user", "content": "and a second turn"},
    ]
    client.chat.completions.create(model=MODEL, messages=history)  # type: ignore[arg-type]

    listing = admin(gateway, "GET", "/admin/conversations")

    assert listing.status_code == 200
    rows = listing.json()["data"]
    assert len(rows) == 2
    newest, oldest = rows
    assert newest["turns"] == 4
    assert newest["nodes"] == 2
    assert oldest["turns"] == 2
    assert newest["last_used_at"] >= oldest["last_used_at"]
    assert {newest["account"], oldest["account"]} <= {"a", "b"}
    assert newest["model"]
    assert newest["created_at"] <= newest["last_used_at"]
    # no message text and no tenant reach the page
    assert "second conversation" not in listing.text
    assert "tenant" not in newest


def test_the_limit_keeps_only_the_newest(gateway: BackgroundGateway, client: openai.OpenAI) -> None:
    for n in range(3):
        ask(client, f"conversation {n}")

    rows = admin(gateway, "GET", "/admin/conversations?limit=2").json()["data"]

    assert len(rows) == 2


@pytest.mark.parametrize("limit", ["0", "501", "two", "-1"])
def test_a_limit_out_of_range_is_refused_naming_the_parameter(
    gateway: BackgroundGateway, limit: str
) -> None:
    refused = admin(gateway, "GET", f"/admin/conversations?limit={limit}")

    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "limit"


def test_a_purged_conversation_continues_in_a_new_chat_with_its_history(
    gateway: BackgroundGateway, client: openai.OpenAI, emulator2: EmulatorHandle
) -> None:
    history = [{"role": "user", "content": "My name is Ada. Remember it."}]
    reply = client.chat.completions.create(model=MODEL, messages=history)  # type: ignore[arg-type]
    (row,) = admin(gateway, "GET", "/admin/conversations").json()["data"]

    purged = admin(gateway, "DELETE", f"/admin/conversations/{row['chat_id']}")
    history += [
        {"role": "assistant", "content": reply.choices[0].message.content or ""},
        {"role": "user", "content": "What is my name?"},
    ]
    answer = client.chat.completions.create(model=MODEL, messages=history)  # type: ignore[arg-type]

    assert purged.status_code == 200
    assert purged.json() == {"chat_id": row["chat_id"], "deleted": True, "nodes": 1}
    (after,) = admin(gateway, "GET", "/admin/conversations").json()["data"]
    assert after["chat_id"] != row["chat_id"]  # a new chat, the history folded into it
    assert "Ada" in (answer.choices[0].message.content or "")


def test_purging_an_unknown_chat_answers_404(gateway: BackgroundGateway) -> None:
    response = admin(gateway, "DELETE", "/admin/conversations/no-such-chat")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "conversation_not_found"


def test_conversations_need_the_admin_key(gateway: BackgroundGateway) -> None:
    response = admin(gateway, "GET", "/admin/conversations", headers={"Authorization": "Bearer x"})

    assert response.status_code == 401


def test_other_methods_are_refused(gateway: BackgroundGateway) -> None:
    assert admin(gateway, "POST", "/admin/conversations").status_code == 405
    assert admin(gateway, "GET", "/admin/conversations/some-chat").status_code == 405
    assert admin(gateway, "DELETE", "/admin/conversations/a/b").status_code == 404
