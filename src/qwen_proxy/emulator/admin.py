"""The test hook: admin routes under ``/__emulator__/`` (never recorded, no auth).

``EmulatorHandle`` in ``testing.py`` is the client of these routes, so tests can drive an
emulator in this process or in another one the same way.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from aiohttp import web

from qwen_proxy.emulator.config import Account
from qwen_proxy.emulator.faults import UnknownFault, fault_from_params
from qwen_proxy.emulator.routes import json_body
from qwen_proxy.emulator.sessions import (
    BINDING_COOKIE,
    REFRESH_COOKIE,
    SAMPLE_BX_UA,
    SAMPLE_BX_UMIDTOKEN,
    SAMPLE_BX_V,
    TOKEN_COOKIE,
    BrowserSession,
)
from qwen_proxy.emulator.state import STATE_KEY, EmulatorState

#: cookies the emulator sets itself; an adopted jar's others are kept as they are
OWN_COOKIES = frozenset({BINDING_COOKIE, REFRESH_COOKIE, TOKEN_COOKIE, "x-ap"})

PREFIX = "/__emulator__"


def _ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def account_json(state: EmulatorState, account: Account) -> dict[str, Any]:
    """An account as the admin routes show it (test data: the token is included), with its
    sample browser session in the 2026-10 era."""
    data: dict[str, Any] = {
        "email": account.email,
        "password": account.password,
        "user_id": account.user_id,
        "name": account.name,
        "token": account.token,
    }
    session = state.sessions.get(account.sample_session)
    if session is not None:
        data.update(session_json(session, account.token))
    return data


def session_json(session: BrowserSession, token: str) -> dict[str, Any]:
    """What a browser of this session sends: its jar and its anti-bot values (test data)."""
    return {
        "cookies": session.jar(token),
        "bx_ua": SAMPLE_BX_UA,
        "bx_umidtoken": SAMPLE_BX_UMIDTOKEN,
        "bx_v": SAMPLE_BX_V,
    }


async def _object(request: web.Request) -> dict[str, Any]:
    body = await json_body(request)
    return body if isinstance(body, dict) else {}


def _account(state: EmulatorState, email: Any) -> Account:
    account = state.by_email(str(email))
    if account is None:
        raise web.HTTPNotFound(text=f"no account {email}")
    return account


async def add_fault(request: web.Request) -> web.Response:
    """``POST faults`` ``{name, params?, account?, chat_id?, route?, times?}`` → ``{id}``."""
    body = await _object(request)
    params = dict(body.get("params") or {})
    for key in ("account", "chat_id", "route", "times"):
        if body.get(key) is not None:
            params[key] = body[key]
    try:
        fault = fault_from_params(str(body.get("name")), params)
    except UnknownFault as exc:
        return _ok({"error": str(exc)}, status=400)
    return _ok({"id": request.app[STATE_KEY].faults.add(fault)})


async def list_faults(request: web.Request) -> web.Response:
    """``GET faults``."""
    return _ok([f.to_json() for f in request.app[STATE_KEY].faults.active()])


async def clear_faults(request: web.Request) -> web.Response:
    """``DELETE faults`` (all) or ``DELETE faults/<id>``."""
    board = request.app[STATE_KEY].faults
    fault_id = request.match_info.get("fault_id")
    if fault_id is None:
        board.clear()
        return _ok({"removed": True})
    return _ok({"removed": board.remove(fault_id)})


async def list_requests(request: web.Request) -> web.Response:
    """``GET requests?path_contains=``."""
    items = request.app[STATE_KEY].log.items(request.query.get("path_contains"))
    return _ok([item.to_json() for item in items])


async def clear_requests(request: web.Request) -> web.Response:
    """``DELETE requests``."""
    request.app[STATE_KEY].log.clear()
    return _ok({"cleared": True})


async def list_accounts(request: web.Request) -> web.Response:
    """``GET accounts``."""
    state = request.app[STATE_KEY]
    return _ok([account_json(state, a) for a in state.accounts.values()])


async def add_account(request: web.Request) -> web.Response:
    """``POST accounts`` ``{email, password, name?}`` → the account with its token."""
    body = await _object(request)
    state = request.app[STATE_KEY]
    if not body.get("email") or state.by_email(str(body["email"])) is not None:
        return _ok({"error": "email missing or taken"}, status=400)
    account = Account(
        str(body["email"]), str(body.get("password", "")), name=str(body.get("name", ""))
    )
    return _ok(account_json(state, state.add_account(account)))


async def expire_account_token(request: web.Request) -> web.Response:
    """``POST accounts/expire`` ``{email}``: the current token now answers as expired."""
    state = request.app[STATE_KEY]
    account = _account(state, (await _object(request)).get("email"))
    old = account.token
    return _ok({"expired": old, "token": state.expire(account)})


async def mint(request: web.Request) -> web.Response:
    """``POST tokens`` ``{email, exp?}``: a token with any ``exp`` (past = really expired)."""
    state = request.app[STATE_KEY]
    body = await _object(request)
    account = _account(state, body.get("email"))
    exp = body.get("exp")
    return _ok({"token": state.mint(account, int(exp) if exp is not None else None)})


async def open_session(request: web.Request) -> web.Response:
    """``POST sessions`` ``{email, cookies?}``: a new signed-in browser for that account.

    With ``cookies`` (a ``Cookie`` header, e.g. from a copied request) the session adopts that
    jar: its ``acw_tc`` (required) binds it and its ``refresh_token`` renews it. Answers the
    session's access token, jar and anti-bot values.
    """
    state = request.app[STATE_KEY]
    if not state.config.browser_sessions:
        return _ok({"error": "browser sessions exist in the 2026-10 era only"}, status=400)
    body = await _object(request)
    account = _account(state, body.get("email"))
    jar = _cookie_pairs(str(body.get("cookies") or ""))
    given = dict(jar)
    if body.get("cookies") and not given.get(BINDING_COOKIE):
        return _ok({"error": f"the cookies hold no {BINDING_COOKIE}"}, status=400)
    session = state.open_session(
        account,
        acw_tc=given.get(BINDING_COOKIE),
        refresh_token=given.get(REFRESH_COOKIE),
        other_cookies=tuple((k, v) for k, v in jar if k not in OWN_COOKIES),
    )
    token = state.mint(account, sid=session.sid)
    return _ok(
        {
            "sid": session.sid,
            "token": token,
            "refresh_token": session.refresh_token,
            **session_json(session, token),
        }
    )


def _cookie_pairs(header: str) -> list[tuple[str, str]]:
    pairs = []
    for part in header.split(";"):
        name, eq, value = part.strip().partition("=")
        if eq and name:
            pairs.append((name, value))
    return pairs


async def account_settings(request: web.Request) -> web.Response:
    """``GET settings?account=<email>``: the account's settings as the settings route left them."""
    state = request.app[STATE_KEY]
    return _ok(_account(state, request.query.get("account")).settings)


async def chats(request: web.Request) -> web.Response:
    """``GET chats?account=<email>``: every chat of that account, with its tree."""
    state = request.app[STATE_KEY]
    account = _account(state, request.query.get("account"))
    return _ok([chat.detail() for chat in state.chats.of(account.user_id)])


async def deletions(request: web.Request) -> web.Response:
    """``GET deletions``: every delete call so far, oldest first (``chat_id`` null: delete-all)."""
    return _ok([dataclasses.asdict(d) for d in request.app[STATE_KEY].deletions])


async def knobs(request: web.Request) -> web.Response:
    """``GET knobs`` or ``POST knobs`` ``{ttfb?, event_delay?, ...}`` → the knobs now."""
    state = request.app[STATE_KEY]
    if request.method == "POST":
        changes = await _object(request)
        names = {f.name for f in dataclasses.fields(state.knobs)}
        unknown = set(changes) - names
        if unknown:
            return _ok({"error": f"unknown knobs {sorted(unknown)}"}, status=400)
        state.knobs = dataclasses.replace(state.knobs, **changes)
    return _ok(dataclasses.asdict(state.knobs))


async def reset(request: web.Request) -> web.Response:
    """``POST reset``: no faults, no records, no chats, the configured knobs (accounts stay)."""
    state = request.app[STATE_KEY]
    state.faults.clear()
    state.log.clear()
    state.chats.clear()
    state.deletions.clear()
    state.expired_tokens.clear()
    state.images_made.clear()
    state.knobs = state.config.knobs()
    return _ok({"reset": True})


async def health(request: web.Request) -> web.Response:
    """``GET health``: alive, the server clock, the era and where the auth host is."""
    config = request.app[STATE_KEY].config
    return _ok(
        {
            "ok": True,
            "time": time.time(),
            "auth_era": config.auth_era,
            "auth_prefix": config.auth_prefix,
        }
    )


def add_admin_routes(app: web.Application) -> None:
    """Register the admin routes on ``app``."""
    r = app.router
    r.add_post(f"{PREFIX}/faults", add_fault)
    r.add_get(f"{PREFIX}/faults", list_faults)
    r.add_delete(f"{PREFIX}/faults", clear_faults)
    r.add_delete(f"{PREFIX}/faults/{{fault_id}}", clear_faults)
    r.add_get(f"{PREFIX}/requests", list_requests)
    r.add_delete(f"{PREFIX}/requests", clear_requests)
    r.add_get(f"{PREFIX}/accounts", list_accounts)
    r.add_post(f"{PREFIX}/accounts", add_account)
    r.add_post(f"{PREFIX}/accounts/expire", expire_account_token)
    r.add_post(f"{PREFIX}/tokens", mint)
    r.add_post(f"{PREFIX}/sessions", open_session)
    r.add_get(f"{PREFIX}/settings", account_settings)
    r.add_get(f"{PREFIX}/chats", chats)
    r.add_get(f"{PREFIX}/deletions", deletions)
    r.add_get(f"{PREFIX}/knobs", knobs)
    r.add_post(f"{PREFIX}/knobs", knobs)
    r.add_post(f"{PREFIX}/reset", reset)
    r.add_get(f"{PREFIX}/health", health)
