"""The bounded record of requests the emulator received, for tests to assert on."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

REDACTED_HEADERS = frozenset({"authorization", "cookie"})


@dataclass(frozen=True)
class RecordedRequest:
    """One request: method, path, query, headers (credentials redacted), parsed JSON body."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    #: byte sizes of the writes of a streamed answer (shows where the wire was cut)
    writes: list[int] = field(default_factory=list)
    #: the names in the ``Cookie`` header, in the order sent (values stay redacted)
    cookie_names: list[str] = field(default_factory=list)
    #: how the token came: ``bearer``, ``cookie``, ``both`` (the same token) or ``mismatch``
    auth: str | None = None
    #: the ``exp`` of the token used (tells two tokens apart without showing either)
    token_exp: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordedRequest:
        """The inverse of ``to_json``."""
        return cls(
            method=data["method"],
            path=data["path"],
            query=dict(data["query"]),
            headers=dict(data["headers"]),
            json=data["json"],
            writes=list(data.get("writes", [])),
            cookie_names=list(data.get("cookie_names", [])),
            auth=data.get("auth"),
            token_exp=data.get("token_exp"),
        )


def redact(headers: dict[str, str]) -> dict[str, str]:
    """Headers with lower-case names and credential values replaced."""
    return {
        name.lower(): "<redacted>" if name.lower() in REDACTED_HEADERS else value
        for name, value in headers.items()
    }


def cookie_names(header: str) -> list[str]:
    """The names of a ``Cookie`` header, in order."""
    names = [part.split("=", 1)[0].strip() for part in header.split(";") if "=" in part]
    return [name for name in names if name]


def auth_form(headers: dict[str, str], cookies: dict[str, str]) -> str | None:
    """How a request carries its token (see ``RecordedRequest.auth``)."""
    scheme, _, bearer = headers.get("Authorization", "").partition(" ")
    bearer = bearer.strip() if scheme.lower() == "bearer" else ""
    cookie = cookies.get("token", "")
    if bearer and cookie:
        return "both" if bearer == cookie else "mismatch"
    return "bearer" if bearer else "cookie" if cookie else None


class RequestLog:
    """A bounded, thread-safe buffer of ``RecordedRequest``s."""

    def __init__(self, limit: int) -> None:
        self._items: deque[RecordedRequest] = deque(maxlen=limit)
        self._lock = threading.Lock()

    def add(self, item: RecordedRequest) -> None:
        """Keep one request (the oldest falls out when full)."""
        with self._lock:
            self._items.append(item)

    def items(self, path_contains: str | None = None) -> list[RecordedRequest]:
        """The kept requests, oldest first, optionally only those whose path contains a text."""
        with self._lock:
            items = list(self._items)
        if path_contains is None:
            return items
        return [item for item in items if path_contains in item.path]

    def clear(self) -> None:
        """Forget every request."""
        with self._lock:
            self._items.clear()
