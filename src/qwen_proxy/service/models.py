"""The model catalog: the upstream's list, cached, with the gateway's name suffixes.

``-thinking`` turns reasoning on, ``-fast`` turns it off, ``-search`` turns on web search
(suffixes are a convention of Qwen gateways, unknown to the upstream). Parsing names and shaping
the OpenAI list are pure functions; ``ModelCatalog`` adds the cache and the fetch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from qwen_proxy.errors import InvalidRequest, ModelNotFound

log = logging.getLogger("qwen_proxy.service.models")

SUFFIXES = ("-thinking", "-fast", "-search")


@dataclass(frozen=True, slots=True)
class UpstreamModel:
    """One upstream model and what it can do."""

    id: str
    name: str
    created: int
    thinking: bool
    #: the model only works with thinking on (abilities.thinking == 4)
    thinking_only: bool
    search: bool
    vision: bool
    context_length: int | None
    #: the chat types it serves (``t2t``, ``search``, ``t2i``, ``image_edit``...)
    chat_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A client's model name mapped onto an upstream model and the modes its suffixes ask for."""

    requested: str
    upstream: UpstreamModel
    #: True/False when a suffix decided it, None when the request decides
    thinking: bool | None
    search: bool


def parse_upstream_models(items: Sequence[dict[str, Any]]) -> list[UpstreamModel]:
    """Read the upstream's raw model items into ``UpstreamModel``s (docs/upstream.md, "Models")."""
    models = []
    for item in items:
        info = _dict(item.get("info"))
        meta = _dict(info.get("meta"))
        caps = _dict(meta.get("capabilities"))
        abilities = _dict(meta.get("abilities"))
        chat_types = _list(meta.get("chat_type"))
        modality = _list(meta.get("modality"))
        thinking_ability = abilities.get("thinking")
        context = meta.get("max_context_length")
        created = info.get("created_at") or 0
        models.append(
            UpstreamModel(
                id=str(item["id"]),
                name=str(item.get("name") or info.get("name") or item["id"]),
                created=int(created) if isinstance(created, int | float) else 0,
                thinking=bool(caps.get("thinking")) or thinking_ability in (1, 3, 4),
                thinking_only=thinking_ability == 4,
                search=bool(caps.get("search")) or "search" in chat_types,
                vision=bool(caps.get("vision")) or "image" in modality,
                context_length=int(context) if isinstance(context, int) else None,
                chat_types=tuple(str(kind) for kind in chat_types),
            )
        )
    return models


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def resolve_model(name: str, models: Sequence[UpstreamModel]) -> ResolvedModel:
    """Map a client's model name (id or display name, any case, optional suffixes)."""
    base = name.strip()
    thinking: bool | None = None
    search = False
    changed = True
    while changed:
        changed = False
        lower = base.lower()
        for suffix in SUFFIXES:
            if lower.endswith(suffix) and len(base) > len(suffix):
                base = base[: -len(suffix)]
                changed = True
                if suffix == "-thinking":
                    thinking = True
                elif suffix == "-fast":
                    thinking = False
                else:
                    search = True
    wanted = base.lower()
    for model in models:
        if model.id.lower() == wanted or model.name.lower() == wanted:
            if model.thinking_only and thinking is False:
                thinking = True
            return ResolvedModel(requested=name, upstream=model, thinking=thinking, search=search)
    raise ModelNotFound(
        f"The model '{name}' does not exist. GET /v1/models lists the available models.",
        param="model",
    )


def openai_model(model: UpstreamModel, public_id: str, **variant: bool) -> dict[str, Any]:
    """One entry of ``GET /v1/models`` in OpenAI's shape, plus capability information."""
    entry: dict[str, Any] = {
        "id": public_id,
        "object": "model",
        "created": model.created,
        "owned_by": "qwen",
        "upstream_id": model.id,
        "name": model.name,
        "capabilities": {
            "reasoning": variant.get("thinking", model.thinking_only),
            "web_search": variant.get("search", False),
            "vision": model.vision,
        },
    }
    if model.context_length is not None:
        entry["context_length"] = model.context_length
    return entry


def openai_model_entries(models: Sequence[UpstreamModel]) -> list[dict[str, Any]]:
    """Every public model id: each base model and the variants its capabilities allow."""
    entries = []
    for model in models:
        entries.append(openai_model(model, model.id))
        if model.thinking and not model.thinking_only:
            entries.append(openai_model(model, model.id + "-thinking", thinking=True))
            entries.append(openai_model(model, model.id + "-fast", thinking=False))
        if model.search:
            entries.append(openai_model(model, model.id + "-search", search=True))
    return entries


class ModelCatalog:
    """The upstream model list, fetched on first use and kept for ``ttl`` seconds.

    Once a list is known, an expired one is still served while a single background fetch
    replaces it, so no request ever waits on the refresh (a failed refresh keeps the old list
    and is tried again on the next request).
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Sequence[dict[str, Any]]]],
        *,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._models: list[UpstreamModel] | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        self._refresh: asyncio.Task[None] | None = None

    async def models(self) -> list[UpstreamModel]:
        """The cached list; the first call waits for it, later calls never do."""
        models = self._models
        if models is None:
            async with self._lock:
                if self._models is None:
                    await self._load()
                assert self._models is not None
                return self._models
        if self._clock() - self._fetched_at >= self._ttl and self._refresh is None:
            self._refresh = asyncio.create_task(self._refresh_in_background())
        return models

    async def _load(self) -> None:
        self._models = parse_upstream_models(await self._fetch())
        self._fetched_at = self._clock()

    async def _refresh_in_background(self) -> None:
        try:
            await self._load()
        except Exception as exc:  # keep serving the old list; the next request tries again
            log.warning("refreshing the model list failed, keeping the old one: %s", exc)
        finally:
            self._refresh = None

    async def resolve(self, name: str) -> ResolvedModel:
        """Resolve a client's model name, or raise ModelNotFound (404)."""
        return resolve_model(name, await self.models())

    async def image_model(self, name: str | None, chat_type: str) -> UpstreamModel:
        """The model for an image turn of ``chat_type``: ``name`` when it is one of the
        upstream's and serves that type, else the first that does (OpenAI's own image model
        names, or none, mean "the default one")."""
        models = await self.models()
        if name:
            wanted = name.strip().lower()
            for model in models:
                if wanted in (model.id.lower(), model.name.lower()):
                    if chat_type not in model.chat_types:
                        raise InvalidRequest(
                            f"The model '{name}' does not make images ({chat_type}); leave "
                            "'model' out for the default image model.",
                            param="model",
                        )
                    return model
        for model in models:
            if chat_type in model.chat_types:
                return model
        raise ModelNotFound(f"No upstream model serves {chat_type} turns.", param="model")

    async def entries(self) -> list[dict[str, Any]]:
        """``GET /v1/models`` entries."""
        return openai_model_entries(await self.models())
