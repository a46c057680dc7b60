"""Whole-reply decisions: reasoning calls as a fallback, when to make the corrective retry."""

from __future__ import annotations

import pytest

from qwen_proxy.tools import Call, Sieve, ToolChoice, needs_retry, pick_calls, split_reply
from tools_support import TOOLS

pytestmark = pytest.mark.unit

A = Call(0, "read_file", '{"path": "a.py"}')
B = Call(0, "write_file", '{"path": "b", "content": ""}')


def test_calls_written_while_thinking_are_found_by_a_sieve_of_their_own() -> None:
    reasoning = (
        'The user wants a.py.\n<qp:call>{"name": "read_file", "arguments": {"path": "a.py"}}'
    )
    sieve = Sieve(TOOLS)
    shown = [*sieve.feed(reasoning), *sieve.close()]
    assert sieve.calls == [A]
    assert [getattr(e, "text", None) for e in shown] == ["The user wants a.py.\n", None]


def test_the_answers_calls_win_over_the_reasonings() -> None:
    assert pick_calls([A], [B]) == (A,)


def test_reasoning_calls_are_used_when_the_answer_has_none() -> None:
    second = Call(3, "read_file", "{}")
    assert pick_calls([], [B, second]) == (B, Call(1, "read_file", "{}"))


@pytest.mark.parametrize(
    ("calls", "choice", "retry"),
    [
        ([], ToolChoice("auto"), False),
        ([A], ToolChoice("auto"), False),
        ([], ToolChoice("required"), True),
        ([A], ToolChoice("required"), False),
        ([A], ToolChoice("function", "write_file"), True),
        ([A, B], ToolChoice("function", "write_file"), False),
        ([], ToolChoice("none"), False),
        ([A], ToolChoice("none"), True),
    ],
)
def test_one_corrective_retry_only_when_the_reply_breaks_the_choice(
    calls: list[Call], choice: ToolChoice, retry: bool
) -> None:
    assert needs_retry(calls, choice) is retry


def test_a_cut_call_under_auto_goes_back_as_text_without_a_retry() -> None:
    split = split_reply('<qp:call>{"name": "read_file", "argu', TOOLS)
    assert split.calls == ()
    assert [p.kind for p in split.problems] == ["cut"]
    assert not needs_retry(split.calls, ToolChoice("auto"))
    assert needs_retry(split.calls, ToolChoice("required"))
