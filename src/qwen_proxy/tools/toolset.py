"""The request's tools as the tool layer sees them: specs, aliases, ``tool_choice``, identity.

Names that clash with the upstream's own tools (``web_search``, ``code_interpreter``, ...) are
shown to the model under an alias (``client_web_search``): a model told it has a ``web_search``
tool tends to reach for the platform's search instead of writing a call. Calls are mapped back
to the client's name on the way out, and a call written with the original name is accepted too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from qwen_proxy.messages import ChoiceMode, ToolChoice, ToolDefinition

__all__ = [
    "ALIAS_PREFIX",
    "UPSTREAM_TOOLS",
    "ChoiceMode",
    "ToolChoice",
    "ToolSet",
    "ToolSpec",
    "parse_tool_choice",
    "tool_set_digest",
]

#: the upstream's own tool names (lower case); a client tool with one of them gets an alias
UPSTREAM_TOOLS = frozenset(
    {
        "web_search",
        "web_search_image",
        "web_extractor",
        "web_fetch",
        "code_interpreter",
        "image_gen",
        "image_gen_tool",
        "image_edit",
        "image_zoom_in_tool",
        "t2i",
        "t2v",
        "video_gen",
        "deep_research",
        "artifacts",
        "search",
        "browser",
        "python",
        "memory",
    }
)
ALIAS_PREFIX = "client_"
#: bumped whenever the identity of a tool set changes meaning, so old conversations miss
_FORMAT = b"qwen-proxy/tool-set/v1\x00"


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One function tool: the client's name, the name the model sees, and its schema."""

    name: str
    alias: str
    description: str
    parameters: Mapping[str, Any]


class ToolSet:
    """The tools of one request, looked up by the name a model writes."""

    def __init__(self, specs: Sequence[ToolSpec]) -> None:
        self.specs = tuple(specs)
        self._by_name: dict[str, ToolSpec] = {}
        for spec in self.specs:
            self._by_name.setdefault(spec.alias, spec)
            self._by_name.setdefault(spec.name, spec)
        self._folded = {name.lower(): spec for name, spec in self._by_name.items()}

    @classmethod
    def from_openai(cls, tools: Iterable[Mapping[str, Any]]) -> ToolSet:
        """From OpenAI ``tools`` items (``{"type": "function", "function": {...}}``) or legacy
        ``functions`` items (the inner ``{...}`` alone)."""
        functions = [t.get("function", t) for t in tools]
        names = [str(f["name"]) for f in functions]
        taken = set(names)
        specs = []
        for function, name in zip(functions, names, strict=True):
            alias = name
            if name.lower() in UPSTREAM_TOOLS:
                alias = _free_alias(name, taken)
                taken.add(alias)
            parameters = function.get("parameters")
            specs.append(
                ToolSpec(
                    name=name,
                    alias=alias,
                    description=str(function.get("description") or ""),
                    parameters=parameters if isinstance(parameters, Mapping) else {},
                )
            )
        return cls(specs)

    @classmethod
    def from_definitions(cls, definitions: Iterable[ToolDefinition]) -> ToolSet:
        """From the face-neutral definitions of a ``CompletionRequest``."""
        return cls.from_openai([d.as_dict() for d in definitions])

    def __bool__(self) -> bool:
        return bool(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def lookup(self, written: str) -> ToolSpec | None:
        """The tool a model meant by ``written`` (alias or client name; a ``functions.``
        prefix and letter case are forgiven), None for a tool the request did not define."""
        name = written.strip().strip("\"'`")
        if name.startswith("functions."):
            name = name.removeprefix("functions.")
        return self._by_name.get(name) or self._folded.get(name.lower())

    def alias_of(self, name: str) -> str:
        """The name the model sees for the client's tool ``name``."""
        spec = self._by_name.get(name)
        return spec.alias if spec is not None else name


def _free_alias(name: str, taken: set[str]) -> str:
    alias = ALIAS_PREFIX + name
    n = 2
    while alias in taken:
        alias = f"{ALIAS_PREFIX}{name}_{n}"
        n += 1
    return alias


def parse_tool_choice(value: object, *, legacy: object = None) -> ToolChoice:
    """``tool_choice`` (or the legacy ``function_call``) as a :class:`ToolChoice`; the face has
    already validated the value, anything unexpected means ``auto``."""
    if value is None:
        value = legacy
    if value in ("none", "auto", "required"):
        return ToolChoice(mode=value)
    if isinstance(value, Mapping):
        function = value.get("function", value)
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            return ToolChoice(mode="function", name=function["name"])
    return ToolChoice()


def tool_set_digest(tools: Sequence[Mapping[str, Any]]) -> bytes:
    """16 bytes naming a tool set: a conversation continued with other tools is another one.

    Keys are sorted and the tools' order kept (the order is what the model was shown).
    An empty set has a digest too, so adding tools to a plain chat also starts afresh.
    """
    functions = [t.get("function", t) for t in tools]
    body = orjson.dumps(functions, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(_FORMAT + body).digest()[:16]
