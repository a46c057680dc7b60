"""The sieve is a stream parser: any split of a reply gives the same text and calls."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_proxy.tools import Call, Sieve, Text
from tools_support import TOOLS, sieve_pieces, sieve_text

pytestmark = pytest.mark.unit

FRAGMENTS = [
    "Let me check the file first.",
    "if a < b and c > d: return {x}",
    "Unicode: 你好 🙂 e\u0301 ＜qp：note＞",
    '<qp:call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n</qp:call>',
    '<qp:call id="c1">{"name": "write_file", "arguments": {"path": "w", "content": '
    '"x </qp:call> {y}"}}</qp:call>',
    '<tool_call>\n{"name": "read_file", "arguments": "{\\"path\\": \\"n.py\\"}"}\n</tool_call>',
    "<tool_call>\n<function=read_file>\n<parameter=path>\nc.py\n</parameter>\n</function>\n"
    "</tool_call>",
    "<function=web_search>\n<parameter=query>\nqwen tools\n</parameter>\n</function>",
    '```json\n{"name": "read_file", "arguments": {"path": "f.py"}}\n```',
    '```python\nprint("<qp:call>")\n```',
    '{"name": "read_file", "arguments": {"path": "bare.py"}}',
    '{"name": "pkg", "version": "2"}',
    "＜qp:call＞{“name”: “read_file”, “arguments”: {“path”: “fw.py”}}＜/qp:call＞",
    '<qp:call>{"name": "read_file", "arguments": {"path": "t.py",},}</qp:call>',
    '<qp:call>{"name": "nope", "arguments": {}}</qp:call>',
    '<qp:call>\n{"name": "read_file", "argu',
    '```\n<qp:call>{"name": "read_file", "arguments": {"path": "fenced.py"}}</qp:call>\n```',
    "`inline` and ``double`` ticks",
    "Write `<qp:call>` then JSON; the <tool_call> tag is not ours.",
    '<qp:call>{"name": "read_file", "arguments": {"path": "brace.py"}}}</qp:call>',
    '<qp:call>read_file(path="code.py")</qp:call>',
    '<qp:call name="read_file">{"path": "named.py"}</qp:call>',
    '[{"name": "read_file", "arguments": {"path": "arr.py"}}]',
    "<tool_call>\n<function=read_file>\n<parameter=path>\nopen.py\n</function>",
    "<tool_call>\n<function=write_file>\n<parameter=path>\nv\n</parameter>\n"
    "<parameter=content>\nx </tool_call> y\n</parameter>\n</function>\n</tool_call>",
    "[1, 2, 3] is a list",
]
SEPARATORS = ["", " ", "\n", "\n\n", "\n  "]


@st.composite
def replies(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=5))
    out = ""
    for part in parts:
        out += draw(st.sampled_from(SEPARATORS)) + part
    return out


@st.composite
def split(draw: st.DrawFn, text: str) -> list[str]:
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=12)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_split_of_a_reply_gives_the_same_text_calls_and_problems(data: st.DataObject) -> None:
    text = data.draw(replies())
    pieces = data.draw(split(text))
    assert sieve_pieces(pieces) == sieve_text(text)


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_one_character_at_a_time_is_the_same_as_all_at_once(data: st.DataObject) -> None:
    text = data.draw(replies())
    assert sieve_pieces(list(text)) == sieve_text(text)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_a_call_is_only_emitted_once_its_whole_block_arrived(data: st.DataObject) -> None:
    """No half call: every call emitted mid-stream is final, and none appears before the
    characters that finish its block have been fed."""
    text = data.draw(replies())
    final = sieve_text(text).calls
    sieve = Sieve(TOOLS)
    fed = ""
    seen: list[tuple[str, str]] = []
    for ch in text:
        fed += ch
        for event in sieve.feed(ch):
            if isinstance(event, Call):
                seen.append((event.name, event.arguments))
                assert (event.name, event.arguments) in final
                # the same prefix, closed now, would also hold this call: it was complete
                assert (event.name, event.arguments) in sieve_text(fed).calls
    seen.extend((e.name, e.arguments) for e in sieve.close() if isinstance(e, Call))
    assert seen == final


TOKENS = [
    "<",
    ">",
    "</",
    "`",
    "```",
    "{",
    "}",
    "[",
    "]",
    '"',
    "\\",
    ",",
    ":",
    " ",
    "\n",
    "x",
    "é",
    "qp:call",
    "tool_call",
    "function=",
    "parameter=",
    "name",
    "arguments",
    "read_file",
    "json",
    "＜",
    "“",
]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_split_of_marker_soup_gives_the_same_result(data: st.DataObject) -> None:
    text = "".join(data.draw(st.lists(st.sampled_from(TOKENS), max_size=40)))
    pieces = data.draw(split(text))
    outcome = sieve_text(text)
    assert sieve_pieces(pieces) == outcome
    if not outcome.calls and not outcome.problems:
        assert outcome.text == text  # without a call nothing is held back or lost


def test_text_before_a_call_streams_at_once() -> None:
    sieve = Sieve(TOOLS)
    assert sieve.feed("I will read the file now.\n") == [Text("I will read the file now.\n")]
    assert sieve.feed('<qp:call>{"name": "read_file", "arguments"') == []


def test_only_a_possible_marker_prefix_is_held_back() -> None:
    sieve = Sieve(TOOLS)
    assert sieve.feed("a < b, see <qp:ca") == [Text("a < b, see ")]
    assert sieve.feed("ller> done") == [Text("<qp:caller> done")]


def test_a_backtick_or_brace_at_a_line_start_waits_only_for_what_decides() -> None:
    sieve = Sieve(TOOLS)
    assert sieve.feed("Code:\n`") == [Text("Code:\n")]
    assert sieve.feed("x` here\n{") == [Text("`x` here\n")]
    assert sieve.feed('"a": 1}') == [Text('{"a": 1}')]


def test_code_in_a_fence_streams_line_by_line() -> None:
    sieve = Sieve(TOOLS)
    assert sieve.feed("```python\n") == []
    assert sieve.feed("x = 1\n") == [Text("```python\nx = 1\n")]
    assert sieve.feed('y = {"name": 2}\n') == [Text('y = {"name": 2}\n')]


def test_feeding_after_close_is_a_bug_in_the_caller() -> None:
    sieve = Sieve(TOOLS)
    sieve.close()
    with pytest.raises(RuntimeError):
        sieve.feed("late")
