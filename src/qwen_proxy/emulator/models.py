"""The fixture model list (the real list's item shape) and lookup by id or display name."""

from __future__ import annotations

from typing import Any

_FIXTURES: tuple[tuple[str, str, int, bool, list[str]], ...] = (
    # id, display name, abilities.thinking, capabilities.thinking, chat types
    ("qwen3.7-plus", "Qwen3.7-Plus", 3, True, ["t2t", "search", "t2i", "t2v", "image_edit"]),
    ("qwen3.7-max", "Qwen3.7-Max", 1, True, ["t2t", "search"]),
    ("qwen3-coder-plus", "Qwen3-Coder", 2, False, ["t2t"]),
    ("qwen3.6-max-preview", "Qwen3.6-Max-Preview", 4, True, ["t2t", "search"]),
    ("qwen3-max-2026-01-23", "Qwen3-Max", 1, True, ["t2t", "search"]),
)


def _item(model_id: str, name: str, thinking: int, can_think: bool, types: list[str]) -> Any:
    vision = "t2i" in types
    return {
        "id": model_id,
        "name": name,
        "object": "model",
        "owned_by": "qwen",
        "info": {
            "id": model_id,
            "user_id": "7ee3d5e2-0000-4000-8000-000000000000",
            "base_model_id": None,
            "name": name,
            "meta": {
                "profile_image_url": "/static/favicon.png",
                "description": f"{name} (emulated)",
                "short_description": name,
                "capabilities": {
                    "vision": vision,
                    "document": True,
                    "video": vision,
                    "audio": False,
                    "citations": True,
                    "thinking": can_think,
                    "search": "search" in types,
                },
                "abilities": {
                    "vision": int(vision),
                    "document": 1,
                    "video": int(vision),
                    "audio": 0,
                    "mcp": 1,
                    "citations": 1,
                    "thinking": thinking,
                    "parse_url": 2,
                },
                "max_context_length": 1_000_000,
                "max_generation_length": 65_536,
                "max_thinking_generation_length": 81_920,
                "max_summary_generation_length": 65_536,
                "auto_thinking": thinking == 3,
                "auto_search": "search" in types,
                "thinking_format": "summary",
                "chat_type": types,
                "mcp": ["image-generation", "code-interpreter"],
                "modality": ["text", "image", "video"] if vision else ["text"],
            },
            "access_control": None,
            "is_active": True,
            "is_visitor_active": model_id == "qwen3.7-plus",
            "updated_at": 1_780_000_000,
            "created_at": 1_760_000_000,
        },
        "preset": True,
        "action_ids": [],
    }


MODELS: list[Any] = [_item(*fixture) for fixture in _FIXTURES]


def find_model(name: str) -> str | None:
    """The model id for an id or a display name (case-insensitive), None when unknown."""
    wanted = name.strip().lower()
    for model_id, display, *_ in _FIXTURES:
        if wanted in (model_id, display.lower()):
            return model_id
    return None
