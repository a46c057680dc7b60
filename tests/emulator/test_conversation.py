from __future__ import annotations

import pytest

from emulator_client import Qwen
from qwen_proxy.emulator.config import EmulatorConfig
from qwen_proxy.emulator.testing import EmulatorHandle, running_emulator

pytestmark = pytest.mark.integration


def test_continuing_from_response_id_keeps_context_and_a_new_root_does_not(qwen: Qwen) -> None:
    chat_id = qwen.new_chat()
    first = qwen.turn(chat_id, "Hi! my name is Ada")
    assert first.content_type.startswith("text/event-stream")
    second = qwen.turn(chat_id, "what is my name?", first.created["response_id"])
    assert second.answer == "Your name is Ada."
    third = qwen.turn(chat_id, "how many turns?", second.created["response_id"])
    assert third.answer == "I see 3 user turns."
    fresh = qwen.turn(chat_id, "what is my name?", None)
    assert fresh.answer == "I don't know your name."


def test_created_ids_name_the_new_user_and_assistant_nodes(
    qwen: Qwen, emulator: EmulatorHandle
) -> None:
    chat_id = qwen.new_chat()
    reply = qwen.turn(chat_id, "hello", fid="my-fid")
    assert reply.created["chat_id"] == chat_id
    assert reply.created["parent_id"] == "my-fid"
    nodes = emulator.chats()[0]["chat"]["history"]["messages"]
    assistant = nodes[reply.created["response_id"]]
    assert assistant["role"] == "assistant"
    assert assistant["parentId"] == "my-fid"
    assert assistant["content"] == reply.answer


def test_regenerating_from_the_same_parent_makes_sibling_branches(
    qwen: Qwen, emulator: EmulatorHandle
) -> None:
    chat_id = qwen.new_chat()
    root = qwen.turn(chat_id, "my pet is Rex").created["response_id"]
    qwen.turn(chat_id, "my pet is Tom", root)
    other = qwen.turn(chat_id, "what is my pet?", root)
    assert other.answer == "Your pet is Rex."
    nodes = emulator.chats()[0]["chat"]["history"]["messages"]
    assert len(nodes[root]["childrenIds"]) == 2


def test_an_unknown_parent_is_refused_with_the_service_message(qwen: Qwen) -> None:
    chat_id = qwen.new_chat()
    other_chat = qwen.new_chat()
    foreign = qwen.turn(other_chat, "hi").created["response_id"]
    for parent in ("root", foreign):
        data = qwen.turn(chat_id, "hi", parent).json()["data"]
        assert data == {
            "code": "Bad_Request",
            "details": f"Invalid input chat parent_id {parent} is not exist.",
        }


def test_stream_false_unknown_model_and_missing_chat_id_are_refused(qwen: Qwen) -> None:
    chat_id = qwen.new_chat()
    body = qwen.body(chat_id, "hi", None)
    assert qwen.post(chat_id, {**body, "stream": False}).json()["data"]["code"] == "Bad_Request"
    assert qwen.post(chat_id, {**body, "model": "gpt-4"}).json()["data"]["code"] == "Not_Found"
    assert qwen.post(None, body).json()["data"]["code"] == "Bad_Request"
    assert qwen.post(chat_id, {**body, "messages": []}).json()["data"]["code"] == "Bad_Request"
    by_name = qwen.post(chat_id, {**body, "model": "Qwen3-Max"})
    assert by_name.answer == "Hello! This is turn 1."


def test_a_second_completion_in_a_busy_chat_is_chat_in_progress(
    qwen: Qwen, emulator: EmulatorHandle
) -> None:
    chat_id = qwen.new_chat()
    emulator.set_knobs(event_delay=0.05)
    body = qwen.body(chat_id, "long answer 60", None)
    params = {"chat_id": chat_id}
    path = "/api/v2/chat/completions"
    with qwen.http.stream("POST", path, params=params, json=body, headers=qwen.auth()) as busy:
        next(busy.iter_raw())
        clash = qwen.turn(chat_id, "hi").json()["data"]
        assert clash == {"code": "CHAT_IN_PROGRESS", "details": "The chat is in progress!"}
    emulator.set_knobs(event_delay=0.0)
    assert qwen.turn(chat_id, "hi").status == 200


def test_thinking_formats_and_the_phase_schema_switch(qwen: Qwen) -> None:
    chat_id = qwen.new_chat()
    summary = qwen.turn(chat_id, "what is my name?", feature={"thinking_enabled": True})
    phases = [e["choices"][0]["delta"].get("phase") for e in summary.events if "choices" in e]
    assert phases.count("thinking_summary") >= 3
    assert summary.answer == "I don't know your name."
    think = qwen.turn(
        chat_id, "hi", feature={"thinking_enabled": True, "thinking_format": "detail"}
    )
    assert "The user asks: hi" in think.phase_text("think")
    bare = qwen.turn(chat_id, "hi", feature={"output_schema": None})
    assert b'"phase"' not in bare.raw


def test_search_mode_sends_web_sources_first(qwen: Qwen) -> None:
    chat_id = qwen.new_chat("search")
    reply = qwen.turn(chat_id, "tides today", chat_type="search")
    delta = reply.events[1]["choices"][0]["delta"]
    assert delta["name"] == "web_search"
    assert len(delta["extra"]["web_search_info"]) == 2


def _session(emu: EmulatorHandle, text: str) -> bytes:
    client = Qwen(emu)
    chat_id = client.new_chat()
    return client.turn(chat_id, text).raw


def test_fragmented_stream_reassembles_byte_exact_and_cuts_inside_characters() -> None:
    def config(fragment: bool) -> EmulatorConfig:
        base = EmulatorConfig.default(auth_era="2026-06")
        base.seed, base.fixed_time, base.fragment = 7, 1790000000, fragment
        return base

    with running_emulator(config(True)) as cut_emu:
        fragmented = _session(cut_emu, "long answer 3000")
        writes = cut_emu.requests("/chat/completions")[-1].writes
    with running_emulator(config(False)) as whole_emu:
        whole = _session(whole_emu, "long answer 3000")
        assert whole_emu.requests("/chat/completions")[-1].writes == [len(whole)]
    assert fragmented == whole
    assert sum(writes) == len(whole)
    boundaries, position = [], 0
    for size in writes[:-1]:
        position += size
        boundaries.append(position)
    inside = [b for b in boundaries if 0x80 <= whole[b] < 0xC0]
    assert len(inside) >= 5
    assert len(writes) > 50
