"""Read a JWT's claims without checking its signature.

The gateway cannot know Qwen's signing key; it only needs ``exp`` to see a token coming to its
end. Nothing here trusts the claims for anything but that.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson


def token_claims(token: str) -> dict[str, Any] | None:
    """The payload of a JWT as a dict, or None when the token is not a readable JWT."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        return None
    payload = parts[1]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = orjson.loads(raw)
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def token_expiry(token: str) -> float | None:
    """The token's ``exp`` claim as a Unix time, or None when it has none or cannot be read."""
    claims = token_claims(token)
    if claims is None:
        return None
    exp = claims.get("exp")
    # bool is an int subclass; a JSON true is not a time
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return float(exp)
