"""What every agent run of the corpus benchmark shares: the corpus, the shapes, the turns seen,
and what the emulator's model means by a request (see ``tool_corpus.py``)."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from qwen_proxy.emulator import toolmodel
from qwen_proxy.emulator.model import Turn
from qwen_proxy.emulator.testing import EmulatorHandle
from qwen_proxy.messages import ChatMessage, CompletionRequest, ToolDefinition
from qwen_proxy.service.tooling import Tooling
from qwen_proxy.tools import Sieve, ToolSet

CORPUS = Path(__file__).resolve().parent / "corpus"
MODEL = "qwen3.7-plus"
CALL_SHAPES = (
    "own", "native", "native_string", "coder", "fenced", "bare", "unclosed", "fullwidth",
    "trailing_comma", "in_thinking", "repeat", "multi", "multi_block",
)  # fmt: skip
TEXT_SHAPES = ("cut", "unknown", "example", "intercepted", "text")
MARKUP = ("qp:call", "<tool_call", "</tool_call", "<function=", '"arguments"')
#: code with quotes, braces, backslashes, a closing tag and non-ASCII text inside a string
TRICKY = 'def greet(name):\n    return f"héllo {name}\\n</tool_call> {{ok}}"\n'
Calls = list[tuple[str, Any]]


def load(name: str) -> dict[str, Any]:
    """One agent's corpus entry."""
    data: dict[str, Any] = json.loads((CORPUS / f"{name}.json").read_text())
    return data


class Turns:
    """What one agent run saw: per (agent, shape) the turns as intended, and the chats."""

    def __init__(self) -> None:
        self.ok: dict[tuple[str, str], list[bool]] = defaultdict(list)
        self.continued: dict[str, list[bool]] = defaultdict(list)
        self.failures: list[str] = []
        self.layer_ns: dict[str, list[int]] = defaultdict(list)

    def check(self, key: tuple[str, str], ok: bool, why: str) -> bool:
        self.ok[key].append(ok)
        if not ok and len(self.failures) < 30:
            self.failures.append(f"{key[0]}/{key[1]}: {why}")
        return ok


def expected_calls(shape: str, first: tuple[str, Any], tools: ToolSet, prompt: str) -> Calls:
    """The calls the emulator's model means in ``shape`` (the second one of ``multi`` made as
    the emulator makes it: the next tool listed, its required parameters filled in)."""
    if shape in TEXT_SHAPES:
        return []
    if shape not in ("multi", "multi_block"):
        return [first]
    defined = toolmodel.definitions([Turn("user", prompt)])
    names = list(defined)
    alias = tools.alias_of(first[0])
    following = names[(names.index(alias) + 1) % len(names)]
    spec = tools.lookup(following)
    assert spec is not None
    return [first, (spec.name, toolmodel.made_arguments(defined[following], 2))]


def clean(text: str, calls: Calls) -> bool:
    """No call markup left in the text of a reply that made calls."""
    return not calls or not any(mark in text for mark in MARKUP)


def layer_time(tooling: Tooling, messages: list[ChatMessage], reply: toolmodel.ToolReply) -> int:
    """Nanoseconds the tool layer spends on one turn: the upstream text and the sieves."""
    start = time.perf_counter_ns()
    tooling.new_chat_text(messages) if len(messages) < 3 else tooling.continued_text(
        messages[-1:], messages[:-1]
    )
    for text in (reply.answer, reply.thought or ""):
        sieve = Sieve(tooling.tools, parallel=tooling.parallel)
        for i in range(0, len(text), 6):
            sieve.feed(text[i : i + 6])
        sieve.close()
    return time.perf_counter_ns() - start


def ask_call(call: tuple[str, Any]) -> str:
    """How the task asks the emulator's model for a call: ``call NAME {arguments}``."""
    return f"call {call[0]} {json.dumps(call[1])}"


def tools_prompt_text(tools: ToolSet) -> str:
    """The definitions as the gateway writes them (for reading the emulator's made calls)."""
    from qwen_proxy.tools import tools_prompt

    return tools_prompt(tools)


class CheckedLoop:
    """What every corpus loop does after a reply: check it against what the model meant, note
    the Qwen chat the turn went to, and time the tool layer on the texts the gateway sent."""

    emulator: EmulatorHandle
    turns: Turns
    key: tuple[str, str]
    chats: list[str]
    first_sent: str | None

    def internal(self) -> tuple[tuple[ChatMessage, ...], tuple[ToolDefinition, ...]]:
        """The conversation so far and the tools, as the gateway holds them."""
        raise NotImplementedError

    def check(
        self, text: str, calls: Calls, ids: list[str], intended: Calls, expect_text: str | None
    ) -> None:
        """Count the turn as meant or not; note its chat; time the tool layer on it."""
        sent = self.emulator.requests("/chat/completions")[-1].json
        self.chats.append(sent["chat_id"])
        ok = calls == intended and clean(text, calls) and len(set(ids)) == len(ids)
        if expect_text is not None:
            ok = ok and text == expect_text
        self.turns.check(self.key, ok, f"got {calls} {text[:80]!r}, meant {intended}")
        self._time_layer(sent["messages"][-1]["content"])

    def _time_layer(self, upstream: str) -> None:
        self.first_sent = self.first_sent or upstream
        reply = toolmodel.tool_reply([Turn("user", self.first_sent), Turn("user", upstream)])
        if reply is None:
            return
        messages, definitions = self.internal()
        tooling = Tooling.of(CompletionRequest(MODEL, messages, tools=definitions))
        assert tooling is not None
        self.turns.layer_ns[self.key[0]].append(layer_time(tooling, list(messages), reply))
