"""A gateway whose account is a browser session, against today's upstream: what it sends.

The emulator (2026-10 era) lets a write call through only with the session's anti-bot values,
its own cookie jar and the version header; each test also reads the recorded request header
by header against what the browser sent in its copy.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import openai
import pytest

from accounts_support import pooled_gateway
from gateway_support import MODEL
from qwen_proxy.accounts import Credentials, load_accounts, save_accounts
from qwen_proxy.accounts.curl_import import allowed_hosts, import_curl, read_copied_request
from qwen_proxy.config import DEFAULT_WEB_VERSION
from qwen_proxy.emulator.records import RecordedRequest
from qwen_proxy.emulator.testing import EmulatorHandle
from session_support import adopted_copy

pytestmark = pytest.mark.integration

EMAIL = "demo@example.com"
JS_DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} \d{2} \d{4} \d{2}:\d{2}:\d{2} ")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def copied_headers(text: str) -> dict[str, str]:
    """The headers of a copy by lower-case name."""
    return {name.lower(): value for name, value in read_copied_request(text).headers}


def serve_one_chat(emulator: EmulatorHandle, data_dir: Path, text: str) -> str:
    session = import_curl(text, allowed_hosts(emulator.url))
    save_accounts(data_dir / "accounts.json", [session.credentials("main")])
    with pooled_gateway(emulator, data_dir) as gateway:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
        reply = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "echo: sent like a browser"}]
        )
    return reply.choices[0].message.content or ""


def one(emulator: EmulatorHandle, path: str) -> RecordedRequest:
    (recorded,) = [r for r in emulator.requests(path) if r.method == "POST"]
    return recorded


@pytest.mark.parametrize("copy", ["chrome_bash", "firefox_bash"])
def test_every_write_call_sends_the_browsers_own_headers_one_by_one(
    emulator_now: EmulatorHandle, tmp_path: Path, copy: str
) -> None:
    text = adopted_copy(emulator_now, copy, EMAIL)
    browser = copied_headers(text)

    answer = serve_one_chat(emulator_now, tmp_path, text)

    assert answer == "sent like a browser"
    new_chat, completion = one(emulator_now, "/chats/new"), one(emulator_now, "/chat/completions")
    chat_id = completion.query["chat_id"]
    for recorded, referer in (
        (new_chat, "https://chat.qwen.ai/"),
        (completion, f"https://chat.qwen.ai/c/{chat_id}"),
    ):
        sent = recorded.headers
        assert sent["bx-ua"] == browser["bx-ua"]
        assert sent["bx-umidtoken"] == browser["bx-umidtoken"]
        assert sent["bx-v"] == browser["bx-v"]
        assert sent["user-agent"] == browser["user-agent"]
        assert sent["accept-language"] == browser["accept-language"]
        assert sent["version"] == browser.get("version", DEFAULT_WEB_VERSION)
        assert sent["source"] == "web"
        assert sent["origin"] == "https://chat.qwen.ai"
        assert sent["referer"] == referer
        assert sent["connection"] == "keep-alive"
        assert sent["x-accel-buffering"] == "no"
        assert sent["sec-fetch-dest"] == "empty"
        assert sent["sec-fetch-mode"] == "cors"
        assert sent["sec-fetch-site"] == "same-origin"
        assert sent["content-type"] == "application/json"
        for hint in ("sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform"):
            assert sent.get(hint) == browser.get(hint)  # Firefox sends none
        zone = browser["timezone"].split(" ", 5)[-1]
        assert JS_DATE.match(sent["timezone"])
        assert sent["timezone"].endswith(zone)
        assert UUID.match(sent["x-request-id"])
        assert recorded.auth == "both"
        assert recorded.cookie_names == list(import_curl(text).cookie_names)
    assert new_chat.headers["x-request-id"] != completion.headers["x-request-id"]


def test_the_completion_body_is_the_one_todays_upstream_checks(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    serve_one_chat(emulator_now, tmp_path, adopted_copy(emulator_now, "chrome_bash", EMAIL))

    completion = one(emulator_now, "/chat/completions")
    body: dict[str, Any] = completion.json
    (message,) = body["messages"]

    assert body["chat_id"] == body["chatId"] == completion.query["chat_id"]
    assert body["parent_id"] is None
    assert body["parentId"] is None
    assert body["version"] == "2.1"
    assert body["incremental_output"] is True
    assert message["id"] is None
    assert message["parentId"] is None
    assert message["parent_id"] is None
    assert message["files"] == []
    assert message["user_action"] == "chat"
    assert message["feature_config"]["output_schema"] == "phase"
    assert message["extra"] == {"meta": {"subChatType": "t2t"}}


def test_a_token_only_account_meets_the_firewall_of_todays_upstream(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    save_accounts(tmp_path / "accounts.json", [Credentials(name="old", token=emulator_now.token)])
    with pooled_gateway(emulator_now, tmp_path) as gateway:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "echo: hi"}]
            )

    stopped = emulator_now.requests("/chats/new")
    assert stopped
    assert "bx-ua" not in stopped[0].headers


def test_an_old_accounts_file_is_migrated_when_the_gateway_starts_and_keeps_serving(
    emulator_2026_06: EmulatorHandle, tmp_path: Path
) -> None:
    # an account that is still a single token, where the upstream still takes one
    emulator = emulator_2026_06
    path = tmp_path / "accounts.json"
    old_layout = {"version": 1, "accounts": [{"name": "a", "token": emulator.token}]}
    path.write_text(json.dumps(old_layout))
    path.chmod(0o600)

    with pooled_gateway(emulator, tmp_path) as gateway:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
        reply = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "echo: still here"}]
        )

    assert reply.choices[0].message.content == "still here"
    assert json.loads(path.read_text())["version"] == 2
    assert load_accounts(path) == [Credentials(name="a", token=emulator.token)]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
