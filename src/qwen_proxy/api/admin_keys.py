"""``/admin/keys``: list, add and revoke named client keys of a running gateway.

The caller (``api.app``) has already checked the admin key. A new key's secret is in the answer
to its ``POST`` and nowhere else; lists show names, limits, expiry and usage, never a key. Every
instance follows the change within two seconds (the key store is polled).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote

import orjson

from qwen_proxy.api.http import Send, send_json
from qwen_proxy.errors import InvalidRequest, MethodNotAllowed, NotFound
from qwen_proxy.keys import KeyError_, add_key, key_rows, parse_expiry, revoke_key
from qwen_proxy.service.gateway import Gateway

PREFIX = "/admin/keys"
_LIMITS = ("rpm", "tpm", "concurrency")


async def handle_admin_keys(
    gateway: Gateway, method: str, path: str, body: bytes, send: Send
) -> None:
    """Serve one ``/admin/keys`` request."""
    parts = [unquote(p) for p in path[len(PREFIX) :].split("/") if p]
    now = time.time()
    store = gateway.keys.store
    try:
        if not parts and method == "GET":
            await send_json(send, 200, {"object": "list", "data": await key_rows(store, now=now)})
        elif not parts and method == "POST":
            fields = _new_key_fields(body)
            key, secret = await add_key(store, now=now, **fields)
            await gateway.keys.refresh()
            row = key.to_json()
            row.pop("digest")
            await send_json(send, 201, {**row, "key": secret})
        elif len(parts) == 1 and method == "DELETE":
            key = await revoke_key(store, parts[0], now=now)
            await gateway.keys.refresh()
            await send_json(send, 200, {"name": key.name, "revoked": True})
        elif len(parts) > 1:
            raise NotFound(f"Unknown admin route: {method} {path}. See GET {PREFIX}.")
        else:
            allowed = "GET or POST" if not parts else "DELETE"
            raise MethodNotAllowed(f"Method {method} is not allowed here; use {allowed}.")
    except KeyError_ as error:
        if str(error).startswith("no active key"):
            raise NotFound(str(error), code="key_not_found") from None
        raise InvalidRequest(str(error)) from None


def _new_key_fields(body: bytes) -> dict[str, Any]:
    """The fields of a ``POST``: name, rpm, tpm, concurrency, models, expires (a date/time)."""
    try:
        data = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    unknown = sorted(set(data) - {"name", *_LIMITS, "models", "expires"})
    if unknown:
        raise InvalidRequest(f"Unknown field(s): {', '.join(unknown)}.", param=unknown[0])
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("'name' is required: the key's short name.", param="name")
    fields: dict[str, Any] = {"name": name}
    for limit in _LIMITS:
        value = data.get(limit)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise InvalidRequest(f"'{limit}' must be a whole number.", param=limit)
        fields[limit] = value
    models = data.get("models")
    if models is not None:
        if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
            raise InvalidRequest("'models' must be a list of model ids.", param="models")
        fields["models"] = models
    expires = data.get("expires")
    if expires is not None:
        if not isinstance(expires, str):
            raise InvalidRequest("'expires' must be a date or time (ISO 8601).", param="expires")
        fields["expires_at"] = parse_expiry(expires)
    return fields
