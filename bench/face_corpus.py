"""The corpus agents that speak the other faces: Claude Code (Anthropic Messages, through the
official anthropic SDK) and Codex CLI (the Responses API, through the openai SDK).

Each plays the same three-turn loop as the chat agents of ``tool_corpus.py``, with the request
the agent sends (its system prompt or instructions and context, its tools, its headers and
fields) and its history as it keeps it: Claude Code resends content blocks with ``tool_use`` and
``tool_result``; Codex (``store: false``) resends every item, its calls as ``function_call``,
``custom_tool_call`` and ``local_shell_call`` items answered by their output items. A call reads
back as (the function it was offered as, its arguments), so it compares with what the emulator's
model meant.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import orjson

from corpus_turns import (
    MODEL,
    TRICKY,
    Calls,
    CheckedLoop,
    Turns,
    ask_call,
    expected_calls,
    load,
    tools_prompt_text,
)
from qwen_proxy.api.anthropic.tools import parse_tools as anthropic_tools
from qwen_proxy.api.anthropic.validation import parse_messages_request
from qwen_proxy.api.responses.tools import parse_tools as responses_tools
from qwen_proxy.api.responses.validation import parse_responses_request
from qwen_proxy.emulator.testing import EmulatorHandle
from qwen_proxy.messages import ChatMessage, ToolDefinition
from qwen_proxy.tools import ToolSet

Plan = tuple[str, tuple[str, dict[str, Any]], tuple[str, dict[str, Any]]]
PROJECT = "/home/user/project"
PATCH = f"*** Begin Patch\n*** Update File: src/app.py\n@@\n-hello\n+{TRICKY}*** End Patch\n"
#: the agent's task and the two calls its model makes
FACE_PLANS: dict[str, Plan] = {
    "claude-code": (
        "Fix the greeting in src/app.py.",
        ("Read", {"file_path": f"{PROJECT}/src/app.py"}),
        (
            "Edit",
            {"file_path": f"{PROJECT}/src/app.py", "old_string": "hello", "new_string": TRICKY},
        ),
    ),
    "codex": (
        "Fix the greeting in src/app.py.",
        ("exec_command", {"cmd": "sed -n 1,40p src/app.py", "workdir": PROJECT}),
        ("multi_agent_v1.spawn_agent", {"message": f"Fix the greeting:\n{TRICKY}"}),
    ),
    "codex-local": (
        "Fix the greeting in src/app.py.",
        ("local_shell", {"command": ["bash", "-lc", "cat src/app.py"], "workdir": PROJECT}),
        ("apply_patch", {"input": PATCH}),
    ),
}


class FaceLoop(CheckedLoop):
    """One agent conversation through a face: one shape, streamed or not."""

    def __init__(
        self,
        emulator: EmulatorHandle,
        entry: dict[str, Any],
        key: tuple[str, str],
        stream: bool,
        turns: Turns,
    ) -> None:
        self.emulator, self.entry, self.key = emulator, entry, key
        self.stream, self.turns = stream, turns
        self.chats: list[str] = []
        self.first_sent: str | None = None

    # each face: its request body, how it reads a reply, how it keeps the history
    def body(self) -> dict[str, Any]:
        raise NotImplementedError

    def send(self) -> tuple[str, Calls, list[str]]:
        raise NotImplementedError

    def user(self, text: str) -> None:
        raise NotImplementedError

    def results(self, ids: list[str], names: list[str], contents: list[str]) -> None:
        raise NotImplementedError

    def definitions(self) -> tuple[ToolDefinition, ...]:
        raise NotImplementedError

    def ask(self, intended: Calls, expect_text: str | None = None) -> tuple[str, Calls, list[str]]:
        """Send the conversation so far; check the reply against what the model meant."""
        text, calls, ids = self.send()
        self.check(text, calls, ids, intended, expect_text)
        return text, calls, ids


class ClaudeCodeLoop(FaceLoop):
    """Claude Code: system blocks, tools and betas as it sends them; content blocks kept."""

    def __init__(self, client: anthropic.Anthropic, *args: Any) -> None:
        super().__init__(*args)
        self.client = client
        self.messages: list[dict[str, Any]] = []

    def body(self) -> dict[str, Any]:
        request = self.entry["request"]
        return {
            "model": request["model"],
            "max_tokens": request["max_tokens"],
            "system": self.entry["system"],
            "tools": self.entry["tools"],
            "messages": self.messages,
            "thinking": request["thinking"],
            "metadata": request["metadata"],
        }

    def send(self) -> tuple[str, Calls, list[str]]:
        headers = {
            k: v for k, v in self.entry["headers"].items() if k not in ("anthropic-version",)
        }
        extra = {"context_management": self.entry["request"]["context_management"]}
        kwargs: dict[str, Any] = {**self.body(), "extra_headers": headers, "extra_body": extra}
        if self.stream:
            with self.client.messages.stream(**kwargs) as running:
                message = running.get_final_message()
        else:
            # (Claude Code always streams; whole, its max_tokens needs an explicit timeout)
            message = self.client.messages.create(timeout=120, **kwargs)
        blocks = [block.model_dump(exclude_none=True) for block in message.content]
        self.messages.append({"role": "assistant", "content": blocks})
        text = "".join(b["text"] for b in blocks if b["type"] == "text")
        uses = [b for b in blocks if b["type"] == "tool_use"]
        ids = [b["id"] for b in uses]
        if not all(i.startswith("toolu_") for i in ids):
            ids.append("(an id without toolu_)")  # fails the turn's check on purpose
        return text, [(b["name"], b["input"]) for b in uses], ids

    def user(self, text: str) -> None:
        content = [{"type": "text", "text": text}]
        if not self.messages:
            content = [*self.entry["context"], *content]
        self.messages.append({"role": "user", "content": content})

    def results(self, ids: list[str], names: list[str], contents: list[str]) -> None:
        blocks = [
            {"type": "tool_result", "tool_use_id": i, "content": c}
            for i, c in zip(ids, contents, strict=True)
        ]
        self.messages.append({"role": "user", "content": blocks})

    def internal(self) -> tuple[tuple[ChatMessage, ...], tuple[ToolDefinition, ...]]:
        parsed = parse_messages_request(
            orjson.dumps(self.body()), content_type=None, max_body_bytes=1 << 30
        )
        return parsed.messages, parsed.tools.definitions

    def definitions(self) -> tuple[ToolDefinition, ...]:
        return anthropic_tools({"tools": self.entry["tools"]}).definitions


class CodexLoop(FaceLoop):
    """Codex: its context items, tools and fields as it sends them; every item resent."""

    def __init__(self, client: openai.OpenAI, *args: Any) -> None:
        super().__init__(*args)
        self.client = client
        self.items: list[dict[str, Any]] = list(self.entry["context"])
        self.kinds: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        request = {k: v for k, v in self.entry["request"].items() if k != "stream"}
        return {"model": MODEL, "input": self.items, "tools": self.entry["tools"], **request}

    def send(self) -> tuple[str, Calls, list[str]]:
        kwargs: dict[str, Any] = {**self.body(), "extra_headers": self.entry["headers"]}
        if self.stream:
            final = None
            for event in self.client.responses.create(stream=True, **kwargs):
                if event.type == "response.completed":
                    final = event.response
            assert final is not None
        else:
            final = self.client.responses.create(**kwargs)
        items = [item.model_dump(exclude_none=True) for item in final.output]
        self.items += items
        calls, ids = [], []
        for item in items:
            call = read_call(item)
            if call is not None:
                calls.append(call)
                ids.append(item["call_id"])
                self.kinds[item["call_id"]] = item["type"]
        return final.output_text, calls, ids

    def user(self, text: str) -> None:
        content = [{"type": "input_text", "text": text}]
        self.items.append({"type": "message", "role": "user", "content": content})

    def results(self, ids: list[str], names: list[str], contents: list[str]) -> None:
        for call_id, content in zip(ids, contents, strict=True):
            custom = self.kinds.get(call_id) == "custom_tool_call"
            kind = "custom_tool_call_output" if custom else "function_call_output"
            self.items.append({"type": kind, "call_id": call_id, "output": content})

    def internal(self) -> tuple[tuple[ChatMessage, ...], tuple[ToolDefinition, ...]]:
        parsed = parse_responses_request(
            orjson.dumps(self.body()), content_type=None, max_body_bytes=1 << 30
        )
        return parsed.input, parsed.tooling.definitions

    def definitions(self) -> tuple[ToolDefinition, ...]:
        return responses_tools(self.entry["tools"], None, True).definitions


def read_call(item: dict[str, Any]) -> tuple[str, Any] | None:
    """A call item as (the function it was offered as, its arguments); None for others."""
    kind = item["type"]
    if kind == "function_call":
        namespace = item.get("namespace")
        name = f"{namespace}.{item['name']}" if namespace else item["name"]
        return name, json.loads(item["arguments"])
    if kind == "custom_tool_call":
        return item["name"], {"input": item["input"]}
    if kind == "local_shell_call":
        action = item["action"]
        arguments: dict[str, Any] = {"command": action["command"]}
        if action.get("working_directory") is not None:
            arguments["workdir"] = action["working_directory"]
        if action.get("timeout_ms") is not None:
            arguments["timeout_ms"] = action["timeout_ms"]
        return "local_shell", arguments
    return None


def play(loop: FaceLoop, plan: Plan, shape: str, tools: ToolSet, prompt: str) -> None:
    """The three turns of ``tool_corpus``'s loop, through ``loop``'s face."""
    task, first, second = plan
    magic = f"[[tools:{shape}]]"
    loop.user(f"{magic} {task}\n{ask_call(first)}")
    _, calls, ids = loop.ask(expected_calls(shape, first, tools, prompt))
    if not calls:
        loop.user(f"{magic} go on\n{ask_call(second)}")
    else:
        names = [n for n, _ in calls]
        results = [f"{magic} {ask_call(second)}", *(f"done {i}" for i in range(1, len(ids)))]
        loop.results(ids, names, results)
    _, calls, ids = loop.ask(expected_calls(shape, second, tools, prompt))
    if not calls:
        loop.user("[[tools:text]] how many turns?")
        loop.ask([], "I see 3 user turns.")
        return
    names = [n for n, _ in calls]
    loop.results(ids, names, [f"result {i}\nmore" for i in range(len(ids))])
    aliases = [tools.alias_of(n) for n in names]
    pairs = enumerate(zip(aliases, ids, strict=True))
    lines = [f"Result of {n} ({i}): result {k}" for k, (n, i) in pairs]
    loop.ask([], "\n".join(lines))


def run_face_agent(
    clients: tuple[anthropic.Anthropic, openai.OpenAI],
    emulator: EmulatorHandle,
    name: str,
    shapes: tuple[str, ...],
    turns: Turns,
) -> None:
    """The three-turn loop of one face agent for every shape, whole and streamed."""
    entry = load(name)
    plan = FACE_PLANS[name]
    for shape in shapes:
        for stream in (False, True):
            args = (emulator, entry, (name, shape), stream, turns)
            loop: FaceLoop
            if name == "claude-code":
                loop = ClaudeCodeLoop(clients[0], *args)
            else:
                loop = CodexLoop(clients[1], *args)
            tools = ToolSet.from_definitions(loop.definitions())
            play(loop, plan, shape, tools, tools_prompt_text(tools))
            turns.continued[name] += [c == loop.chats[0] for c in loop.chats[1:]]
