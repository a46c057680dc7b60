"""A named client key as stored (never the key itself, only its SHA-256), and its usage."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import asdict, dataclass
from typing import Any

#: what a new key starts with, so a leaked one is recognisable (and greppable)
KEY_PREFIX = "sk-qp-"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class KeyError_(ValueError):
    """A key operation cannot be done (bad name, duplicate, unknown); the message says why."""


def new_key() -> str:
    """A fresh client key: the prefix and 43 URL-safe characters (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The SHA-256 hex digest a key is stored and looked up by."""
    return hashlib.sha256(key.encode()).hexdigest()


def check_name(name: str) -> str:
    """``name`` when it is a usable key name (letters, digits, ``._@-``, at most 64)."""
    if not _NAME.fullmatch(name):
        raise KeyError_(
            f"invalid key name {name!r}: use 1-64 letters, digits or ._@- (starting with a "
            "letter or digit)"
        )
    return name


@dataclass(frozen=True)
class ClientKey:
    """One named key: its digest, limits (None: no limit) and lifetime."""

    name: str
    digest: str
    created_at: float
    #: requests per minute
    rpm: int | None = None
    #: tokens (input + output) per minute, counted from each reply's usage
    tpm: int | None = None
    #: requests in flight at once
    concurrency: int | None = None
    #: the models this key may use (None: all)
    models: tuple[str, ...] | None = None
    expires_at: float | None = None
    revoked_at: float | None = None

    @property
    def limited(self) -> bool:
        """True when any of rpm, tpm or concurrency is set."""
        return self.rpm is not None or self.tpm is not None or self.concurrency is not None

    def usable(self, now: float) -> bool:
        """Not revoked and not expired at ``now``."""
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at

    def allows_model(self, model: str) -> bool:
        """Whether this key may use ``model``."""
        return self.models is None or model in self.models

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the digest included, never a key)."""
        data = asdict(self)
        data["models"] = list(self.models) if self.models is not None else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClientKey:
        """The inverse of ``to_json``; KeyError_ for an entry that is not a key."""
        try:
            models = data.get("models")
            return cls(
                name=str(data["name"]),
                digest=str(data["digest"]),
                created_at=float(data["created_at"]),
                rpm=_optional_int(data.get("rpm")),
                tpm=_optional_int(data.get("tpm")),
                concurrency=_optional_int(data.get("concurrency")),
                models=tuple(str(m) for m in models) if models is not None else None,
                expires_at=_optional_float(data.get("expires_at")),
                revoked_at=_optional_float(data.get("revoked_at")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyError_(f"a stored key entry is damaged ({type(exc).__name__})") from None


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class UsageDelta:
    """What one gateway process saw a key use since its last flush."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    last_used_at: float = 0.0


@dataclass(frozen=True)
class KeyUsage:
    """A key's usage: in total and on the current UTC day."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    today_requests: int = 0
    today_input_tokens: int = 0
    today_output_tokens: int = 0
    last_used_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)
