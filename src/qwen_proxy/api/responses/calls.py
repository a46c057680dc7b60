"""A call the service found, as the Responses output item of its tool's kind, and back.

Out (pure): a ``function_call`` (with its ``namespace`` for a namespaced function), a
``custom_tool_call`` with the raw ``input``, or a ``local_shell_call`` with an ``exec`` action.
In: the same items an agent sends back in its next ``input``, as the calls the conversation was
recorded with: same id, same function name, arguments that parse to the same JSON, so the turn
continues the same chat.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from qwen_proxy.api.responses.tools import (
    CUSTOM_INPUT,
    LOCAL_SHELL,
    Offered,
    ResponsesTools,
    internal_name,
)
from qwen_proxy.messages import ToolCall
from qwen_proxy.service.events import ToolCallEvent

#: each item type's id prefix
_PREFIXES = {"function": "fc_", "custom": "ctc_", "local_shell": "lsh_"}


def _arguments(call: ToolCallEvent) -> dict[str, Any]:
    try:
        value = orjson.loads(call.arguments)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def call_item(call: ToolCallEvent, how: Offered, status: str = "completed") -> dict[str, Any]:
    """The output item for ``call``, which was made to a tool offered as ``how``."""
    item_id = _PREFIXES[how.kind] + secrets.token_hex(24)
    if how.kind == "local_shell":
        return {
            "id": item_id,
            "type": "local_shell_call",
            "status": status,
            "call_id": call.id,
            "action": exec_action(_arguments(call)),
        }
    if how.kind == "custom":
        value = _arguments(call).get(CUSTOM_INPUT)
        item = {
            "id": item_id,
            "type": "custom_tool_call",
            "status": status,
            "call_id": call.id,
            "name": how.name,
            "input": value if isinstance(value, str) else "",
        }
    else:
        item = {
            "id": item_id,
            "type": "function_call",
            "status": status,
            "call_id": call.id,
            "name": how.name,
            "arguments": call.arguments,
        }
    if how.namespace is not None:
        item["namespace"] = how.namespace
    return item


def item_for(call: ToolCallEvent, tools: ResponsesTools) -> dict[str, Any]:
    """The finished output item for ``call``."""
    return call_item(call, tools.kind_of(call.name))


def exec_action(arguments: dict[str, Any]) -> dict[str, Any]:
    """The ``exec`` action of a ``local_shell_call`` for the function's arguments."""
    command = arguments.get("command")
    if isinstance(command, str):
        command = [command]
    return {
        "type": "exec",
        "command": command if isinstance(command, list) else [],
        "timeout_ms": arguments.get("timeout_ms"),
        "working_directory": arguments.get("workdir"),
        "env": {},
        "user": None,
    }


# --- the items an agent sends back ------------------------------------------------------------


def local_shell_call(call_id: str, action: dict[str, object]) -> ToolCall:
    """A ``local_shell_call`` item as the call to the ``local_shell`` function."""
    arguments: dict[str, object] = {"command": action.get("command")}
    if action.get("working_directory") is not None:
        arguments["workdir"] = action["working_directory"]
    if action.get("timeout_ms") is not None:
        arguments["timeout_ms"] = action["timeout_ms"]
    return ToolCall(call_id, LOCAL_SHELL, orjson.dumps(arguments).decode())


def custom_tool_call(call_id: str, name: str, text: str, namespace: str | None) -> ToolCall:
    """A ``custom_tool_call`` item as the call to its function (the input as ``input``)."""
    arguments = orjson.dumps({CUSTOM_INPUT: text}).decode()
    return ToolCall(call_id, internal_name(name, namespace), arguments)


def function_call(call_id: str, name: str, arguments: str, namespace: str | None) -> ToolCall:
    """A ``function_call`` item as the call the conversation holds."""
    return ToolCall(call_id, internal_name(name, namespace), arguments)
