"""The auth host and an account's own settings: paths, request bodies and answers (pure).

Since autumn 2026 sign-in and token renewal live on their own host (``Settings.auth_url``):
``POST /api/v2/auths/signin`` (email and the SHA-256 hex of the password) and
``GET /api/v2/auths/refresh`` (the cookie jar alone). Both answer ``data.access_token`` and set
cookies (``token``, and the ``refresh_token`` that renews the session); clients differ on whether
the refresh hands out a new refresh token, in the body, in a cookie or not at all, so every one
of those places is read. The old sign-in on the chat host answered a bare ``token``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SIGNIN_PATH = "/api/v2/auths/signin"
REFRESH_PATH = "/api/v2/auths/refresh"
#: the chat host's own sign-in, before the auth host existed (it answers ``token``)
LEGACY_SIGNIN_PATH = "/api/v1/auths/signin"
SETTINGS_PATH = "/api/v2/users/user/settings/update"

#: the built-in tools the web app can switch on for an account
BUILT_IN_TOOLS = ("web_search", "image_gen_tool", "code_interpreter", "web_extractor")


@dataclass(frozen=True)
class SessionAnswer:
    """What a sign-in or renewal answered: the new access token, the refresh token when the
    body names one, and the ``Set-Cookie`` values (secrets all: never in a repr)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    set_cookies: tuple[str, ...] = field(default=(), repr=False)


def session_answer(payload: Any, set_cookies: tuple[str, ...] = ()) -> SessionAnswer | None:
    """The ``SessionAnswer`` in a sign-in or renewal payload, or None when it holds no token.

    ``data.access_token`` (the auth host), else ``data.token`` or a top-level ``token`` (the
    old sign-in); ``data.refresh_token`` when present.
    """
    if not isinstance(payload, dict):
        return None
    data = payload.get("data")
    inner = data if isinstance(data, dict) else payload
    token = inner.get("access_token") or inner.get("token") or payload.get("token")
    if not isinstance(token, str) or not token.strip():
        return None
    refresh = inner.get("refresh_token")
    refresh = refresh if isinstance(refresh, str) and refresh.strip() else None
    return SessionAnswer(token.strip(), refresh, set_cookies)


def sharing_settings() -> dict[str, Any]:
    """The settings that make an account safe to share between clients: Qwen's memory (which
    would carry one client's facts into another's chats) and every built-in tool off."""
    return {
        "memory": {"enable_memory": False, "enable_history_memory": False},
        "tools_enabled": dict.fromkeys(BUILT_IN_TOOLS, False),
    }
