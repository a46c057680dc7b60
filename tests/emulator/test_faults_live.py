from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from emulator_client import Qwen
from qwen_proxy.emulator.config import EmulatorConfig
from qwen_proxy.emulator.testing import EmulatorHandle, running_emulator

pytestmark = pytest.mark.integration


def chat_turn(qwen: Qwen, text: str = "hi") -> Any:
    return qwen.turn(qwen.new_chat(), text)


@pytest.mark.parametrize(
    ("fault", "params", "expected"),
    [
        ("waf_json", {}, {"ret": ["FAIL_SYS_USER_VALIDATE", "Please complete the verification"]}),
        ("capacity", {}, {"ret": ["RGV587_ERROR::SM::the system is crowded, try again later"]}),
        ("rate_limited", {"num": 3}, {"data": {"code": "RateLimited", "num": 3}}),
        (
            "bad_request_internal",
            {},
            {"data": {"code": "Bad_Request", "details": "Internal error"}},
        ),
        ("expired_token", {"form": "unauthorized"}, {"data": {"code": "Unauthorized"}}),
    ],
)
def test_json_faults_answer_in_place_of_the_stream(
    qwen: Qwen, emulator: EmulatorHandle, fault: str, params: dict[str, Any], expected: Any
) -> None:
    emulator.set_fault(fault, **params)
    reply = chat_turn(qwen)
    assert reply.status == 200
    body = reply.json()
    for key, value in expected.items():
        if isinstance(value, dict):
            assert value.items() <= body[key].items()
        else:
            assert body[key] == value


def test_waf_page_is_html_on_200(qwen: Qwen, emulator: EmulatorHandle) -> None:
    emulator.set_fault("waf_html")
    reply = chat_turn(qwen)
    assert reply.status == 200
    assert reply.content_type.startswith("text/html")
    assert b"aliyun_waf" in reply.raw


def test_expired_token_fault_defaults_to_401_detail(qwen: Qwen, emulator: EmulatorHandle) -> None:
    emulator.set_fault("expired_token")
    reply = chat_turn(qwen)
    assert reply.status == 401
    assert "detail" in reply.json()


def test_http_5xx_uses_the_configured_status(qwen: Qwen, emulator: EmulatorHandle) -> None:
    emulator.set_fault("http_5xx", status=503)
    assert chat_turn(qwen).status == 503


def test_missing_user_agent_gets_the_waf_page(qwen: Qwen, emulator: EmulatorHandle) -> None:
    emulator.set_fault("missing_user_agent_waf", route="any")
    with_agent = qwen.http.get("/api/models", headers=qwen.auth())
    assert with_agent.status_code == 200
    assert with_agent.headers["content-type"].startswith("application/json")
    without = qwen.http.get("/api/models", headers={**qwen.auth(), "User-Agent": ""})
    assert without.headers["content-type"].startswith("text/html")


def test_reset_aborts_the_connection_before_any_byte(qwen: Qwen, emulator: EmulatorHandle) -> None:
    chat_id = qwen.new_chat()
    emulator.set_fault("reset", times=1)
    with pytest.raises(httpx.TransportError):
        qwen.turn(chat_id, "hi")
    assert qwen.turn(chat_id, "hi").answer == "Hello! This is turn 1."


def test_cut_after_ends_the_stream_without_finished(qwen: Qwen, emulator: EmulatorHandle) -> None:
    emulator.set_fault("cut_after", n=2)
    reply = chat_turn(qwen)
    assert len(reply.events) == 2
    assert b'"finished"' not in reply.raw


def test_stall_delays_the_first_byte(qwen: Qwen, emulator: EmulatorHandle) -> None:
    chat_id = qwen.new_chat()
    emulator.set_fault("stall", seconds=0.3)
    started = time.monotonic()
    reply = qwen.turn(chat_id, "hi")
    assert time.monotonic() - started >= 0.3
    assert reply.answer == "Hello! This is turn 1."


def test_trickle_spaces_the_events(qwen: Qwen, emulator: EmulatorHandle) -> None:
    chat_id = qwen.new_chat()
    emulator.set_fault("trickle", delay=0.02)
    started = time.monotonic()
    reply = qwen.turn(chat_id, "echo: 0123456789")
    assert time.monotonic() - started >= 0.02 * (len(reply.events) - 1)
    assert reply.answer == "0123456789"


def test_malformed_line_is_inserted_at_its_position(qwen: Qwen, emulator: EmulatorHandle) -> None:
    emulator.set_fault("malformed_line", at=1)
    reply = chat_turn(qwen)
    blocks = reply.raw.split(b"\n\n")
    assert blocks[1] == b"data: {not json"
    assert reply.answer == "Hello! This is turn 1."


@pytest.mark.parametrize(
    ("envelope", "code", "where"),
    [("error", "data_inspection_failed", "error"), ("success", "internal_error", "data")],
)
def test_error_midstream_follows_partial_answer(
    qwen: Qwen, emulator: EmulatorHandle, envelope: str, code: str, where: str
) -> None:
    emulator.set_fault("error_midstream", after=2, envelope=envelope, code=code)
    reply = chat_turn(qwen, "long answer 40")
    assert reply.events[-1][where]["code"] == code
    assert sum(1 for e in reply.events if "choices" in e) == 2


def test_empty_stream_is_a_silent_200(qwen: Qwen, emulator: EmulatorHandle) -> None:
    emulator.set_fault("empty_stream")
    reply = chat_turn(qwen)
    assert reply.status == 200
    assert reply.content_type.startswith("text/event-stream")
    assert reply.raw == b""


def test_think_then_stop_sends_only_thinking(qwen: Qwen, emulator: EmulatorHandle) -> None:
    emulator.set_fault("think_then_stop")
    reply = chat_turn(qwen)
    assert reply.phase_text("thinking_summary") == ""
    assert any("summary_thought" in str(e) for e in reply.events)
    assert reply.answer == ""


def test_cumulative_deltas_carry_the_whole_answer_so_far(
    qwen: Qwen, emulator: EmulatorHandle
) -> None:
    emulator.set_fault("cumulative")
    reply = chat_turn(qwen, "echo: abcdefghijklmnop")
    texts = [e["choices"][0]["delta"]["content"] for e in reply.events[1:-1]]
    assert texts[-1] == "abcdefghijklmnop"
    assert all("abcdefghijklmnop".startswith(t) for t in texts)


def test_faults_can_target_other_routes(qwen: Qwen, emulator: EmulatorHandle) -> None:
    emulator.set_fault("waf_html", route="models,new_chat")
    assert (
        qwen.http.get("/api/models", headers=qwen.auth())
        .headers["content-type"]
        .startswith("text/html")
    )
    body = {"title": "New Chat", "models": ["qwen3.7-plus"]}
    new = qwen.http.post("/api/v2/chats/new", json=body, headers=qwen.auth())
    assert new.headers["content-type"].startswith("text/html")
    emulator.set_fault("expired_token", route="auth_verify")
    assert qwen.http.get("/api/v1/auths/", headers=qwen.auth()).status_code == 401


def test_times_account_and_chat_scopes_limit_a_fault(qwen: Qwen, emulator: EmulatorHandle) -> None:
    other = Qwen(emulator, emulator.add_account("b@example.com").token)
    emulator.set_fault("rate_limited", times=1, account="b@example.com")
    assert chat_turn(qwen).status == 200
    assert chat_turn(qwen).answer == "Hello! This is turn 1."
    assert other.turn(other.new_chat(), "hi").json()["data"]["code"] == "RateLimited"
    assert other.turn(other.new_chat(), "hi").answer == "Hello! This is turn 1."
    target = qwen.new_chat()
    emulator.set_fault("capacity", chat_id=target)
    assert "ret" in qwen.turn(target, "hi").json()
    assert chat_turn(qwen).answer == "Hello! This is turn 1."
    emulator.clear_faults()
    assert qwen.turn(target, "hi").answer == "Hello! This is turn 1."


def test_magic_words_trigger_a_fault_for_that_request_only(qwen: Qwen) -> None:
    chat_id = qwen.new_chat()
    limited = qwen.turn(chat_id, "hi [[fault:rate_limited num=3]]").json()
    assert limited["data"]["num"] == 3
    assert qwen.turn(chat_id, "echo: ok").answer == "ok"


def test_global_faults_from_the_config_apply_from_the_start() -> None:
    config = EmulatorConfig.default()
    config.faults = ["http_5xx:status=502,route=models,times=1"]
    with running_emulator(config) as emu:
        client = Qwen(emu)
        assert client.http.get("/api/models", headers=client.auth()).status_code == 502
        assert client.http.get("/api/models", headers=client.auth()).status_code == 200
