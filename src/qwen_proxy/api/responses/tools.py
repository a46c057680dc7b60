"""Responses ``tools``, ``tool_choice`` and ``parallel_tool_calls`` as the gateway's tools.

The tool layer knows only functions with a JSON schema, so every kind of tool the Responses API
(and Codex) offers is one function, and its calls are turned back into the item of its kind
(``calls`` does that, and the reverse for the items an agent sends back):

- ``function`` (flat: ``{type, name, description, parameters, strict}``): itself;
- ``custom`` (free-form input, such as Codex's ``apply_patch``): a function with one string
  parameter ``input``; its description says so, and carries the tool's grammar when it has one;
- ``local_shell``: a function named ``local_shell`` taking ``command`` (an array of strings),
  ``workdir`` and ``timeout_ms``;
- ``namespace`` (a group of functions, as Codex sends its sub-agent tools): each function is
  offered as ``NAMESPACE.NAME``;
- ``web_search`` / ``web_search_preview``: Qwen's own search for the reply, unless the tool says
  ``external_web_access: false`` (Codex's cached mode: no live search asked for);
- hosted tools the gateway cannot run (``file_search``, ``code_interpreter``, ``mcp``...) are
  left out and reported in ``x-qwen-proxy-ignored-params`` as ``tools[i]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from qwen_proxy.api.fields import invalid_value, missing, opt_str, required_str, type_error
from qwen_proxy.errors import InvalidRequest
from qwen_proxy.messages import ToolChoice, ToolDefinition

Kind = Literal["function", "custom", "local_shell"]

#: the function a ``local_shell`` tool is offered as
LOCAL_SHELL = "local_shell"
LOCAL_SHELL_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "command": {
            "type": "array",
            "items": {"type": "string"},
            "description": 'The program and its arguments, e.g. ["bash", "-lc", "ls -la"].',
        },
        "workdir": {"type": "string", "description": "The directory to run it in."},
        "timeout_ms": {"type": "integer", "description": "How long it may run, in ms."},
    },
    "required": ["command"],
}
_LOCAL_SHELL_TEXT = "Runs a command on the user's machine and returns its output."
#: the one parameter of a free-form tool's function
CUSTOM_INPUT = "input"
_CUSTOM_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {CUSTOM_INPUT: {"type": "string", "description": "The tool's raw input."}},
    "required": [CUSTOM_INPUT],
}
_SEARCH_TOOLS = ("web_search", "web_search_preview", "web_search_2025_08_26")
_MODES = ("none", "auto", "required")


@dataclass(frozen=True, slots=True)
class Offered:
    """How one offered function maps back to the client's tool."""

    kind: Kind
    #: the client's name (inside its namespace, for a namespaced function)
    name: str
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class ResponsesTools:
    """A request's tools as functions, and how each maps back (by the function's name)."""

    definitions: tuple[ToolDefinition, ...] = ()
    offered: Mapping[str, Offered] = field(default_factory=dict)
    choice: ToolChoice = field(default_factory=ToolChoice)
    parallel: bool = True
    web_search: bool = False
    #: ``tools[i]`` of hosted tools left out
    ignored: tuple[str, ...] = ()

    def kind_of(self, name: str) -> Offered:
        """How the function ``name`` maps back (a plain function when it is not known)."""
        return self.offered.get(name) or Offered("function", name)


def internal_name(name: str, namespace: str | None) -> str:
    """The function name a (namespaced) client tool is offered under."""
    return f"{namespace}.{name}" if namespace else name


def parse_tools(tools: object, choice: object, parallel: bool) -> ResponsesTools:
    """The body's tools and choice (400 naming the field when one is wrong)."""
    if tools is None:
        tools = []
    if not isinstance(tools, list):
        raise type_error("tools", "an array", tools)
    definitions: list[ToolDefinition] = []
    offered: dict[str, Offered] = {}
    web_search = False
    ignored: list[str] = []
    for i, tool in enumerate(tools):
        path = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise type_error(path, "an object", tool)
        kind = tool.get("type")
        if not isinstance(kind, str):
            raise missing(f"{path}.type")
        if kind == "namespace":
            for definition, how in _namespace(tool, path):
                _add(definitions, offered, definition, how, path)
        elif kind in ("function", "custom", LOCAL_SHELL):
            definition, how = _one(tool, kind, path)
            _add(definitions, offered, definition, how, path)
        elif kind in _SEARCH_TOOLS:
            web_search = web_search or tool.get("external_web_access") is not False
        else:
            ignored.append(path)
    return ResponsesTools(
        tuple(definitions),
        offered,
        _choice(choice, offered),
        parallel,
        web_search,
        tuple(ignored),
    )


def _add(
    definitions: list[ToolDefinition],
    offered: dict[str, Offered],
    definition: ToolDefinition,
    how: Offered,
    path: str,
) -> None:
    if definition.name in offered:
        raise InvalidRequest(
            f"Invalid '{path}': a tool named '{definition.name}' is already defined.",
            param=path,
            code="invalid_value",
        )
    definitions.append(definition)
    offered[definition.name] = how


def _one(
    tool: dict[str, object], kind: str, path: str, namespace: str | None = None
) -> tuple[ToolDefinition, Offered]:
    if kind == LOCAL_SHELL:
        return (
            ToolDefinition(LOCAL_SHELL, _LOCAL_SHELL_TEXT, LOCAL_SHELL_SCHEMA),
            Offered("local_shell", LOCAL_SHELL),
        )
    name = required_str(tool, "name", f"{path}.")
    if not name:
        raise missing(f"{path}.name")
    description = opt_str(tool, "description", f"{path}.") or ""
    internal = internal_name(name, namespace)
    if kind == "custom":
        text = _custom_description(description, tool.get("format"))
        return ToolDefinition(internal, text, _CUSTOM_SCHEMA), Offered("custom", name, namespace)
    parameters = tool.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise type_error(f"{path}.parameters", "an object", parameters)
    definition = ToolDefinition(internal, description, parameters or {})
    return definition, Offered("function", name, namespace)


def _namespace(tool: dict[str, object], path: str) -> list[tuple[ToolDefinition, Offered]]:
    namespace = required_str(tool, "name", f"{path}.")
    members = tool.get("tools")
    if not isinstance(members, list):
        raise type_error(f"{path}.tools", "an array", members)
    out = []
    for j, member in enumerate(members):
        where = f"{path}.tools[{j}]"
        if not isinstance(member, dict):
            raise type_error(where, "an object", member)
        kind = member.get("type", "function")
        if kind not in ("function", "custom"):
            raise invalid_value(f"{where}.type", kind, ("function", "custom"))
        out.append(_one(member, str(kind), where, namespace))
    return out


def _custom_description(description: str, fmt: object) -> str:
    """A free-form tool's description, told how its input is passed, with its grammar."""
    parts = [description.strip()] if description.strip() else []
    parts.append(f'Pass the raw input text as the string parameter "{CUSTOM_INPUT}".')
    if isinstance(fmt, dict) and fmt.get("type") == "grammar":
        definition = fmt.get("definition")
        if isinstance(definition, str) and definition.strip():
            syntax = fmt.get("syntax") or "grammar"
            parts.append(f"The input follows this {syntax} grammar:\n{definition.strip()}")
    return "\n\n".join(parts)


def _choice(value: object, offered: Mapping[str, Offered]) -> ToolChoice:
    if value is None:
        return ToolChoice()
    if isinstance(value, str):
        if value not in _MODES:
            raise invalid_value("tool_choice", value, _MODES)
        return ToolChoice(value)  # type: ignore[arg-type]
    if not isinstance(value, dict):
        raise type_error("tool_choice", "a string or an object", value)
    kind = value.get("type")
    if kind == "allowed_tools":
        mode = value.get("mode", "auto")
        return ToolChoice("required" if mode == "required" else "auto")
    if kind == LOCAL_SHELL:
        return ToolChoice("function", LOCAL_SHELL)
    if kind in ("function", "custom"):
        name = required_str(value, "name", "tool_choice.")
        namespace = opt_str(value, "namespace", "tool_choice.")
        internal = internal_name(name, namespace)
        if internal not in offered:
            raise InvalidRequest(
                f"Invalid 'tool_choice.name': no tool named '{name}' is defined in 'tools'.",
                param="tool_choice.name",
                code="invalid_value",
            )
        return ToolChoice("function", internal)
    # a hosted tool (web search and the like): nothing the tool layer can demand
    return ToolChoice()
