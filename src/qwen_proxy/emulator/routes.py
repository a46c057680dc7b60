"""The chat host's routes besides completions and uploads: chats, models, auth, settings."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from aiohttp import web

from qwen_proxy.emulator import bodies
from qwen_proxy.emulator.completion import completions
from qwen_proxy.emulator.config import Account
from qwen_proxy.emulator.guard import account_route, fault_answer, guard
from qwen_proxy.emulator.models import MODELS, find_model
from qwen_proxy.emulator.state import STATE_KEY, Deletion, EmulatorState
from qwen_proxy.emulator.tree import Chat

SIGNIN_FAILED = (
    "The email or password provided is incorrect. Please check for typos and try logging in again."
)
PAGE_SIZE = 20


def success(state: EmulatorState, data: Any) -> web.Response:
    """The service's success envelope around ``data``."""
    return bodies.json_response({"success": True, "request_id": state.new_id(), "data": data})


async def json_body(request: web.Request) -> Any:
    """The parsed JSON body, or None when there is none or it is not JSON."""
    raw = await request.read()
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None


@account_route("new_chat")
async def new_chat(request: web.Request, account: Account) -> web.Response:
    """``POST /api/v2/chats/new``: an empty chat owned by the caller; unknown fields ignored."""
    state = request.app[STATE_KEY]
    body = await json_body(request)
    body = body if isinstance(body, dict) else {}
    models = body.get("models")
    wanted = models[0] if isinstance(models, list) and models and isinstance(models[0], str) else ""
    now = state.now()
    chat = Chat(
        id=state.new_id(),
        owner=account.user_id,
        title=str(body.get("title") or "New Chat"),
        chat_type=str(body.get("chat_type") or "t2t"),
        model=find_model(wanted) or wanted or "qwen3.7-plus",
        created_at=now,
        updated_at=now,
    )
    state.chats.create(chat)
    return success(state, {"id": chat.id})


async def models(request: web.Request) -> web.Response:
    """``GET /api/models`` and ``/api/v2/models/``: the fixture list, ``{"data": [...]}``.

    Since autumn 2026 the list needs no account; before, it took a token like any route.
    """
    if request.app[STATE_KEY].config.browser_sessions:
        answer = await fault_answer(request, "models")
        if isinstance(answer, web.Response):
            return answer
    else:
        gate = await guard(request, "models")
        if isinstance(gate, web.Response):
            return gate
    return bodies.json_response({"data": MODELS})


def user_object(account: Any, token: str, expires_at: int) -> dict[str, Any]:
    """The logged-in user as the auth routes show it."""
    return {
        "id": account.user_id,
        "email": account.email,
        "name": account.name,
        "role": "user",
        "profile_image_url": "/user.png",
        "token": token,
        "token_type": "Bearer",
        "expires_at": expires_at,
        "permissions": {"chat": {"file_upload": True, "delete": True}},
        "tier": "normal",
    }


@account_route("auth_verify")
async def auth_verify(request: web.Request, account: Account) -> web.Response:
    """``GET /api/v1/auths/``: who the token belongs to."""
    state = request.app[STATE_KEY]
    return bodies.json_response(
        user_object(account, account.token, state.now() + state.config.token_ttl)
    )


def password_matches(account: Account | None, body: dict[str, Any]) -> bool:
    """Whether a sign-in body carries the SHA-256 hex of this account's password."""
    password = str(body.get("password", "")).lower()
    return account is not None and password == hashlib.sha256(account.password.encode()).hexdigest()


async def signin(request: web.Request) -> web.Response:
    """``POST /api/v1/auths/signin``: email + SHA-256 hex of the password → a fresh token.

    Since autumn 2026 sign-in lives on the auth host; a plain client calling this route meets
    the firewall's slider page.
    """
    answer = await fault_answer(request, "signin")
    if isinstance(answer, web.Response):
        return answer
    state = request.app[STATE_KEY]
    if state.config.browser_sessions:
        return bodies.slider_page()
    body = await json_body(request)
    body = body if isinstance(body, dict) else {}
    account = state.by_email(str(body.get("email", "")))
    if account is None or not password_matches(account, body):
        return bodies.json_response({"detail": SIGNIN_FAILED}, status=400)
    account.token = state.mint(account)
    return bodies.json_response(
        user_object(account, account.token, state.now() + state.config.token_ttl)
    )


@account_route("settings_update")
async def settings_update(request: web.Request, account: Account) -> web.Response:
    """``POST /api/v2/users/user/settings/update``: merge the body into the account's settings
    (memory, built-in tools, MCP servers...) and answer them all."""
    state = request.app[STATE_KEY]
    body = await json_body(request)
    if not isinstance(body, dict):
        return bodies.app_error(state.new_id(), "Bad_Request", "Invalid settings")
    merge_settings(account.settings, body)
    return success(state, account.settings)


def merge_settings(settings: dict[str, Any], changes: dict[str, Any]) -> None:
    """Merge ``changes`` into ``settings``, objects key by key, other values replaced."""
    for key, value in changes.items():
        current = settings.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merge_settings(current, value)
        else:
            settings[key] = value


@account_route("chat_list")
async def chat_list(request: web.Request, account: Account) -> web.Response:
    """``GET /api/v2/chats/?page=N``: the caller's chats, newest first, paged."""
    state = request.app[STATE_KEY]
    try:
        page = max(1, int(request.query.get("page", "1")))
        size = max(1, int(request.query.get("limit", str(PAGE_SIZE))))
    except ValueError:
        return bodies.app_error(state.new_id(), "Bad_Request", "Invalid page")
    chats = state.chats.of(account.user_id)[(page - 1) * size : page * size]
    return success(state, [c.summary() for c in chats])


@account_route("chat_detail", chat_scoped=True)
async def chat_detail(request: web.Request, account: Account) -> web.Response:
    """``GET /api/v2/chats/<id>``: the chat with its whole message tree."""
    chat_id = request.match_info["chat_id"]
    state = request.app[STATE_KEY]
    chat = state.chats.get(account.user_id, chat_id)
    if chat is None:
        return bodies.app_error(state.new_id(), "Not_Found", "Chat not found")
    return success(state, chat.detail())


@account_route("delete_chat", chat_scoped=True)
async def delete_chat(request: web.Request, account: Account) -> web.Response:
    """``DELETE /api/v2/chats/<id>``."""
    chat_id = request.match_info["chat_id"]
    state = request.app[STATE_KEY]
    deleted = state.chats.delete(account.user_id, chat_id)
    state.deletions.append(Deletion(account.email, chat_id, int(deleted)))
    if not deleted:
        return bodies.app_error(state.new_id(), "Not_Found", "Chat not found")
    return success(state, {"status": True})


@account_route("delete_all")
async def delete_all(request: web.Request, account: Account) -> web.Response:
    """``DELETE /api/v2/chats/``: every chat of the caller."""
    state = request.app[STATE_KEY]
    gone = state.chats.delete_all(account.user_id)
    state.deletions.append(Deletion(account.email, None, gone))
    return success(state, {"status": True})


def add_routes(app: web.Application) -> None:
    """Register every service route on ``app``."""
    app.router.add_post("/api/v2/chats/new", new_chat)
    app.router.add_post("/api/v2/chat/completions", completions)
    for path in ("/api/models", "/api/v2/models/", "/api/v2/models"):
        app.router.add_get(path, models)
    for path in ("/api/v1/auths/", "/api/v1/auths"):
        app.router.add_get(path, auth_verify)
    app.router.add_post("/api/v1/auths/signin", signin)
    for path in ("/api/v2/chats/", "/api/v2/chats"):
        app.router.add_get(path, chat_list)
        app.router.add_delete(path, delete_all)
    app.router.add_get("/api/v2/chats/{chat_id}", chat_detail)
    app.router.add_delete("/api/v2/chats/{chat_id}", delete_chat)
    app.router.add_post("/api/v2/users/user/settings/update", settings_update)
