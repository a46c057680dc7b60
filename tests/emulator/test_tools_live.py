"""The emulator over HTTP with a tool prompt: calls streamed, thinking forced, results read."""

from __future__ import annotations

from typing import Any

import pytest

from emulator_client import Qwen, Streamed
from qwen_proxy.tools import ToolChoice, split_reply, tools_prompt, turn_reminder
from qwen_proxy.tools.syntax import render_result
from tools_support import TOOLS

pytestmark = pytest.mark.integration

REMINDER = turn_reminder(TOOLS, ToolChoice())


def with_tools(user: str) -> str:
    return f"<system>\n{tools_prompt(TOOLS)}\n</system>\n\n{user}\n\n{REMINDER}"


def last_thoughts(reply: Streamed) -> list[Any]:
    thoughts = [
        e["choices"][0]["delta"]["extra"]["summary_thought"]["content"]
        for e in reply.events
        if "choices" in e and "summary_thought" in e["choices"][0]["delta"].get("extra", {})
    ]
    return list(thoughts[-1])


def test_a_tool_prompt_is_answered_with_a_call_in_the_answer_phase(qwen: Qwen) -> None:
    chat_id = qwen.new_chat()
    reply = qwen.turn(chat_id, with_tools('[[tools:native]] call read_file {"path": "x.py"}'))
    calls = split_reply(reply.answer, TOOLS).calls
    assert [(c.name, c.arguments) for c in calls] == [("read_file", '{"path": "x.py"}')]


def test_a_call_in_thinking_forces_a_thinking_phase(qwen: Qwen) -> None:
    chat_id = qwen.new_chat()
    reply = qwen.turn(chat_id, with_tools("[[tools:in_thinking]] go"))
    assert reply.answer == ""
    thought = last_thoughts(reply)[-1]
    assert [c.name for c in split_reply(thought, TOOLS).calls] == ["read_file"]


def test_the_result_sent_in_the_same_chat_is_read_back(qwen: Qwen) -> None:
    chat_id = qwen.new_chat()
    first = qwen.turn(chat_id, with_tools("read the file"))
    assert split_reply(first.answer, TOOLS).calls
    result = render_result("call_9", "read_file", "def main(): pass")
    second = qwen.turn(chat_id, f"{result}\n\n{REMINDER}", first.created["response_id"])
    assert second.answer == "Result of read_file (call_9): def main(): pass"


def test_magic_tool_words_do_not_reach_the_plain_model(qwen: Qwen) -> None:
    chat_id = qwen.new_chat()
    assert qwen.turn(chat_id, "[[tools:native]] echo: hi").answer == "hi"
