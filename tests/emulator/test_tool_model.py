"""The emulator's model with tools, read by the gateway's own tool layer as a second opinion."""

from __future__ import annotations

import json

import pytest

from qwen_proxy.emulator import toolmodel
from qwen_proxy.emulator.model import Turn
from qwen_proxy.tools import ToolChoice, ToolSet, split_reply, tools_prompt, turn_reminder
from qwen_proxy.tools.prompt import TOOLS_HEADER, TOOLS_LIST_HEADER
from qwen_proxy.tools.syntax import CALL_CLOSE, CALL_OPEN, render_result
from tools_support import AGENT_TOOLS, TOOLS

pytestmark = pytest.mark.unit

REMINDER = turn_reminder(TOOLS, ToolChoice())
READ = ("read_file", '{"path": "example"}')


def first_message(user: str, tools: ToolSet = TOOLS, reminder: str = REMINDER) -> Turn:
    """The first message of a chat as the gateway sends it: definitions, user text, reminder."""
    return Turn("user", f"<system>\n{tools_prompt(tools)}\n</system>\n\n{user}\n\n{reminder}")


def reply_to(user: str) -> toolmodel.ToolReply:
    reply = toolmodel.tool_reply([first_message(user)])
    assert reply is not None
    return reply


def test_the_emulator_writes_the_protocol_markers_the_gateway_teaches() -> None:
    assert (toolmodel.TOOLS_HEADER, toolmodel.TOOLS_LIST) == (TOOLS_HEADER, TOOLS_LIST_HEADER)
    assert (toolmodel.OPEN, toolmodel.CLOSE) == (CALL_OPEN, CALL_CLOSE)


def test_the_emulator_reads_the_tools_and_their_required_parameters_from_the_prompt() -> None:
    found = toolmodel.definitions([first_message("hi")])
    assert list(found) == ["read_file", "write_file", "client_web_search"]
    assert [(p.name, p.label, p.required) for p in found["read_file"]] == [
        ("path", "string", True),
        ("limit", "integer", False),
    ]


def test_without_tool_definitions_the_plain_model_answers() -> None:
    assert toolmodel.tool_reply([Turn("user", "hello")]) is None


# (shape, calls the gateway must read, problems, text the client sees)
SHAPES = [
    ("own", [READ], [], ""),
    ("native", [READ], [], ""),
    ("native_string", [READ], [], ""),
    ("coder", [READ], [], ""),
    ("fenced", [READ], [], "I will call read_file.\n"),
    ("bare", [READ], [], "I will call read_file.\n"),
    ("unclosed", [READ], [], ""),
    ("fullwidth", [READ], [], ""),
    ("trailing_comma", [READ], [], ""),
    ("repeat", [READ], ["duplicate", "duplicate"], ""),
    ("multi", [READ, ("write_file", '{"path": "example 2", "content": "example 2"}')], [], ""),
    (
        "multi_block",
        [READ, ("write_file", '{"path": "example 2", "content": "example 2"}')],
        [],
        "",
    ),
    ("cut", [], ["cut"], '<qp:call>\n{"name": "read_file", "argum'),
    (
        "unknown",
        [],
        ["unknown_tool"],
        '<qp:call>\n{"name": "undefined_tool", "arguments": {"path": "example"}}\n</qp:call>',
    ),
    (
        "example",
        [],
        [],
        "A call looks like this:\n```json\n"
        '{"name": "read_file", "arguments": {"path": "example"}}\n```\nI did not call anything.',
    ),
    ("intercepted", [], [], "Tool read_file does not exists."),
]


@pytest.mark.parametrize(("shape", "calls", "problems", "text"), SHAPES, ids=[s[0] for s in SHAPES])
def test_every_shape_reads_back_as_the_intended_calls(
    shape: str, calls: list[tuple[str, str]], problems: list[str], text: str
) -> None:
    reply = reply_to(f"[[tools:{shape}]] please look at the code")
    split = split_reply(reply.answer, TOOLS)
    assert [(c.name, c.arguments) for c in split.calls] == calls
    assert [p.kind for p in split.problems] == problems
    assert split.text == text


def test_a_call_in_thinking_is_in_the_thought_and_the_answer_is_empty() -> None:
    reply = reply_to("[[tools:in_thinking]] go")
    assert reply.answer == ""
    assert reply.thought is not None
    split = split_reply(reply.thought, TOOLS)
    assert [(c.name, c.arguments) for c in split.calls] == [READ]
    assert split.text == "I need read_file.\n"


def test_the_user_can_name_the_tool_and_its_arguments() -> None:
    reply = reply_to('[[tools:coder]] call write_file {"path": "a.py", "content": "x = 1\\n"}')
    (call,) = split_reply(reply.answer, TOOLS).calls
    assert call.name == "write_file"
    assert json.loads(call.arguments) == {"path": "a.py", "content": "x = 1"}


def test_an_aliased_tool_is_called_by_its_alias_and_maps_back() -> None:
    reply = reply_to("call client_web_search please")
    assert '"client_web_search"' in reply.answer
    (call,) = split_reply(reply.answer, TOOLS).calls
    assert call.name == "web_search"


def test_a_named_tool_choice_is_obeyed() -> None:
    reminder = turn_reminder(TOOLS, ToolChoice("function", "write_file"))
    reply = toolmodel.tool_reply([first_message("do it", reminder=reminder)])
    assert reply is not None
    assert [c.name for c in split_reply(reply.answer, TOOLS).calls] == ["write_file"]


def test_tool_choice_none_and_the_text_shape_make_no_call() -> None:
    none = turn_reminder(TOOLS, ToolChoice("none"))
    assert toolmodel.tool_reply([first_message("hi", reminder=none)]) is None
    assert toolmodel.tool_reply([first_message("[[tools:text]] hi")]) is None


def test_a_tool_result_is_answered_with_proof_it_was_read() -> None:
    results = (
        render_result("call_1", "read_file", "print('hi')\nmore")
        + "\n"
        + render_result("call_2", None, "done")
    )
    branch = [
        first_message("read it"),
        Turn("assistant", "..."),
        Turn("user", f"{results}\n\n{REMINDER}"),
    ]
    reply = toolmodel.tool_reply(branch)
    assert reply is not None
    assert reply.answer == "Result of read_file (call_1): print('hi')\nResult of call_2: done"


def test_user_words_after_a_result_ask_for_a_new_call() -> None:
    text = render_result("call_1", "read_file", "x") + "\n\nNow call write_file."
    reply = toolmodel.tool_reply([first_message("go"), Turn("user", text)])
    assert reply is not None
    assert [c.name for c in split_reply(reply.answer, TOOLS).calls] == ["write_file"]


def test_an_enum_parameter_gets_its_first_value() -> None:
    tools = ToolSet.from_openai(
        [
            {
                "type": "function",
                "function": {
                    "name": "set_mode",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "mode": {"enum": ["fast", "slow"]},
                            "level": {"type": "integer"},
                            "flags": {"type": "array", "items": {"type": "string"}},
                        },
                        "required": ["mode", "level", "flags"],
                    },
                },
            },
            *AGENT_TOOLS,
        ]
    )
    reply = toolmodel.tool_reply([first_message("go", tools, turn_reminder(tools, ToolChoice()))])
    assert reply is not None
    (call,) = split_reply(reply.answer, tools).calls
    assert json.loads(call.arguments) == {"mode": "fast", "level": 1, "flags": []}
