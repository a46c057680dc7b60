"""Helpers (no tests): the admin keys routes' JSON contract, served from memory.

The admin page's Keys screen speaks this contract; the real routes come with named client keys.
Until a gateway has them, the browser tests put this stand-in into the admin route table, so the
screen is tested against the contract itself:

- ``GET /admin/keys`` -> 200 ``{"object": "list", "data": [row, ...]}``
- ``POST /admin/keys`` with ``{"name", "rpm"?, "tpm"?, "concurrency"?, "models"?: [...],
  "expires"?: "YYYY-MM-DD"}`` -> 201 ``{**row, "key": "<the key, in this answer only>"}``;
  409 ``key_exists`` for a name in use; 400 naming the field for a bad value
- ``DELETE /admin/keys/NAME`` -> 200 ``{"name": NAME, "revoked": true}``; 404 ``key_not_found``

A row: ``name, rpm, tpm, concurrency, models, expires_at, created_at, last_used_at`` (limits and
times null when unset; times in Unix seconds) and ``usage: {"today": {...}, "total": {...}}``,
each ``{"requests", "input_tokens", "output_tokens"}``. A row never holds the key or its hash.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from qwen_proxy.api.admin_request import AdminRequest
from qwen_proxy.api.http import Send, send_json
from qwen_proxy.errors import Conflict, InvalidRequest, MethodNotAllowed, NotFound
from qwen_proxy.service.gateway import Gateway


def _usage(requests: int = 0, input_tokens: int = 0, output_tokens: int = 0) -> dict[str, int]:
    return {"requests": requests, "input_tokens": input_tokens, "output_tokens": output_tokens}


class KeysContract:
    """An in-memory keys section: install ``handle`` as ``ROUTES["keys"]``."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        #: the keys handed out, by name (what a client would send)
        self.keys: dict[str, str] = {}

    async def handle(self, gateway: Gateway, request: AdminRequest, send: Send) -> None:
        """Serve ``/admin/keys`` and ``/admin/keys/NAME`` as the contract says."""
        parts = request.parts
        if not parts and request.method == "GET":
            await send_json(send, 200, {"object": "list", "data": list(self.rows.values())})
        elif not parts and request.method == "POST":
            row, key = self._create(orjson.loads(request.body or b"{}"))
            await send_json(send, 201, {**row, "key": key})
        elif len(parts) == 1 and request.method == "DELETE":
            if self.rows.pop(parts[0], None) is None:
                raise NotFound(f"No key named {parts[0]!r}.", code="key_not_found")
            self.keys.pop(parts[0], None)
            await send_json(send, 200, {"name": parts[0], "revoked": True})
        else:
            raise MethodNotAllowed(f"Method {request.method} is not allowed here.")

    def _create(self, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest("'name' is required.", param="name")
        if name in self.rows:
            raise Conflict(f"A key named {name!r} exists.", code="key_exists")
        for limit in ("rpm", "tpm", "concurrency"):
            value = body.get(limit)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise InvalidRequest(f"'{limit}' must be a whole number above 0.", param=limit)
        expires = body.get("expires")
        expires_at = (
            datetime.fromisoformat(expires).replace(tzinfo=UTC).timestamp() if expires else None
        )
        row = {
            "name": name,
            "rpm": body.get("rpm"),
            "tpm": body.get("tpm"),
            "concurrency": body.get("concurrency"),
            "models": body.get("models"),
            "expires_at": expires_at,
            "created_at": time.time(),
            "last_used_at": None,
            "usage": {"today": _usage(), "total": _usage()},
        }
        key = "sk-qp-" + secrets.token_urlsafe(24)
        self.rows[name] = row
        self.keys[name] = key
        return row, key
