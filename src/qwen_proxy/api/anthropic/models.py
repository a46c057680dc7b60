"""Claude model names to Qwen models (``QWEN_PROXY_ANTHROPIC_MODEL_MAP``), and the model list
Anthropic clients read.

The map is (glob, Qwen model) pairs, first match wins, names compared in lower case; a name no
pattern matches is used as it is, so ``qwen3.7-max`` works from an Anthropic client too. Each
pattern is also listed by ``GET /v1/models`` under a plain id: the pattern without its ``*``
(``claude-*sonnet*`` and ``claude-sonnet-*`` are both listed as ``claude-sonnet``), which the
map resolves as well; Claude Code's model discovery offers the ids that start with ``claude``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from qwen_proxy.errors import ModelNotFound
from qwen_proxy.service.models import UpstreamModel, openai_model, resolve_model


def listed_id(pattern: str) -> str:
    """The id a pattern is listed under: without wildcards, dashes tidied."""
    plain = re.sub(r"-{2,}", "-", pattern.replace("*", "").replace("?", ""))
    return plain.strip("-").lower()


class ModelMap:
    """The Claude-name table, resolved in order."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._pairs = [(pattern.lower(), listed_id(pattern), model) for pattern, model in pairs]

    def resolve(self, name: str) -> str:
        """The Qwen model a client's model name stands for (the name itself when unmapped)."""
        wanted = name.strip().lower()
        for pattern, plain, model in self._pairs:
            if wanted == plain or fnmatchcase(wanted, pattern):
                return model
        return name

    def aliases(self) -> list[tuple[str, str]]:
        """(listed id, Qwen model) for every pattern, first occurrence of an id only."""
        seen: set[str] = set()
        out = []
        for _, plain, model in self._pairs:
            if plain and plain not in seen:
                seen.add(plain)
                out.append((plain, model))
        return out


def _created_at(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def anthropic_model(model: UpstreamModel, public_id: str, display_name: str) -> dict[str, Any]:
    """One model entry both an Anthropic and an OpenAI client can read."""
    entry = openai_model(model, public_id)
    entry.update(
        {
            "type": "model",
            "display_name": display_name,
            "created_at": _created_at(model.created),
            "lifecycle": "active",
        }
    )
    if model.context_length is not None:
        entry["max_input_tokens"] = model.context_length
    return entry


def anthropic_model_entries(
    models: Sequence[UpstreamModel], model_map: ModelMap
) -> list[dict[str, Any]]:
    """The mapped Claude names (whose Qwen model exists), then every Qwen model."""
    entries = []
    for alias, target in model_map.aliases():
        try:
            resolved = resolve_model(target, models)
        except ModelNotFound:
            continue  # a mapping to a model the accounts do not have would only fail later
        entries.append(anthropic_model(resolved.upstream, alias, f"{alias} ({target})"))
    entries.extend(anthropic_model(model, model.id, model.name) for model in models)
    return entries


def anthropic_model_list(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The list page: Anthropic's paging fields (one page holds all) and OpenAI's ``object``."""
    return {
        "object": "list",
        "data": entries,
        "has_more": False,
        "first_id": entries[0]["id"] if entries else None,
        "last_id": entries[-1]["id"] if entries else None,
    }
