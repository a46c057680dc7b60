"""What the sieve makes of each shape of call models write (whole replies, one table)."""

from __future__ import annotations

import json

import pytest

from tools_support import sieve_text

pytestmark = pytest.mark.unit

READ = ("read_file", '{"path": "a.py"}')
READ_B = ("read_file", '{"path": "b.py"}')

# (id, reply, text the client sees, calls, problems)
SHAPES = [
    (
        "our block",
        'Let me look.\n<qp:call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n</qp:call>',
        "Let me look.\n",
        [READ],
        [],
    ),
    (
        "our block with an id and attributes",
        '<qp:call id="call_7">{"name": "read_file", "arguments": {"path": "a.py"}}</qp:call>',
        "",
        [READ],
        [],
    ),
    (
        "our block naming the tool in the opener",
        '<qp:call name="read_file">{"path": "a.py"}</qp:call>',
        "",
        [READ],
        [],
    ),
    (
        "native block with an id",
        '<tool_call>\n{"id": "c1", "name": "read_file", "arguments": {"path": "a.py"}}\n'
        "</tool_call>",
        "",
        [READ],
        [],
    ),
    (
        "native block with arguments as a JSON string",
        '<tool_call>{"name": "read_file", "arguments": "{\\"path\\": \\"a.py\\"}"}</tool_call>',
        "",
        [READ],
        [],
    ),
    (
        "native block in OpenAI's own shape",
        '<tool_call>{"type": "function", "function": {"name": "read_file", '
        '"arguments": "{\\"path\\": \\"a.py\\"}"}}</tool_call>',
        "",
        [READ],
        [],
    ),
    (
        "qwen3-coder form",
        "<tool_call>\n<function=read_file>\n<parameter=path>\na.py\n</parameter>\n"
        "</function>\n</tool_call>",
        "",
        [READ],
        [],
    ),
    (
        "qwen3-coder form without its tool_call wrapper",
        "On it.\n<function=read_file>\n<parameter=path>\na.py\n</parameter>\n</function>",
        "On it.\n",
        [READ],
        [],
    ),
    (
        "qwen3-coder value holding a closing tag (a file that mentions </tool_call>)",
        "<tool_call>\n<function=write_file>\n<parameter=path>\nw\n</parameter>\n"
        "<parameter=content>\nx </tool_call> y\n</parameter>\n</function>\n</tool_call>",
        "",
        [("write_file", '{"path": "w", "content": "x </tool_call> y"}')],
        [],
    ),
    (
        "qwen3-coder form with parameters left open",
        "<tool_call>\n<function=read_file>\n<parameter=path>\na.py\n"
        "<parameter=limit>\n10\n</function>\n</tool_call>",
        "",
        [("read_file", '{"path": "a.py", "limit": 10}')],
        [],
    ),
    (
        "fenced JSON at the end of the reply",
        'I will read it.\n```json\n{"name": "read_file", "arguments": {"path": "a.py"}}\n```\n',
        "I will read it.\n",
        [READ],
        [],
    ),
    (
        "bare JSON at the end of the reply",
        'Reading.\n{"name": "read_file", "arguments": {"path": "a.py"}}',
        "Reading.\n",
        [READ],
        [],
    ),
    (
        "bare JSON array of calls",
        '[{"name": "read_file", "arguments": {"path": "a.py"}}, '
        '{"name": "read_file", "parameters": {"path": "b.py"}}]',
        "",
        [READ, READ_B],
        [],
    ),
    (
        "missing closing tag at the end",
        '<qp:call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n',
        "",
        [READ],
        [],
    ),
    (
        "missing closing tag before prose",
        '<qp:call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\nI await the result.',
        "I await the result.",
        [READ],
        [],
    ),
    (
        "missing closing tag before the next block",
        '<qp:call>{"name": "read_file", "arguments": {"path": "a.py"}}\n'
        '<qp:call>{"name": "read_file", "arguments": {"path": "b.py"}}</qp:call>',
        "",
        [READ, READ_B],
        [],
    ),
    (
        "trailing commas",
        '<qp:call>{"name": "read_file", "arguments": {"path": "a.py",},}</qp:call>',
        "",
        [READ],
        [],
    ),
    (
        "several calls in one block",
        '<qp:call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n'
        '{"name": "read_file", "arguments": {"path": "b.py"}}\n</qp:call>',
        "",
        [READ, READ_B],
        [],
    ),
    (
        "several calls as an array in one block",
        '<qp:call>[{"name": "read_file", "arguments": {"path": "a.py"}}, '
        '{"name": "read_file", "arguments": {"path": "b.py"}}]</qp:call>',
        "",
        [READ, READ_B],
        [],
    ),
    (
        "several blocks",
        '<qp:call>{"name": "read_file", "arguments": {"path": "a.py"}}</qp:call>\n\n'
        '<qp:call>{"name": "read_file", "arguments": {"path": "b.py"}}</qp:call>\n',
        "",
        [READ, READ_B],
        [],
    ),
    (
        "full-width markers and smart quotes",
        "＜qp：call＞{“name”: “read_file”, “arguments”: {“path”: “a.py”}}＜／qp：call＞",
        "",
        [READ],
        [],
    ),
    (
        "markers in capitals",
        '<QP:CALL>{"name": "read_file", "arguments": {"path": "a.py"}}</QP:CALL>',
        "",
        [READ],
        [],
    ),
    (
        "a block wrapped in a code fence",
        'Calling:\n```xml\n<qp:call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n'
        "</qp:call>\n```\n",
        "Calling:\n",
        [READ],
        [],
    ),
    (
        "a fence wrapping two blocks",
        '```\n<qp:call>{"name": "read_file", "arguments": {"path": "a.py"}}</qp:call>\n'
        '<qp:call>{"name": "read_file", "arguments": {"path": "b.py"}}</qp:call>\n```',
        "",
        [READ, READ_B],
        [],
    ),
    (
        "a closing tag inside a string argument",
        '<qp:call>{"name": "write_file", "arguments": {"path": "p.md", '
        '"content": "use </qp:call> and </tool_call>"}}</qp:call>',
        "",
        [("write_file", '{"path": "p.md", "content": "use </qp:call> and </tool_call>"}')],
        [],
    ),
    (
        "the model writes the name with a functions. prefix",
        '<qp:call>{"name": "functions.read_file", "arguments": {"path": "a.py"}}</qp:call>',
        "",
        [READ],
        [],
    ),
    (
        "an aliased tool comes back under the client's name",
        '<qp:call>{"name": "client_web_search", "arguments": {"query": "qwen"}}</qp:call>',
        "",
        [("web_search", '{"query": "qwen"}')],
        [],
    ),
    (
        "a stray closing tag after a bare coder block",
        "<function=read_file>\n<parameter=path>\na.py\n</parameter>\n</function>\n</tool_call>",
        "",
        [READ],
        [],
    ),
]


@pytest.mark.parametrize(
    ("reply", "text", "calls", "problems"),
    [case[1:] for case in SHAPES],
    ids=[case[0] for case in SHAPES],
)
def test_each_shape_models_write_becomes_the_intended_calls(
    reply: str, text: str, calls: list[tuple[str, str]], problems: list[str]
) -> None:
    outcome = sieve_text(reply)
    assert outcome.calls == calls
    assert outcome.text == text
    assert list(outcome.problems) == problems


# (id, reply, problems): replies that are not calls come back as the text they are
NOT_CALLS = [
    (
        "a fenced example followed by prose",
        'To read a file, send:\n```json\n{"name": "read_file", "arguments": {"path": "a.py"}}\n'
        "```\nThat is all you need.",
        [],
    ),
    (
        "bare JSON followed by prose",
        '{"name": "read_file", "arguments": {"path": "a.py"}}\nis what a call looks like.',
        [],
    ),
    (
        "JSON without an arguments field",
        'The package:\n```json\n{"name": "read_file", "version": "1.0"}\n```\n',
        [],
    ),
    ("a fence of another language", '```python\nx = "<qp:call>{}</qp:call>"\n```\n', []),
    ("a fence starting with prose", "```\nsee <qp:call>{}</qp:call>\n```", []),
    ("inline JSON mid-line", 'call {"name": "read_file", "arguments": {}} like that', []),
    ("comparisons and tags in prose", "if a < b and b <c> then <qp:caller> is fine", []),
    ("a marker prefix at the very end", "the tag starts with <qp:ca", []),
    ("a backtick prefix at the very end", "code:\n``", []),
    ("a call cut short", '<qp:call>\n{"name": "read_file", "argu', ["cut"]),
    ("a fenced JSON call cut short", '```json\n{"name": "read_file", "argum', ["cut"]),
    ("a bare JSON call cut short", '{"name": "read_file", "arguments": {"pa', ["cut"]),
    ("an unreadable closed block", "<qp:call>read_file(path=a.py)</qp:call>", ["unparsable"]),
    (
        "an undefined tool",
        '<qp:call>{"name": "delete_repo", "arguments": {}}</qp:call>',
        ["unknown_tool"],
    ),
    (
        "an undefined tool as JSON at the end",
        '{"name": "delete_repo", "arguments": {}}',
        ["unknown_tool"],
    ),
]


@pytest.mark.parametrize(
    ("reply", "problems"), [c[1:] for c in NOT_CALLS], ids=[c[0] for c in NOT_CALLS]
)
def test_what_is_not_a_call_reaches_the_client_as_written(reply: str, problems: list[str]) -> None:
    outcome = sieve_text(reply)
    assert outcome.calls == []
    assert outcome.text == reply
    assert list(outcome.problems) == problems


def test_a_fenced_example_then_a_real_call_keeps_the_example_as_text() -> None:
    example = '```json\n{"name": "read_file", "arguments": {"path": "x"}}\n```\nNow for real:\n'
    call = '<qp:call>{"name": "read_file", "arguments": {"path": "a.py"}}</qp:call>'
    outcome = sieve_text(example + call)
    assert outcome.text == example
    assert outcome.calls == [READ]


def test_json_calls_followed_by_a_block_are_all_calls() -> None:
    reply = (
        '{"name": "read_file", "arguments": {"path": "a.py"}}\n\n'
        '<qp:call>{"name": "read_file", "arguments": {"path": "b.py"}}</qp:call>'
    )
    assert sieve_text(reply).calls == [READ, READ_B]


def test_identical_repeated_calls_collapse_into_one() -> None:
    block = '<qp:call>{"name": "read_file", "arguments": {"path": "a.py"}}</qp:call>\n'
    reordered = '<qp:call>{"arguments": {"path": "a.py"}, "name": "read_file"}</qp:call>'
    outcome = sieve_text(block * 3 + reordered)
    assert outcome.calls == [READ]
    assert outcome.text == ""
    assert outcome.problems == ("duplicate", "duplicate", "duplicate")


def test_without_parallel_calls_only_the_first_call_is_kept() -> None:
    reply = (
        '<qp:call>{"name": "read_file", "arguments": {"path": "a.py"}}</qp:call>'
        '<qp:call>{"name": "read_file", "arguments": {"path": "b.py"}}</qp:call>'
    )
    outcome = sieve_text(reply, parallel=False)
    assert outcome.calls == [READ]
    assert outcome.problems == ("extra_call",)


def test_a_block_mixing_known_and_undefined_tools_keeps_the_known_call() -> None:
    reply = (
        '<qp:call>{"name": "read_file", "arguments": {"path": "a.py"}}\n'
        '{"name": "nope", "arguments": {}}</qp:call>'
    )
    outcome = sieve_text(reply)
    assert outcome.calls == [READ]
    assert outcome.text == ""
    assert outcome.problems == ("unknown_tool",)


def test_text_around_calls_keeps_its_order() -> None:
    reply = (
        'First.\n<qp:call>{"name": "read_file", "arguments": {"path": "a.py"}}</qp:call>\n'
        "Then more."
    )
    kinds = [type(e).__name__ for e in sieve_text(reply).events]
    assert kinds == ["Text", "Call", "Text"]


def test_calls_are_numbered_in_the_order_they_close() -> None:
    reply = (
        '<qp:call>{"name": "read_file", "arguments": {"path": "a.py"}}</qp:call>'
        '<tool_call>{"name": "read_file", "arguments": {"path": "b.py"}}</tool_call>'
    )
    events = sieve_text(reply).events
    assert [getattr(e, "index", None) for e in events] == [0, 1]


def test_arguments_come_out_as_a_json_object_text() -> None:
    reply = '<qp:call>{"name": "read_file", "arguments": {"path": "ü.py", "limit": "3"}}</qp:call>'
    ((_, arguments),) = sieve_text(reply).calls
    assert json.loads(arguments) == {"path": "ü.py", "limit": 3}


def test_an_extra_closing_brace_after_the_call_is_forgiven() -> None:
    reply = '<qp:call>{"name": "read_file", "arguments": {"path": "a.py"}}}</qp:call>\nDone.'
    outcome = sieve_text(reply)
    assert outcome.calls == [READ]
    assert outcome.text == "Done."


def test_a_tag_named_in_prose_or_inline_code_is_text_and_streams_on() -> None:
    for reply in (
        "Write `<qp:call>` then JSON. Done.",
        "The <tool_call> tag is intercepted by the service, so we use ours.",
    ):
        outcome = sieve_text(reply)
        assert (outcome.text, outcome.calls, outcome.problems) == (reply, [], ())


def test_a_call_written_as_code_inside_a_block_is_reported_for_a_retry() -> None:
    reply = '<qp:call>read_file(path="a.py")</qp:call>'
    outcome = sieve_text(reply)
    assert (outcome.text, outcome.calls, outcome.problems) == (reply, [], ("unparsable",))
