"""Model names: ids, display names, suffixes, and the OpenAI list."""

from __future__ import annotations

import pytest

from qwen_proxy.errors import ModelNotFound
from qwen_proxy.service.models import openai_model_entries, parse_upstream_models, resolve_model

pytestmark = pytest.mark.unit

RAW = [
    {
        "id": "qwen3.7-plus",
        "name": "Qwen3.7-Plus",
        "info": {
            "created_at": 1732711466,
            "meta": {
                "capabilities": {"thinking": True, "search": True, "vision": True},
                "abilities": {"thinking": 3},
                "chat_type": ["t2t", "search"],
                "max_context_length": 1000000,
            },
        },
    },
    {
        "id": "qwen3-coder-plus",
        "name": "Qwen3-Coder",
        "info": {"meta": {"capabilities": {}, "abilities": {"thinking": 2}, "chat_type": ["t2t"]}},
    },
    {
        "id": "qwen-latest-series-invite-beta-v24",
        "name": "Qwen3.7-Max-Preview",
        "info": {"meta": {"capabilities": {"thinking": True}, "abilities": {"thinking": 4}}},
    },
]
MODELS = parse_upstream_models(RAW)


def test_model_found_by_id_or_display_name_in_any_case() -> None:
    assert resolve_model("qwen3.7-plus", MODELS).upstream.id == "qwen3.7-plus"
    assert resolve_model("Qwen3-Coder", MODELS).upstream.id == "qwen3-coder-plus"
    assert resolve_model("QWEN3.7-PLUS", MODELS).upstream.id == "qwen3.7-plus"


def test_suffixes_set_thinking_and_search() -> None:
    assert resolve_model("qwen3.7-plus-thinking", MODELS).thinking is True
    assert resolve_model("qwen3.7-plus-fast", MODELS).thinking is False
    both = resolve_model("qwen3.7-plus-thinking-search", MODELS)
    assert (both.thinking, both.search) == (True, True)
    assert resolve_model("qwen3.7-plus", MODELS).thinking is None


def test_thinking_only_model_keeps_thinking_on() -> None:
    assert resolve_model("Qwen3.7-Max-Preview-fast", MODELS).thinking is True


def test_unknown_model_raises_404_naming_model() -> None:
    with pytest.raises(ModelNotFound) as caught:
        resolve_model("gpt-4o", MODELS)
    assert caught.value.status == 404
    assert caught.value.code == "model_not_found"
    assert caught.value.param == "model"


def test_list_has_variants_only_where_capable() -> None:
    ids = [e["id"] for e in openai_model_entries(MODELS)]
    assert "qwen3.7-plus-thinking" in ids
    assert "qwen3.7-plus-search" in ids
    assert "qwen3-coder-plus-thinking" not in ids
    assert "qwen-latest-series-invite-beta-v24-fast" not in ids
    entry = openai_model_entries(MODELS)[0]
    assert entry["object"] == "model"
    assert entry["owned_by"] == "qwen"
    assert entry["context_length"] == 1000000


async def test_expired_list_is_served_while_one_background_fetch_refreshes_it() -> None:
    import asyncio

    from qwen_proxy.service.models import ModelCatalog

    now = [0.0]
    calls: list[int] = []
    release = asyncio.Event()

    async def fetch() -> list[dict[str, object]]:
        calls.append(1)
        if len(calls) > 1:
            await release.wait()
            return [*RAW, {"id": "new-model", "name": "New"}]
        return list(RAW)

    catalog = ModelCatalog(fetch, ttl=10, clock=lambda: now[0])
    assert len(await catalog.models()) == 3
    now[0] = 11.0
    # expired: both callers get the old list at once, and only one refresh starts
    assert len(await catalog.models()) == 3
    assert len(await catalog.models()) == 3
    await asyncio.sleep(0)
    assert len(calls) == 2
    release.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert [m.id for m in await catalog.models()][-1] == "new-model"


async def test_failed_refresh_keeps_the_old_list() -> None:
    import asyncio

    from qwen_proxy.service.models import ModelCatalog

    now = [0.0]
    fail = [False]
    calls: list[float] = []

    async def fetch() -> list[dict[str, object]]:
        calls.append(now[0])
        if fail[0]:
            raise RuntimeError("upstream down")
        return list(RAW)

    catalog = ModelCatalog(fetch, ttl=10, clock=lambda: now[0])
    await catalog.models()
    fail[0], now[0] = True, 20.0
    assert len(await catalog.models()) == 3
    for _ in range(3):
        await asyncio.sleep(0)
    assert calls == [0.0, 20.0], "the expired list was never refreshed"
    assert len(await catalog.models()) == 3
