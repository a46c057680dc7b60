"""``/admin/accounts``: list and manage the account pool of a running gateway.

The caller (``api.app``) has already checked the admin key. Answers never carry a secret:
rows come from ``AccountPool.snapshot()``, and errors name fields, not values. Changes reach
``accounts.json`` through the pool's ``on_change`` (other worker processes follow the file).

``POST /admin/accounts`` takes either the fields of an account (``token``, ``cookies``, ...)
or ``curl``: one request copied from the browser with Copy as cURL, as the CLI's
``import-curl`` does; then the answer also says what was found, masked.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson

from qwen_proxy.accounts import AccountStatus, Credentials, CredentialsError, import_cookies
from qwen_proxy.accounts.check import check_account
from qwen_proxy.accounts.credentials import CREDENTIAL_FIELDS, credentials_from_fields
from qwen_proxy.accounts.curl_import import allowed_hosts, import_curl
from qwen_proxy.api.http import Send, send_json
from qwen_proxy.errors import InvalidRequest, MethodNotAllowed, NotFound
from qwen_proxy.service.gateway import Gateway

PREFIX = "/admin/accounts"
#: the field holding a copied request
CURL_FIELD = "curl"


async def handle_admin(gateway: Gateway, method: str, path: str, body: bytes, send: Send) -> None:
    """Serve one admin request (``path`` starts with ``/admin``)."""
    # the server already percent-decoded the path once: decoding again would let %252F through
    parts = [p for p in path[len(PREFIX) :].split("/") if p]
    if not path.startswith(PREFIX) or (path != PREFIX and not path.startswith(PREFIX + "/")):
        raise NotFound(f"Unknown admin route: {method} {path}. See GET {PREFIX}.")
    if not parts:
        if method == "GET":
            await send_json(send, 200, {"object": "list", "data": _rows(gateway)})
        elif method == "POST":
            await _add(gateway, body, send)
        else:
            raise MethodNotAllowed(f"Method {method} is not allowed here; use GET or POST.")
        return
    name = parts[0]
    action = parts[1] if len(parts) == 2 else None
    if len(parts) > 2 or (action is not None and action not in ("cookies", "check")):
        raise NotFound(f"Unknown admin route: {method} {path}.")
    credentials = _find(gateway, name)
    if action is None:
        if method == "GET":
            await send_json(send, 200, _row(gateway, name))
        elif method == "DELETE":
            await gateway.pool.remove(name)
            await send_json(send, 200, {"name": name, "deleted": True})
        else:
            raise MethodNotAllowed(f"Method {method} is not allowed here; use GET or DELETE.")
        return
    if method != "POST":
        raise MethodNotAllowed(f"Method {method} is not allowed here; use POST.")
    if action == "cookies":
        await _import_cookies(gateway, name, body, send)
    else:
        result = await check_account(gateway.client.verify, credentials)
        await send_json(send, 200, result.to_dict())


def _rows(gateway: Gateway) -> list[dict[str, object]]:
    return [status.to_dict() for status in gateway.pool.snapshot()]


def _row(gateway: Gateway, name: str) -> dict[str, object]:
    status: AccountStatus = next(s for s in gateway.pool.snapshot() if s.name == name)
    return status.to_dict()


def _find(gateway: Gateway, name: str) -> Credentials:
    for credentials in gateway.pool.accounts():
        if credentials.name == name:
            return credentials
    raise NotFound(f"No account named {name!r}. See GET {PREFIX}.", code="account_not_found")


async def _add(gateway: Gateway, body: bytes, send: Send) -> None:
    data = _json_object(body)
    unknown = sorted(set(data) - {*CREDENTIAL_FIELDS, CURL_FIELD})
    if unknown:
        raise InvalidRequest(f"Unknown field(s): {', '.join(unknown)}.", param=unknown[0])
    values: dict[str, str | None] = {}
    for key in (*CREDENTIAL_FIELDS, CURL_FIELD):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise InvalidRequest(f"'{key}' must be a string.", param=key)
        values[key] = value or None
    copied = values.pop(CURL_FIELD)
    found: dict[str, object] | None = None
    try:
        if copied is None:
            credentials = credentials_from_fields(values)
        else:
            credentials, found = _from_copy(gateway, values, copied)
    except CredentialsError as error:
        param = CURL_FIELD if copied else (error.field or "name")
        raise InvalidRequest(str(error), param=param) from None
    known = any(a.name == credentials.name for a in gateway.pool.accounts())
    await gateway.pool.add(credentials)
    row = _row(gateway, credentials.name)
    await send_json(send, 200 if known else 201, row if found is None else {**row, "found": found})


def _from_copy(
    gateway: Gateway, values: dict[str, str | None], copied: str
) -> tuple[Credentials, dict[str, object]]:
    """The account a copied request makes (an existing one of that name keeps its sign-in
    data and proxy unless the body gives new ones) and what was found in it, masked."""
    for key in ("token", "cookies"):
        if values.get(key):
            raise InvalidRequest(
                f"Give either '{CURL_FIELD}' or '{key}': the copied request carries it.", param=key
            )
    name = values.get("name") or ""
    if not name:
        raise InvalidRequest("'name' is required: the account's short name.", param="name")
    session = import_curl(copied, allowed_hosts(gateway.settings.upstream_url))
    existing = next((a for a in gateway.pool.accounts() if a.name == name), None)
    credentials = session.credentials(name, existing)
    overrides: dict[str, Any] = {
        k: v for k in ("email", "password", "proxy") if (v := values.get(k))
    }
    if overrides:
        credentials = replace(credentials, **overrides)
    return credentials, session.summary()


async def _import_cookies(gateway: Gateway, name: str, body: bytes, send: Send) -> None:
    text = body.decode("utf-8", errors="replace")
    if text.lstrip().startswith("{"):
        # {"cookies": "<header or export>"} as well as a raw export object
        data = _json_object(body)
        inner = data.get("cookies")
        if isinstance(inner, str):
            text = inner
    try:
        cookies = import_cookies(text)
    except CredentialsError as error:
        raise InvalidRequest(str(error), param="cookies") from None
    await gateway.pool.update_credentials(name, token=cookies.token, cookies=cookies.header)
    await send_json(send, 200, _row(gateway, name))


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return data
