"""Validate a ``POST /v1/messages`` (or ``count_tokens``) body into an ``AnthropicRequest``.

Decisions where Anthropic's API does not fit a gateway:
- unknown top-level fields are accepted and dropped (clients send betas we cannot honour);
- ``temperature``, ``top_p``, ``top_k`` and ``metadata`` are checked and accepted, and the
  sampling ones reported as ignored (the web upstream has no knob for them);
- ``thinking`` turns Qwen's reasoning on (``enabled``, ``adaptive``, ``between_tools``) or
  off (``disabled``); ``budget_tokens`` is checked as Anthropic does (>= 1024, below
  ``max_tokens``) and otherwise left to ``max_tokens``, which counts thinking too;
- empty strings in ``stop_sequences`` are dropped (they would match everywhere).
"""

from __future__ import annotations

from qwen_proxy.api.anthropic.content import parse_messages, parse_system
from qwen_proxy.api.anthropic.fields import (
    missing,
    one_of,
    opt_bool,
    opt_int,
    opt_list,
    opt_number,
    opt_object,
    opt_str,
    problem,
    wrong_type,
)
from qwen_proxy.api.anthropic.request import AnthropicRequest
from qwen_proxy.api.anthropic.tools import loaded_tools, parse_tools
from qwen_proxy.api.requests import json_body

__all__ = ["parse_messages_request"]

_THINKING = ("enabled", "disabled", "adaptive", "between_tools")
_THINKING_DISPLAY = ("summarized", "omitted")
_MIN_BUDGET = 1024
# accepted because clients send them, but the web chat upstream has no knob for them
_NOT_APPLICABLE = ("temperature", "top_p", "top_k")


def parse_messages_request(
    body: bytes, *, content_type: str | None, max_body_bytes: int, counting: bool = False
) -> AnthropicRequest:
    """Validate a raw Messages body (``counting``: a count_tokens body, without max_tokens)."""
    data = json_body(
        body,
        content_type=content_type,
        max_body_bytes=max_body_bytes,
        invalid_json="The request body is not valid JSON.",
    )
    if not isinstance(data, dict):
        raise wrong_type("body", "a valid dictionary", data)

    model = data.get("model")
    if model is None:
        raise missing("model")
    if not isinstance(model, str):
        raise wrong_type("model", "a valid string", model)
    if not model:
        raise problem("model", "String should have at least 1 character")

    max_tokens = opt_int(data, "max_tokens", 1)
    if max_tokens is None and not counting:
        raise missing("max_tokens")
    system = parse_system(data.get("system"))
    messages = parse_messages(data.get("messages"))
    thinking, show_thinking = _thinking(data.get("thinking"), max_tokens)

    opt_number(data, "temperature", 0, 1)
    opt_number(data, "top_p", 0, 1)
    opt_int(data, "top_k", 0)
    metadata = opt_object(data, "metadata")
    if metadata is not None:
        opt_str(metadata, "user_id", "metadata.")
    opt_str(data, "service_tier")

    return AnthropicRequest(
        model=model,
        messages=(system, *messages) if system is not None else tuple(messages),
        max_tokens=max_tokens,
        stream=bool(opt_bool(data, "stream")),
        stop_sequences=_stop_sequences(data),
        thinking=thinking,
        show_thinking=show_thinking,
        tools=parse_tools(data, loaded_tools(data.get("messages"))),
        ignored_params=tuple(name for name in _NOT_APPLICABLE if data.get(name) is not None),
    )


def _thinking(value: object, max_tokens: int | None) -> tuple[bool | None, bool]:
    if value is None:
        return None, True
    if not isinstance(value, dict):
        raise wrong_type("thinking", "a valid dictionary", value)
    kind = value.get("type")
    if kind not in _THINKING:
        raise missing("thinking.type") if kind is None else one_of("thinking.type", kind, _THINKING)
    display = opt_str(value, "display", "thinking.")
    if display is not None and display not in _THINKING_DISPLAY:
        raise one_of("thinking.display", display, _THINKING_DISPLAY)
    if kind == "enabled":
        budget = opt_int(value, "budget_tokens", _MIN_BUDGET, "thinking.")
        if budget is None:
            raise missing("thinking.budget_tokens")
        if max_tokens is not None and budget >= max_tokens:
            raise problem(
                "max_tokens",
                f"`max_tokens` must be greater than `thinking.budget_tokens` ({budget})",
            )
    return kind != "disabled", display != "omitted"


def _stop_sequences(data: dict[str, object]) -> tuple[str, ...]:
    value = opt_list(data, "stop_sequences")
    if value is None:
        return ()
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise wrong_type(f"stop_sequences.{i}", "a valid string", item)
    return tuple(item for item in value if isinstance(item, str) and item)
