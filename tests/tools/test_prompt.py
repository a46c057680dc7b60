"""What the model is told: compact definitions, the per-message reminder, the choice."""

from __future__ import annotations

from typing import Any

import pytest

from qwen_proxy.tools import ToolChoice, ToolSet, correction, tools_prompt, turn_reminder
from qwen_proxy.tools.schema_text import parameters_text
from tools_support import AGENT_TOOLS, TOOLS, sieve_text

pytestmark = pytest.mark.unit

NESTED: dict[str, Any] = {
    "type": "object",
    "properties": {
        "mode": {"enum": ["r", "w"], "default": "r"},
        "edits": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "old": {"type": "string"},
                    "new": {"type": "string", "description": "New text.\nExample:\n  foo"},
                },
                "required": ["old", "new"],
            },
        },
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
        "item": {"$ref": "#/$defs/Item"},
        "maybe": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    },
    "required": ["edits"],
    "$defs": {
        "Item": {
            "type": "object",
            "description": "An item.",
            "properties": {"id": {"type": "integer", "minimum": 1}},
        }
    },
}


def test_parameters_render_one_line_per_field_with_nesting() -> None:
    assert parameters_text(NESTED) == (
        "Parameters:\n"
        '- mode ("r" | "w", default "r")\n'
        "- edits (array of object, required, min items 1)\n"
        "  - old (string, required)\n"
        "  - new (string, required): New text.\n"
        "    Example:\n"
        "      foo\n"
        "- env (object of string)\n"
        "- item (object): An item.\n"
        "  - id (integer, min 1)\n"
        "- maybe (integer | null)"
    )


def test_a_tool_without_parameters_says_so() -> None:
    assert parameters_text({}) == "Parameters: none (arguments is {})"
    assert parameters_text({"type": "object", "properties": {}}).startswith("Parameters: none")


def test_the_prompt_lists_every_tool_once_under_the_name_the_model_may_use() -> None:
    prompt = tools_prompt(TOOLS)
    assert prompt.startswith("# Tools\n")
    assert "### read_file\nRead a file of the workspace.\nParameters:\n- path (string" in prompt
    assert "### client_web_search" in prompt
    assert "### web_search" not in prompt


def test_the_prompt_depends_only_on_the_tool_set() -> None:
    again = ToolSet.from_openai([dict(t) for t in AGENT_TOOLS])
    assert tools_prompt(again) == tools_prompt(TOOLS)


def test_a_model_echoing_the_prompt_makes_no_call_and_loses_no_text() -> None:
    prompt = tools_prompt(TOOLS)
    outcome = sieve_text(prompt)
    assert outcome.calls == []
    assert outcome.text == prompt


@pytest.mark.parametrize(
    ("choice", "parallel", "says"),
    [
        (ToolChoice("auto"), True, "Call a tool only when you need one"),
        (ToolChoice("required"), True, "You must call at least one tool in this reply."),
        (ToolChoice("function", "read_file"), True, "You must call the tool read_file"),
        (ToolChoice("function", "web_search"), True, "You must call the tool client_web_search"),
        (ToolChoice("auto"), False, "Call at most one tool in this reply."),
        (ToolChoice("required"), False, "Call at most one tool in this reply."),
    ],
)
def test_the_reminder_carries_the_requests_choice(
    choice: ToolChoice, parallel: bool, says: str
) -> None:
    reminder = turn_reminder(TOOLS, choice, parallel=parallel)
    assert says in reminder
    assert "<qp:call>" in reminder
    assert "read_file, write_file, client_web_search" in reminder


def test_the_reminder_stays_short() -> None:
    assert len(turn_reminder(TOOLS, ToolChoice())) < 300


def test_with_tool_choice_none_the_reminder_forbids_calls() -> None:
    assert turn_reminder(TOOLS, ToolChoice("none")) == (
        "[Tools: Do not call any tool in this reply; answer in text.]"
    )


def test_the_correction_names_the_problem_and_the_demand() -> None:
    text = correction(["there is no tool named 'nope'"], TOOLS, ToolChoice("required"))
    assert "there is no tool named 'nope'" in text
    assert "You must call at least one tool" in text
    assert "it made no tool call" in correction([], TOOLS, ToolChoice("required"))


def test_the_correction_under_tool_choice_none_asks_for_text() -> None:
    text = correction([], TOOLS, ToolChoice("none"))
    assert "no tool may be called now" in text
    assert "<qp:call>" not in text
