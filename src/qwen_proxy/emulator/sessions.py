"""Browser sessions of the 2026-10 era: what ties a token, a cookie jar and a refresh token.

A session is what one signed-in browser holds: its firewall cookie (``acw_tc``, which the pair
gate compares), its refresh token (a cookie the auth host set), and the access tokens minted
for it (they carry its id). Each account gets a sample session at start, as if its user had
signed in once in a browser; tests can open more, or adopt the jar of a copied request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

#: the firewall cookie a write call must carry for its token's session
BINDING_COOKIE = "acw_tc"
REFRESH_COOKIE = "refresh_token"
TOKEN_COOKIE = "token"

#: anti-bot values as a browser computes them; the emulator accepts any non-empty ones
SAMPLE_BX_UA = (
    "231!emulatorBxUa+Fr2kYQ0sWv8nL1pT7cH3mJ9dE5aK6uB4xZ2oG1iN8rS0wV7yC3fD6hM5jL4pQ9tX2bA1eU"
    "8gR7kW3sY6vO0zI5nH4cF1mT9dJ2lP8qE7uK6aB3xG0wS5rV4yN1iC9oZ2hD8fM7jT6pL3sQ0kA5eX4bU1gW9r"
)
SAMPLE_BX_UMIDTOKEN = "T2gAemulatorUmidToken-xD3kP9sL2mQ7vB4nH8cF1jT6rW0yA5eG"
SAMPLE_BX_V = "2.5.36"


@dataclass
class BrowserSession:
    """One signed-in browser of one account."""

    sid: str
    user_id: str
    acw_tc: str
    refresh_token: str
    refresh_expires: int
    #: cookies of the browser that are none of the emulator's business, kept for its jar
    other_cookies: tuple[tuple[str, str], ...] = ()

    def jar(self, token: str) -> str:
        """The ``Cookie`` header this browser sends with ``token`` as its access token."""
        pairs = [
            *self.other_cookies,
            (BINDING_COOKIE, self.acw_tc),
            ("x-ap", "ap-southeast-1"),
            (TOKEN_COOKIE, token),
            (REFRESH_COOKIE, self.refresh_token),
        ]
        return "; ".join(f"{name}={value}" for name, value in pairs)


class SessionBook:
    """Every session, by id and by refresh token; thread-safe (admin calls may run elsewhere)."""

    def __init__(self) -> None:
        self._by_sid: dict[str, BrowserSession] = {}
        self._by_refresh: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, session: BrowserSession) -> BrowserSession:
        """Keep a new session."""
        with self._lock:
            self._by_sid[session.sid] = session
            self._by_refresh[session.refresh_token] = session.sid
        return session

    def get(self, sid: str | None) -> BrowserSession | None:
        """The session with this id."""
        with self._lock:
            return self._by_sid.get(sid) if sid else None

    def by_refresh_token(self, token: str | None) -> BrowserSession | None:
        """The session this refresh token belongs to (None for an unknown or rotated one)."""
        with self._lock:
            sid = self._by_refresh.get(token) if token else None
            return self._by_sid.get(sid) if sid else None

    def rotate(self, session: BrowserSession, refresh_token: str, expires: int) -> None:
        """Hand the session a new refresh token; the old one stops working."""
        with self._lock:
            self._by_refresh.pop(session.refresh_token, None)
            session.refresh_token = refresh_token
            session.refresh_expires = expires
            self._by_refresh[refresh_token] = session.sid
