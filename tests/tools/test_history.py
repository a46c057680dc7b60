"""Past calls and results are rendered in the block syntax, the same way every time."""

from __future__ import annotations

import pytest

from qwen_proxy.messages import ChatMessage, ToolCall
from qwen_proxy.tools import capped, render_assistant, rewrite_history
from qwen_proxy.tools.history import RESULT_CAP
from tools_support import TOOLS, sieve_text

pytestmark = pytest.mark.unit

CALLS = (
    ToolCall("call_1", "read_file", '{"path": "a.py"}'),
    ToolCall("call_2", "web_search", '{"query": "qwen"}'),
)
HISTORY = (
    ChatMessage("system", "Be brief."),
    ChatMessage("user", "Read a.py and search qwen."),
    ChatMessage("assistant", "<think>plan</think>On it.", tool_calls=CALLS),
    ChatMessage("tool", "print('hi')", tool_call_id="call_1"),
    ChatMessage("tool", "3 results", tool_call_id="call_2"),
)


def test_assistant_calls_become_blocks_after_the_text() -> None:
    assert render_assistant(HISTORY[2], TOOLS) == (
        "On it.\n\n"
        '<qp:call id="call_1">\n{"name": "read_file", "arguments": {"path": "a.py"}}\n'
        "</qp:call>\n"
        '<qp:call id="call_2">\n{"name": "client_web_search", "arguments": {"query": "qwen"}}\n'
        "</qp:call>"
    )


def test_rendered_calls_read_back_as_the_same_calls() -> None:
    outcome = sieve_text(render_assistant(HISTORY[2], TOOLS))
    assert outcome.calls == [(c.name, c.arguments) for c in CALLS]


def test_tool_results_become_user_messages_with_their_id_and_name() -> None:
    rewritten = rewrite_history(HISTORY, TOOLS)
    assert len(rewritten) == len(HISTORY)
    assert rewritten[:2] == HISTORY[:2]
    assert rewritten[2].role == "assistant"
    assert rewritten[2].tool_calls == ()
    assert rewritten[3] == ChatMessage(
        "user", '<qp:result id="call_1" name="read_file">\nprint(\'hi\')\n</qp:result>'
    )
    assert rewritten[4].text == (
        '<qp:result id="call_2" name="client_web_search">\n3 results\n</qp:result>'
    )


def test_a_result_whose_call_lies_in_the_known_prefix_still_gets_its_name() -> None:
    (rewritten,) = rewrite_history(HISTORY[3:4], TOOLS, earlier=HISTORY[:3])
    assert 'name="read_file"' in rewritten.text


def test_a_result_for_an_unknown_call_keeps_its_id() -> None:
    (rewritten,) = rewrite_history([ChatMessage("tool", "ok", tool_call_id="zz")], TOOLS)
    assert rewritten.text == '<qp:result id="zz">\nok\n</qp:result>'


def test_rendering_is_stable_across_requests() -> None:
    again = tuple(
        ChatMessage(m.role, m.text, tool_calls=m.tool_calls, tool_call_id=m.tool_call_id)
        for m in HISTORY
    )
    assert rewrite_history(again, TOOLS) == rewrite_history(HISTORY, TOOLS)


def test_arguments_that_are_not_json_are_kept_as_written() -> None:
    message = ChatMessage("assistant", "", tool_calls=(ToolCall("c", "read_file", " {oops "),))
    assert '"arguments": "{oops"' in render_assistant(message, TOOLS)


def test_a_huge_result_keeps_its_head_and_tail_around_a_marker() -> None:
    text = "H" * 30_000 + "M" * 50_000 + "T" * 10_000
    short = capped(text)
    assert len(short) < RESULT_CAP + 100
    assert short.startswith("H" * 24_000)
    assert short.endswith("T" * 8_000)
    assert "[... 58000 characters left out ...]" in short
    assert capped("small") == "small"
