"""Request bodies and headers sent to Qwen: new chat, completion, browser headers."""

from __future__ import annotations

import pytest

from qwen_proxy.config import DEFAULT_BX_V, DEFAULT_USER_AGENT, DEFAULT_WEB_VERSION
from qwen_proxy.qwen.headers import browser_headers
from qwen_proxy.qwen.payloads import completion_body, completion_url, new_chat_body

pytestmark = pytest.mark.unit


def headers(**overrides: object) -> dict[str, str]:
    args: dict[str, object] = {
        "token": "tok123",
        "cookies": None,
        "web_version": DEFAULT_WEB_VERSION,
        "bx_v": DEFAULT_BX_V,
        "user_agent": DEFAULT_USER_AGENT,
        "chat_id": None,
        "request_id": "req-1",
    }
    args.update(overrides)
    return browser_headers(**args)  # type: ignore[arg-type]


def test_new_chat_body_matches_the_web_app() -> None:
    assert new_chat_body("qwen3.7-plus", now_ms=1790000000123) == {
        "title": "New Chat",
        "models": ["qwen3.7-plus"],
        "chat_mode": "normal",
        "chat_type": "t2t",
        "timestamp": 1790000000123,
        "project_id": "",
    }


def test_first_turn_completion_body_has_every_field_the_web_app_sends() -> None:
    body = completion_body(
        chat_id="chat-1",
        model="qwen3.7-plus",
        parent_id=None,
        content="Hello",
        fid="fid-1",
        child_id="child-1",
        now_s=1790000000,
    )
    assert list(body) == [
        "stream",
        "version",
        "incremental_output",
        "chat_id",
        "chatId",
        "chat_mode",
        "model",
        "parent_id",
        "parentId",
        "messages",
        "timestamp",
    ]
    assert body["stream"] is True
    assert body["version"] == "2.1"
    assert body["incremental_output"] is True
    assert body["parent_id"] is None
    (message,) = body["messages"]
    assert message["fid"] == "fid-1"
    assert message["parentId"] is None
    assert message["parent_id"] is None
    assert message["childrenIds"] == ["child-1"]
    assert message["role"] == "user"
    assert message["content"] == "Hello"
    assert message["user_action"] == "chat"
    assert message["files"] == []
    assert message["timestamp"] == 1790000000
    assert message["models"] == ["qwen3.7-plus"]
    assert message["chat_type"] == message["sub_chat_type"] == "t2t"
    assert message["extra"] == {"meta": {"subChatType": "t2t"}}
    assert message["feature_config"] == {
        "output_schema": "phase",
        "thinking_enabled": False,
        "thinking_mode": "Fast",
        "auto_thinking": False,
        "thinking_format": "summary",
        "research_mode": "normal",
        "auto_search": False,
        "code_interpreter": False,
        "plugins_enabled": False,
        "function_calling": False,
        "enable_tools": False,
        "enable_function_call": False,
        "tool_choice": "none",
    }


def test_continuation_with_thinking_names_the_parent_everywhere() -> None:
    parts = [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "image": "https://x/i.png"},
    ]
    body = completion_body(
        chat_id="chat-1",
        model="qwen3.7-max",
        parent_id="resp-9",
        content=parts,
        fid="f",
        child_id="c",
        now_s=1,
        thinking=True,
        thinking_format="detail",
        chat_type="search",
        files=[{"type": "image", "url": "https://x/i.png"}],
    )
    message = body["messages"][0]
    assert body["parent_id"] == message["parentId"] == message["parent_id"] == "resp-9"
    assert message["content"] == parts
    assert message["files"] == [{"type": "image", "url": "https://x/i.png"}]
    config = message["feature_config"]
    assert (config["thinking_enabled"], config["thinking_mode"]) == (True, "Thinking")
    assert config["thinking_format"] == "detail"
    assert config["auto_search"] is True


def test_completion_url_carries_the_chat_id() -> None:
    assert (
        completion_url("https://chat.qwen.ai/", "7d1f")
        == "https://chat.qwen.ai/api/v2/chat/completions?chat_id=7d1f"
    )
    assert completion_url("", "7d1f") == "/api/v2/chat/completions?chat_id=7d1f"


def test_headers_authenticate_by_bearer_and_token_cookie() -> None:
    sent = headers()
    assert sent["Authorization"] == "Bearer tok123"
    assert sent["Cookie"] == "token=tok123"


def test_token_cookie_is_merged_into_browser_cookies_without_duplicates() -> None:
    sent = headers(cookies="cna=abc; token=stale; ssxmod_itna=xyz")
    cookies = sent["Cookie"].split("; ")
    assert sorted(cookies) == ["cna=abc", "ssxmod_itna=xyz", "token=tok123"]


def test_headers_look_like_the_web_app_in_chrome() -> None:
    sent = headers(chat_id="chat-1", timezone="Mon Jul 06 2026 16:43:58 GMT+0800")
    assert sent["Referer"] == "https://chat.qwen.ai/c/chat-1"
    assert sent["Origin"] == "https://chat.qwen.ai"
    assert sent["source"] == "web"
    assert sent["version"] == "0.2.68"
    assert sent["bx-v"] == "2.5.36"
    assert sent["x-request-id"] == "req-1"
    assert sent["Accept"] == "text/event-stream"
    assert sent["Content-Type"] == "application/json"
    assert sent["X-Accel-Buffering"] == "no"
    assert sent["User-Agent"] == DEFAULT_USER_AGENT
    assert sent["timezone"] == "Mon Jul 06 2026 16:43:58 GMT+0800"
    assert sent["sec-fetch-mode"] == "cors"
    chrome_major = DEFAULT_USER_AGENT.split("Chrome/")[1].split(".")[0]
    assert f'"Google Chrome";v="{chrome_major}"' in sent["sec-ch-ua"]
    assert sent["sec-ch-ua-platform"] == '"Windows"'


def test_headers_without_chat_refer_to_the_home_page() -> None:
    sent = headers(accept="application/json, text/plain, */*")
    assert sent["Referer"] == "https://chat.qwen.ai/"
    assert sent["Accept"] == "application/json, text/plain, */*"
    assert "timezone" not in sent


def test_completion_body_names_chat_and_parent_in_both_spellings_the_upstream_checks() -> None:
    first = completion_body(
        chat_id="chat-1",
        model="qwen3.7-plus",
        parent_id=None,
        content="Hi",
        fid="f",
        child_id="c",
        now_s=1,
    )
    later = completion_body(
        chat_id="chat-1",
        model="qwen3.7-plus",
        parent_id="resp-1",
        content="Again",
        fid="f2",
        child_id="c2",
        now_s=2,
    )

    assert first["chat_id"] == first["chatId"] == "chat-1"
    assert first["parent_id"] is None
    assert first["parentId"] is None
    assert later["parent_id"] == later["parentId"] == "resp-1"
    for body in (first, later):
        (message,) = body["messages"]
        assert message["id"] is None
        assert message["files"] == []
        assert message["feature_config"]["output_schema"] == "phase"
