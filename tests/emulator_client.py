"""A small Qwen web client over httpx, so the emulator's tests read like the gateway's calls."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from qwen_proxy.accounts.jwt import token_claims
from qwen_proxy.emulator.testing import EmulatedAccount, EmulatorHandle, session_headers
from qwen_proxy.qwen.headers import merge_token_cookie


@dataclass
class Streamed:
    """One completion answer: status, content type, raw body and its parsed events."""

    status: int
    content_type: str
    raw: bytes
    events: list[Any] = field(default_factory=list)

    @property
    def created(self) -> dict[str, Any]:
        """The ``response.created`` object."""
        return dict(self.events[0]["response.created"])

    def phase_text(self, phase: str) -> str:
        """The concatenated delta content of one phase."""
        return "".join(
            e["choices"][0]["delta"].get("content", "")
            for e in self.events
            if "choices" in e and e["choices"][0]["delta"].get("phase", "answer") == phase
        )

    @property
    def answer(self) -> str:
        """The answer text."""
        return self.phase_text("answer")

    def json(self) -> Any:
        """The body as JSON (error answers)."""
        return json.loads(self.raw)


def parse_events(raw: bytes) -> list[Any]:
    """The JSON events of an SSE body (malformed lines skipped)."""
    events = []
    for block in raw.decode().split("\n\n"):
        line = block.strip()
        if line.startswith("data: "):
            try:
                events.append(json.loads(line[6:]))
            except json.JSONDecodeError:
                continue
    return events


class Qwen:
    """Calls the emulator the way a Qwen web client would."""

    def __init__(
        self,
        emulator: EmulatorHandle,
        token: str | None = None,
        browser: dict[str, str] | None = None,
    ) -> None:
        self.emulator = emulator
        self.http = httpx.Client(base_url=emulator.url, timeout=10, headers={"User-Agent": "t"})
        self.token = token or emulator.token
        #: a browser session's headers (2026-10 era): sent instead of the bare Bearer header
        self.browser = browser
        #: today's upstream: a token goes with the browser session it belongs to
        self.today = emulator.era == "2026-10"

    def auth(self, token: str | None = None) -> dict[str, str]:
        """The Bearer header (2026-06), the token with the sample browser session of its
        account (2026-10), or the whole browser session when the client was given one."""
        if self.browser is not None and token is None:
            return dict(self.browser)
        token = token or self.token
        account = self._account_of(token) if self.today else None
        if account is None:
            return {"Authorization": f"Bearer {token}"}
        jar = merge_token_cookie(account.cookies, token)
        return session_headers(token, jar, account.bx_ua, account.bx_umidtoken, account.bx_v)

    def bearer(self, token: str | None = None) -> dict[str, str]:
        """The Bearer header alone, without any browser session."""
        return {"Authorization": f"Bearer {token or self.token}"}

    def _account_of(self, token: str) -> EmulatedAccount | None:
        """The emulator account a token names (its signature unchecked: test data)."""
        user = (token_claims(token) or {}).get("id")
        return next((a for a in self.emulator.accounts if a.user_id == user), None)

    def new_chat(self, chat_type: str = "t2t", token: str | None = None) -> str:
        """Create a chat; its id."""
        body = {"title": "New Chat", "models": ["qwen3.7-plus"], "chat_type": chat_type}
        response = self.http.post("/api/v2/chats/new", json=body, headers=self.auth(token))
        return str(response.json()["data"]["id"])

    def body(self, chat_id: str, text: Any, parent: str | None, **extra: Any) -> dict[str, Any]:
        """A 2026-shape completion body; ``feature`` overrides feature_config keys."""
        feature = {"output_schema": "phase", "thinking_enabled": False, **extra.pop("feature", {})}
        message = {
            "fid": extra.pop("fid", None),
            "parentId": parent,
            "parent_id": parent,
            "childrenIds": [],
            "role": "user",
            "content": text,
            "user_action": "chat",
            "files": [],
            "timestamp": 1790000000,
            "models": ["qwen3.7-plus"],
            "chat_type": extra.get("chat_type", "t2t"),
            "feature_config": feature,
            "extra": {"meta": {"subChatType": "t2t"}},
        }
        return {
            "stream": True,
            "version": "2.1",
            "incremental_output": True,
            "chat_id": chat_id,
            "chat_mode": "normal",
            "model": "qwen3.7-plus",
            "parent_id": parent,
            "messages": [message],
            "timestamp": 1790000000,
            **extra,
        }

    def post(
        self, chat_id: str | None, body: Any, headers: dict[str, str] | None = None
    ) -> Streamed:
        """POST a completion and read the whole answer."""
        params = {"chat_id": chat_id} if chat_id is not None else {}
        hdrs = self.auth() if headers is None else headers
        with self.http.stream(
            "POST", "/api/v2/chat/completions", params=params, json=body, headers=hdrs
        ) as response:
            raw = b"".join(response.iter_raw())
        kind = response.headers.get("content-type", "")
        events = parse_events(raw) if kind.startswith("text/event-stream") else []
        return Streamed(response.status_code, kind, raw, events)

    def turn(self, chat_id: str, text: Any, parent: str | None = None, **extra: Any) -> Streamed:
        """One user turn in ``chat_id`` continuing from ``parent``."""
        return self.post(chat_id, self.body(chat_id, text, parent, **extra))
