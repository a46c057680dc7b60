"""The agent corpus: coding agents' real requests replayed through the gateway, every call shape.

``.venv/bin/python bench/tool_corpus.py [--quick]`` starts an emulator and a gateway (in this
process, real sockets), then for each agent of ``bench/corpus/`` (its system prompt and tool set
as the agent sends them, rebuilt from its public source or captured from the agent itself) and
each shape the emulator writes calls in, plays a three-turn agent loop through the face the agent
speaks, with its official SDK, streamed and not:

1. the task: the model answers with a call in that shape (or with text, for the text shapes);
2. the tool results: the model reads them and calls a second tool, in the same shape;
3. the second results: the model answers in text, quoting each result.

Cline, Roo Code, Continue, opencode and Aider speak chat completions (the openai SDK); Claude
Code speaks Anthropic Messages (the anthropic SDK) and Codex CLI the Responses API
(``face_corpus.py``). A turn is *as intended* when the agent gets exactly the calls the model
meant (names and arguments, nothing invented, nothing lost, no markup left in the text) or, for
the text shapes, no call and the text. The table gives the share per agent and shape, how many
continued turns went on in the same upstream chat, and the tool layer's own time per turn
(prompt building and the sieve over the reply, measured in this process on the same texts).
Aider sends no tools (its edits are text blocks): its row checks that such a turn passes
through byte for byte, and its legacy function-calling coders are replayed with ``functions``
(one turn, one call).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import openai

from corpus_turns import (
    CALL_SHAPES,
    MODEL,
    TEXT_SHAPES,
    TRICKY,
    Calls,
    CheckedLoop,
    Turns,
    ask_call,
    clean,
    expected_calls,
    load,
    tools_prompt_text,
)
from face_corpus import FACE_PLANS, run_face_agent
from qwen_proxy.config import Settings
from qwen_proxy.emulator.config import EmulatorConfig
from qwen_proxy.emulator.testing import EmulatorHandle, running_emulator
from qwen_proxy.messages import ChatMessage, ToolDefinition
from qwen_proxy.server.run import BackgroundGateway
from qwen_proxy.tools import ToolSet

#: the agent's task and the two calls its model makes, per agent
PLANS: dict[str, tuple[str, tuple[str, dict[str, Any]], tuple[str, dict[str, Any]]]] = {
    "cline": (
        "Fix the greeting in src/app.py.",
        ("read_file", {"path": "src/app.py", "start_line": 1, "end_line": 40}),
        ("apply_patch", {"input": f"*** Begin Patch\n*** Update File: src/app.py\n+{TRICKY}"}),
    ),
    "roo-code": (
        "Fix the greeting in src/app.py.",
        ("update_todo_list", {"todos": "[x] read the file\n[-] fix the greeting\n[ ] run tests"}),
        (
            "apply_diff",
            {
                "path": "src/app.py",
                "diff": "<<<<<<< SEARCH\n:start_line:1\n-------\nold\n=======\n"
                f"{TRICKY}>>>>>>> REPLACE",
            },
        ),
    ),
    "continue": (
        "Fix the greeting in src/app.py.",
        ("read_file", {"filepath": "src/app.py"}),
        (
            "multi_edit",
            {
                "filepath": "src/app.py",
                "edits": [
                    {"old_string": "hello", "new_string": TRICKY, "replace_all": True},
                    {"old_string": "x = 1", "new_string": 'x = {"a": [1, 2]}'},
                ],
            },
        ),
    ),
    "opencode": (
        "Fix the greeting in src/app.py and run the tests.",
        (
            "todowrite",
            {
                "todos": [
                    {"content": "Fix greeting", "status": "in_progress", "priority": "high"},
                    {"content": "Run tests", "status": "pending", "priority": "medium"},
                ]
            },
        ),
        ("edit", {"filePath": "/repo/src/app.py", "oldString": "hello", "newString": TRICKY}),
    ),
}
LEGACY_PLAN = (
    "Fix the greeting in src/app.py.",
    (
        "replace_lines",
        {
            "explanation": "Fix it.",
            "edits": [
                {
                    "path": "src/app.py",
                    "original_lines": ["old"],
                    "updated_lines": TRICKY.splitlines(),
                }
            ],
        },
    ),
)
EDIT_BLOCK = f"src/app.py\n```python\n<<<<<<< SEARCH\nold\n=======\n{TRICKY}>>>>>>> REPLACE\n```"


def read_reply(client: openai.OpenAI, stream: bool, **request: Any) -> tuple[str, Calls, list[str]]:
    """One request as an agent reads it: text, calls (name, parsed arguments), call ids."""
    if not stream:
        reply = client.chat.completions.create(**request)
        message = reply.choices[0].message
        if message.function_call is not None:
            fc = message.function_call
            return message.content or "", [(fc.name, json.loads(fc.arguments))], ["legacy"]
        calls = message.tool_calls or []
        return (
            message.content or "",
            [(c.function.name, json.loads(c.function.arguments)) for c in calls],  # type: ignore[union-attr]
            [c.id for c in calls],
        )
    text, made, legacy = "", {}, None
    for chunk in client.chat.completions.create(stream=True, **request):
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        text += delta.content or ""
        if delta.function_call is not None:
            legacy = (delta.function_call.name, json.loads(delta.function_call.arguments or "{}"))
        for call in delta.tool_calls or []:
            assert call.function is not None
            made[call.index] = (call.id, call.function.name, call.function.arguments)
    if legacy is not None:
        return text, [legacy], ["legacy"]
    ordered = [made[i] for i in sorted(made)]
    calls = [(n, json.loads(a or "{}")) for _, n, a in ordered]
    return text, calls, [i or "" for i, _, _ in ordered]


class Loop(CheckedLoop):
    """One agent conversation through the gateway: one shape, streamed or not."""

    def __init__(
        self,
        client: openai.OpenAI,
        emulator: EmulatorHandle,
        entry: dict[str, Any],
        key: tuple[str, str],
        stream: bool,
        turns: Turns,
    ) -> None:
        self.client, self.emulator, self.entry = client, emulator, entry
        self.key, self.stream, self.turns = key, stream, turns
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": entry["system"]}]
        self.chats: list[str] = []
        self.first_sent: str | None = None
        self.definitions = tuple(
            ToolDefinition(
                t["function"]["name"],
                t["function"].get("description") or "",
                t["function"].get("parameters") or {},
            )
            for t in entry["tools"]
        )

    def ask(self, intended: Calls, expect_text: str | None = None) -> tuple[str, Calls, list[str]]:
        """Send the conversation so far; check the reply against what the model meant."""
        text, calls, ids = read_reply(
            self.client,
            self.stream,
            model=MODEL,
            messages=self.messages,
            tools=self.entry["tools"],
        )
        self.check(text, calls, ids, intended, expect_text)
        return text, calls, ids

    def internal(self) -> tuple[tuple[ChatMessage, ...], tuple[ToolDefinition, ...]]:
        return tuple(_messages(self.messages)), self.definitions


def run_agent(
    client: openai.OpenAI,
    emulator: EmulatorHandle,
    name: str,
    shapes: tuple[str, ...],
    turns: Turns,
) -> None:
    """The three-turn loop for every shape, whole and streamed."""
    entry = load(name)
    task, first, second = PLANS[name]
    tools = ToolSet.from_openai(entry["tools"])
    prompt = tools_prompt_text(tools)
    for shape in shapes:
        for stream in (False, True):
            loop = Loop(client, emulator, entry, (name, shape), stream, turns)
            magic = f"[[tools:{shape}]]"
            loop.messages.append({"role": "user", "content": f"{magic} {task}\n{ask_call(first)}"})
            text, calls, ids = loop.ask(expected_calls(shape, first, tools, prompt))
            if not calls:
                loop.messages.append({"role": "assistant", "content": text})
                loop.messages.append(
                    {"role": "user", "content": f"{magic} go on\n{ask_call(second)}"}
                )
            else:
                loop.messages.append(_assistant(text, calls, ids))
                results = [
                    f"{magic} {ask_call(second)}",
                    *(f"done {i}" for i in range(1, len(ids))),
                ]
                loop.messages += _results(ids, results)
            text, calls, ids = loop.ask(expected_calls(shape, second, tools, prompt))
            if not calls:
                loop.messages.append({"role": "assistant", "content": text})
                loop.messages.append({"role": "user", "content": "[[tools:text]] how many turns?"})
                loop.ask([], "I see 3 user turns.")
            else:
                loop.messages.append(_assistant(text, calls, ids))
                loop.messages += _results(ids, [f"result {i}\nmore" for i in range(len(ids))])
                names = [tools.alias_of(n) for n, _ in calls]
                lines = [
                    f"Result of {n} ({i}): result {k}"
                    for k, (n, i) in enumerate(zip(names, ids, strict=True))
                ]
                loop.ask([], "\n".join(lines))
            turns.continued[name] += [c == loop.chats[0] for c in loop.chats[1:]]


def _assistant(text: str, calls: Calls, ids: list[str]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for i, (n, a) in zip(ids, calls, strict=True)
        ],
    }


def _results(ids: list[str], contents: list[str]) -> list[dict[str, Any]]:
    return [
        {"role": "tool", "tool_call_id": i, "content": c}
        for i, c in zip(ids, contents, strict=True)
    ]


def _messages(messages: list[dict[str, Any]]) -> list[ChatMessage]:
    from qwen_proxy.messages import ToolCall

    out = []
    for m in messages:
        calls = tuple(
            ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
            for c in m.get("tool_calls") or ()
        )
        out.append(
            ChatMessage(
                role=m["role"],
                text=m.get("content") or "",
                tool_calls=calls,
                tool_call_id=m.get("tool_call_id"),
            )
        )
    return out


def run_aider(client: openai.OpenAI, shapes: tuple[str, ...], turns: Turns) -> None:
    """Aider's edit blocks pass through untouched; its legacy function coders get one call."""
    entry = load("aider")
    base = [{"role": "system", "content": entry["system"]}, *entry["examples"]]
    for stream in (False, True):
        messages = [*base, {"role": "user", "content": f"echo: {EDIT_BLOCK}"}]
        text, calls, _ = read_reply(client, stream, model=MODEL, messages=messages)
        turns.check(("aider", "edit blocks"), text == EDIT_BLOCK and not calls, repr(text[:80]))
    task, call = LEGACY_PLAN
    tools = ToolSet.from_openai(entry["functions"])
    for shape in shapes:
        for stream in (False, True):
            ask = f"[[tools:{shape}]] {task}\n{ask_call(call)}"
            messages = [*base, {"role": "user", "content": ask}]
            intended = expected_calls(shape, call, tools, tools_prompt_text(tools))[:1]
            text, calls, _ = read_reply(
                client, stream, model=MODEL, messages=messages, functions=entry["functions"]
            )
            ok = calls == intended and clean(text, calls)
            turns.check(("aider (functions)", shape), ok, f"got {calls} {text[:60]!r}")


def report(turns: Turns, shapes: tuple[str, ...]) -> str:
    """The markdown table."""
    agents = sorted({agent for agent, _ in turns.ok})
    head = "| shape | " + " | ".join(agents) + " |"
    lines = [head, "|" + "---|" * (len(agents) + 1)]
    for shape in (*shapes, "edit blocks"):
        cells = []
        for agent in agents:
            seen = turns.ok.get((agent, shape))
            cells.append(f"{100 * sum(seen) / len(seen):.0f} % ({len(seen)})" if seen else "")
        if any(cells):
            lines.append(f"| {shape} | " + " | ".join(cells) + " |")
    total = [v for seen in turns.ok.values() for v in seen]
    lines.append("")
    lines.append(f"turns as intended: {sum(total)} of {len(total)}")
    for agent, same in sorted(turns.continued.items()):
        ns = sorted(turns.layer_ns[agent])
        p99 = ns[min(len(ns) - 1, int(len(ns) * 0.99))] if ns else 0
        lines.append(
            f"{agent}: continued turns in the same chat {sum(same)} of {len(same)}; "
            f"tool layer per turn median {statistics.median(ns) / 1e6:.2f} ms, "
            f"p99 {p99 / 1e6:.2f} ms"
        )
    if turns.failures:
        lines.append("\nfirst failures:")
        lines += [f"- {f}" for f in turns.failures]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three shapes only")
    args = parser.parse_args(argv)
    shapes = ("own", "native", "cut") if args.quick else (*CALL_SHAPES, *TEXT_SHAPES)
    turns = Turns()
    started = time.monotonic()
    # a token alone opens every route in the 2026-06 era, as in `qwen-proxy demo`
    era = EmulatorConfig.default(auth_era="2026-06")
    with tempfile.TemporaryDirectory() as data, running_emulator(era) as emulator:
        settings = Settings(
            port=0,
            upstream_url=emulator.url,
            token=emulator.token,
            data_dir=Path(data),
            store="memory",
            log_level="warning",
        )
        with BackgroundGateway(settings) as gateway:
            client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="bench", max_retries=0)
            claude = anthropic.Anthropic(base_url=gateway.url, api_key="bench", max_retries=0)
            runs: list[Callable[[], None]] = [
                *(lambda n=n: run_agent(client, emulator, n, shapes, turns) for n in PLANS),
                lambda: run_aider(client, shapes, turns),
                *(
                    lambda n=n: run_face_agent((claude, client), emulator, n, shapes, turns)
                    for n in FACE_PLANS
                ),
            ]
            for run in runs:
                run()
    print(report(turns, shapes))
    print(f"\n({time.monotonic() - started:.1f} s)", file=sys.stderr)
    return 0 if all(v for seen in turns.ok.values() for v in seen) else 1


if __name__ == "__main__":
    raise SystemExit(main())
