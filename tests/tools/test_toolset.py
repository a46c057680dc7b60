"""Tool sets: aliases for the upstream's own tool names, lookups, choice, identity."""

from __future__ import annotations

import pytest

from qwen_proxy.tools import ToolChoice, ToolSet, parse_tool_choice, tool_set_digest
from tools_support import AGENT_TOOLS, TOOLS

pytestmark = pytest.mark.unit


def _tool(name: str) -> dict[str, object]:
    return {"type": "function", "function": {"name": name, "parameters": {}}}


def test_names_clashing_with_the_upstreams_tools_get_an_alias() -> None:
    tools = ToolSet.from_openai([_tool("web_search"), _tool("Code_Interpreter"), _tool("grep")])
    assert [(s.name, s.alias) for s in tools.specs] == [
        ("web_search", "client_web_search"),
        ("Code_Interpreter", "client_Code_Interpreter"),
        ("grep", "grep"),
    ]


def test_an_alias_never_takes_the_name_of_another_tool() -> None:
    tools = ToolSet.from_openai([_tool("client_web_search"), _tool("web_search")])
    assert [s.alias for s in tools.specs] == ["client_web_search", "client_web_search_2"]
    spec = tools.lookup("client_web_search_2")
    assert spec is not None
    assert spec.name == "web_search"


def test_a_call_is_found_by_alias_client_name_prefix_or_case() -> None:
    for written in ("client_web_search", "web_search", "functions.web_search", "WEB_SEARCH"):
        spec = TOOLS.lookup(written)
        assert spec is not None
        assert spec.name == "web_search"
    assert TOOLS.lookup("rm_rf") is None


def test_legacy_functions_make_the_same_tool_set() -> None:
    legacy = ToolSet.from_openai([t["function"] for t in AGENT_TOOLS])  # type: ignore[misc]
    assert legacy.specs == TOOLS.specs


@pytest.mark.parametrize(
    ("tool_choice", "legacy", "expected"),
    [
        (None, None, ToolChoice("auto")),
        ("none", None, ToolChoice("none")),
        ("required", None, ToolChoice("required")),
        ({"type": "function", "function": {"name": "f"}}, None, ToolChoice("function", "f")),
        (None, "none", ToolChoice("none")),
        (None, {"name": "g"}, ToolChoice("function", "g")),
    ],
)
def test_tool_choice_and_the_legacy_function_call_mean_the_same(
    tool_choice: object, legacy: object, expected: ToolChoice
) -> None:
    assert parse_tool_choice(tool_choice, legacy=legacy) == expected


def test_only_required_and_a_named_function_demand_a_call() -> None:
    assert ToolChoice("required").demands_call
    assert ToolChoice("function", "f").demands_call
    assert not ToolChoice("auto").demands_call
    assert not ToolChoice("none").demands_call


def test_the_tool_set_digest_ignores_key_order_but_not_tools_or_their_order() -> None:
    reordered = [
        {"function": dict(reversed(list(t["function"].items()))), "type": "function"}  # type: ignore[attr-defined]
        for t in AGENT_TOOLS
    ]
    assert tool_set_digest(reordered) == tool_set_digest(AGENT_TOOLS)
    assert tool_set_digest(AGENT_TOOLS[:2]) != tool_set_digest(AGENT_TOOLS)
    assert tool_set_digest(AGENT_TOOLS[::-1]) != tool_set_digest(AGENT_TOOLS)
    changed = [*AGENT_TOOLS[:2], _tool("web_search")]
    assert tool_set_digest(changed) != tool_set_digest(AGENT_TOOLS)
    assert len(tool_set_digest([])) == 16
