"""A tool set like a coding agent's, and a helper that runs a reply through a sieve."""

from __future__ import annotations

from dataclasses import dataclass

from qwen_proxy.tools import Call, Sieve, Text, ToolSet

AGENT_TOOLS: list[dict[str, object]] = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file of the workspace.",
            "parameters": {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Path from the workspace root."},
                    "limit": {"type": "integer", "description": "Lines to read."},
                },
                "required": ["path"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "write_file",
            "description": "Write a whole file.",
            "parameters": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "content": {"type": "string"},
                },
                "required": ["path", "content"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "web_search",
            "description": "Search the web.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}},
                "required": ["query"],
            },
        },
    },
]
TOOLS = ToolSet.from_openai(AGENT_TOOLS)


@dataclass(frozen=True)
class Outcome:
    """What a sieve made of a reply: events in order (adjacent texts joined), problems."""

    events: tuple[Text | Call, ...]
    problems: tuple[str, ...]

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, Text))

    @property
    def calls(self) -> list[tuple[str, str]]:
        return [(e.name, e.arguments) for e in self.events if isinstance(e, Call)]


def sieve_pieces(pieces: list[str], tools: ToolSet = TOOLS, *, parallel: bool = True) -> Outcome:
    """Feed ``pieces`` one by one, then close; events joined as a client would see them."""
    sieve = Sieve(tools, parallel=parallel)
    events: list[Text | Call] = []
    for piece in pieces:
        events.extend(sieve.feed(piece))
    events.extend(sieve.close())
    joined: list[Text | Call] = []
    for event in events:
        if isinstance(event, Text) and joined and isinstance(joined[-1], Text):
            joined[-1] = Text(joined[-1].text + event.text)
        else:
            joined.append(event)
    return Outcome(tuple(joined), tuple(p.kind for p in sieve.problems))


def sieve_text(text: str, tools: ToolSet = TOOLS, *, parallel: bool = True) -> Outcome:
    """The whole reply in one piece."""
    return sieve_pieces([text], tools, parallel=parallel)
