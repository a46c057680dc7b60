"""Anthropic ``tools`` and ``tool_choice`` as the gateway's tool definitions and choice.

- A client tool (``{name, description, input_schema}``, ``type`` absent or ``custom``) is a
  function whose parameters are its ``input_schema``; ``cache_control``, ``strict`` and
  ``input_examples`` are accepted.
- A tool with ``defer_loading: true`` is not offered until it is loaded: until a
  ``tool_reference`` block in a tool result names it (Claude Code's tool search answers so).
  Until then the model neither sees nor can call it, as on Anthropic's API.
- A ``web_search_*`` server tool turns on Qwen's own web search for the reply.
- Other server tools (``bash_*``, ``text_editor_*``, ``computer_*``, ``code_execution_*``...)
  run on Anthropic's side or need a schema the gateway does not have: refused, naming them.
- ``tool_choice``: ``auto``, ``any`` (a call is required), ``tool`` (that tool must be called),
  ``none``; ``disable_parallel_tool_use`` allows at most one call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qwen_proxy.api.anthropic.fields import (
    missing,
    one_of,
    opt_bool,
    opt_list,
    opt_object,
    opt_str,
    problem,
    req_str,
    wrong_type,
)
from qwen_proxy.messages import ChoiceMode, ToolChoice, ToolDefinition

_CHOICES: dict[str, ChoiceMode] = {
    "auto": "auto",
    "any": "required",
    "tool": "function",
    "none": "none",
}
_WEB_SEARCH = "web_search_"


@dataclass(frozen=True, slots=True)
class AnthropicTools:
    """What a request's ``tools`` and ``tool_choice`` ask of the reply."""

    definitions: tuple[ToolDefinition, ...] = ()
    choice: ToolChoice = field(default_factory=ToolChoice)
    parallel: bool = True
    #: a ``web_search`` server tool was offered
    web_search: bool = False


def parse_tools(data: dict[str, object], loaded: frozenset[str] = frozenset()) -> AnthropicTools:
    """The body's ``tools`` and ``tool_choice`` (400 naming the field when one is wrong);
    deferred tools only when ``loaded`` names them."""
    definitions: list[ToolDefinition] = []
    names: set[str] = set()
    web_search = False
    for i, tool in enumerate(opt_list(data, "tools") or ()):
        path = f"tools.{i}"
        if not isinstance(tool, dict):
            raise wrong_type(path, "a valid dictionary", tool)
        kind = opt_str(tool, "type", f"{path}.")
        if kind is not None and kind.startswith(_WEB_SEARCH):
            web_search = True
        elif kind in (None, "custom"):
            definition = _client_tool(tool, path)
            if definition.name in names:
                raise problem("tools", "Tool names must be unique.")
            names.add(definition.name)
            deferred = opt_bool(tool, "defer_loading", f"{path}.") is True
            if not deferred or definition.name in loaded:
                definitions.append(definition)
        else:
            raise problem(
                f"{path}.type",
                f"the server tool '{kind}' is not supported by this gateway; define it as a "
                "client tool with an input_schema",
            )
    choice, parallel = _tool_choice(data, names)
    return AnthropicTools(tuple(definitions), choice, parallel, web_search)


def _client_tool(tool: dict[str, object], path: str) -> ToolDefinition:
    name = req_str(tool, "name", f"{path}.")
    if not name:
        raise problem(f"{path}.name", "String should have at least 1 character")
    schema = opt_object(tool, "input_schema", f"{path}.")
    if schema is None:
        raise missing(f"{path}.input_schema")
    description = opt_str(tool, "description", f"{path}.") or ""
    return ToolDefinition(name=name, description=description, parameters=schema)


def _tool_choice(data: dict[str, object], names: set[str]) -> tuple[ToolChoice, bool]:
    choice = opt_object(data, "tool_choice")
    if choice is None:
        return ToolChoice(), True
    kind = choice.get("type")
    mode = _CHOICES.get(kind) if isinstance(kind, str) else None
    if mode is None:
        if kind is None:
            raise missing("tool_choice.type")
        raise one_of("tool_choice.type", kind, tuple(_CHOICES))
    parallel = opt_bool(choice, "disable_parallel_tool_use", "tool_choice.") is not True
    if mode != "function":
        return ToolChoice(mode), parallel
    name = req_str(choice, "name", "tool_choice.")
    if name not in names:
        raise problem("tool_choice.name", f"Tool '{name}' not found in 'tools'")
    return ToolChoice(mode, name), parallel


def loaded_tools(messages: object) -> frozenset[str]:
    """The tools the ``tool_reference`` blocks of the messages' tool results name."""
    names: set[str] = set()
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else ():
            inner = block.get("content") if isinstance(block, dict) else None
            for part in inner if isinstance(inner, list) else ():
                if isinstance(part, dict) and part.get("type") == "tool_reference":
                    name = part.get("tool_name")
                    if isinstance(name, str):
                        names.add(name)
    return frozenset(names)
