"""HS256 JWTs shaped like chat.qwen.ai's (claims ``id``, ``last_password_change``, ``exp``).

Access tokens of the 2026-10 era also name the browser session that minted them (``sid``):
the firewall's pair gate checks the cookie jar of a write call against it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

import orjson

_HEADER = {"alg": "HS256", "typ": "JWT"}


@dataclass(frozen=True, slots=True)
class Claims:
    """The verified payload of a token."""

    user_id: str
    last_password_change: int
    exp: int
    #: the browser session the token belongs to (None: a token of the 2026-06 era)
    sid: str | None = None


class TokenRejected(Exception):
    """The token is unusable; ``reason`` says why (the service answers both alike)."""

    def __init__(self, reason: Literal["expired", "invalid"]) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_token(
    secret: str, user_id: str, last_password_change: int, exp: int, sid: str | None = None
) -> str:
    """A signed JWT for this user that expires at ``exp`` (Unix seconds), of session ``sid``."""
    payload: dict[str, object] = {
        "id": user_id,
        "last_password_change": last_password_change,
        "exp": exp,
    }
    if sid is not None:
        payload["sid"] = sid
    head = _b64(orjson.dumps(_HEADER)) + "." + _b64(orjson.dumps(payload))
    sig = hmac.new(secret.encode(), head.encode(), hashlib.sha256).digest()
    return head + "." + _b64(sig)


def read_token(secret: str, token: str, now: float | None) -> Claims:
    """Verify signature and shape, and ``exp`` unless ``now`` is None; raise ``TokenRejected``."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRejected("invalid")
    head = parts[0] + "." + parts[1]
    expected = hmac.new(secret.encode(), head.encode(), hashlib.sha256).digest()
    try:
        signature = _unb64(parts[2])
        payload = orjson.loads(_unb64(parts[1]))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise TokenRejected("invalid") from exc
    if not hmac.compare_digest(signature, expected) or not isinstance(payload, dict):
        raise TokenRejected("invalid")
    user_id, lpc, exp = payload.get("id"), payload.get("last_password_change"), payload.get("exp")
    if not isinstance(user_id, str) or not isinstance(lpc, int) or not isinstance(exp, int):
        raise TokenRejected("invalid")
    sid = payload.get("sid")
    if sid is not None and not isinstance(sid, str):
        raise TokenRejected("invalid")
    if now is not None and exp <= now:
        raise TokenRejected("expired")
    return Claims(user_id, lpc, exp, sid)
