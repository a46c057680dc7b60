"""What ``qwen-proxy keys`` and ``/admin/keys`` do: add, list and revoke named keys."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from qwen_proxy.keys.model import ClientKey, KeyError_, check_name, hash_key, new_key
from qwen_proxy.keys.store import KeyStore


def parse_expiry(text: str) -> float:
    """Unix time of ``YYYY-MM-DD`` (midnight UTC, the start of that day) or an ISO 8601 time
    (UTC unless it names its offset)."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise KeyError_(
            f"invalid expiry {text!r}: use a date (2026-12-31) or a time (2026-12-31T18:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def parse_models(text: str | None) -> tuple[str, ...] | None:
    """``a,b`` as a tuple of model ids (None: every model)."""
    if text is None:
        return None
    models = tuple(part.strip() for part in text.split(",") if part.strip())
    if not models:
        raise KeyError_("--models needs at least one model id")
    return models


def _positive(name: str, value: int | None) -> int | None:
    if value is not None and value < 1:
        raise KeyError_(f"{name} must be 1 or more, got {value}")
    return value


async def add_key(
    store: KeyStore,
    name: str,
    *,
    now: float,
    rpm: int | None = None,
    tpm: int | None = None,
    concurrency: int | None = None,
    models: Sequence[str] | None = None,
    expires_at: float | None = None,
) -> tuple[ClientKey, str]:
    """Store a new key under ``name``; returns it and the secret (shown once, never stored).

    A revoked key's name can be given to a new key; an active one's cannot.
    """
    check_name(name)
    for existing in await store.keys():
        if existing.name == name and existing.revoked_at is None:
            raise KeyError_(f"a key named {name!r} exists; revoke it first")
    if expires_at is not None and expires_at <= now:
        raise KeyError_("the expiry is in the past")
    secret = new_key()
    key = ClientKey(
        name=name,
        digest=hash_key(secret),
        created_at=now,
        rpm=_positive("rpm", rpm),
        tpm=_positive("tpm", tpm),
        concurrency=_positive("concurrency", concurrency),
        models=tuple(models) if models is not None else None,
        expires_at=expires_at,
    )
    await store.put(key)
    return key, secret


async def revoke_key(store: KeyStore, name: str, *, now: float) -> ClientKey:
    """Mark the key ``name`` revoked (its usage stays listed)."""
    for existing in await store.keys():
        if existing.name == name and existing.revoked_at is None:
            revoked = dataclasses.replace(existing, revoked_at=now)
            await store.put(revoked)
            return revoked
    raise KeyError_(f"no active key named {name!r}")


async def key_rows(store: KeyStore, *, now: float) -> list[dict[str, Any]]:
    """Every key as the operator sees it: name, limits, expiry, state, usage; never a key."""
    usage = await store.usage(now)
    rows = []
    for key in sorted(await store.keys(), key=lambda k: k.created_at):
        state = "revoked" if key.revoked_at is not None else "active"
        if state == "active" and not key.usable(now):
            state = "expired"
        data = key.to_json()
        data.pop("digest")
        data["state"] = state
        data["usage"] = usage[key.name].to_json() if key.name in usage else None
        rows.append(data)
    return rows
