"""Typed events of one Qwen completion stream, as the sans-IO parser produces them.

Plain frozen slotted dataclasses: cheap to build on the hot path, easy to match on.
"""

from __future__ import annotations

from dataclasses import dataclass

from qwen_proxy.errors import GatewayError


@dataclass(frozen=True, slots=True)
class Created:
    """``response.created``: the ids of this turn. ``response_id`` is the new assistant node."""

    chat_id: str
    parent_id: str | None
    response_id: str


@dataclass(frozen=True, slots=True)
class AnswerDelta:
    """New answer text (only what is new, even when the upstream sent it cumulatively)."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """New reasoning text (the new part of the cumulative thinking summary, or a think delta)."""

    text: str


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One web source the upstream consulted."""

    url: str
    title: str
    snippet: str = ""
    hostname: str = ""
    date: str = ""


@dataclass(frozen=True, slots=True)
class SearchResults:
    """The web sources of a search-mode answer."""

    results: tuple[SearchResult, ...]


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """An image an image-generation (``t2i``) or edit turn made: its URL, ``key`` query kept."""

    url: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The answer phase finished: the logical end of the stream (there is no ``[DONE]``)."""


@dataclass(frozen=True, slots=True)
class StreamFailed:
    """An error envelope inside the stream; nothing more will come."""

    error: GatewayError


@dataclass(frozen=True, slots=True)
class Usage:
    """The last usage snapshot, in the upstream's terms."""

    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0


Event = (
    Created
    | AnswerDelta
    | ReasoningDelta
    | SearchResults
    | GeneratedImage
    | Finished
    | StreamFailed
)
