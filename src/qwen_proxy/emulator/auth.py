"""The auth host of the 2026-10 era: sign-in and token renewal.

It is this same server under ``EmulatorConfig.auth_prefix`` (default ``/auth``), so a gateway
points its auth URL at ``<emulator>/auth``. Sign-in, like the write routes, meets the slider
page without the browser's anti-bot headers; it opens a browser session bound to the caller's
firewall cookie and answers a short-lived access token plus a ``refresh_token`` cookie.
Renewal takes only the cookie jar: no password, no slider. Before 2026-10 there is no auth
host (404).
"""

from __future__ import annotations

from aiohttp import web

from qwen_proxy.emulator import bodies
from qwen_proxy.emulator.config import Account
from qwen_proxy.emulator.guard import fault_answer, lacks_anti_bot_headers
from qwen_proxy.emulator.routes import (
    SIGNIN_FAILED,
    json_body,
    password_matches,
    success,
    user_object,
)
from qwen_proxy.emulator.sessions import BINDING_COOKIE, REFRESH_COOKIE, TOKEN_COOKIE
from qwen_proxy.emulator.state import STATE_KEY, EmulatorState

SIGNIN_PATH = "/api/v2/auths/signin"
REFRESH_PATH = "/api/v2/auths/refresh"
REFRESH_REJECTED = "The refresh token is invalid or has expired. Please sign in again."


async def auth_signin(request: web.Request) -> web.Response:
    """``POST <auth>/api/v2/auths/signin``: email + SHA-256 hex of the password."""
    answer = await fault_answer(request, "auth_signin")
    if isinstance(answer, web.Response):
        return answer
    state = request.app[STATE_KEY]
    if not state.config.browser_sessions:
        raise web.HTTPNotFound()
    if lacks_anti_bot_headers(request):
        return bodies.slider_page()
    if not request.headers.get("version", "").strip():
        return bodies.app_error(state.new_id(), "Bad_Request", "The request is invalid.")
    body = await json_body(request)
    body = body if isinstance(body, dict) else {}
    account = state.by_email(str(body.get("email", "")))
    if account is None or not password_matches(account, body):
        return bodies.app_error(state.new_id(), "Bad_Request", SIGNIN_FAILED)
    known_cookie = request.cookies.get(BINDING_COOKIE)
    session = state.open_session(account, acw_tc=known_cookie)
    token = state.mint(account, sid=session.sid)
    response = success(state, signed_in(state, account, token))
    set_cookie(state, response, TOKEN_COOKIE, token, state.token_lifetime, http_only=False)
    set_cookie(
        state, response, REFRESH_COOKIE, session.refresh_token, state.config.refresh_token_ttl
    )
    if known_cookie is None:
        set_cookie(state, response, BINDING_COOKIE, session.acw_tc, 30 * 60)
    return response


async def refresh(request: web.Request) -> web.Response:
    """``GET <auth>/api/v2/auths/refresh``: a new access token for the jar's refresh token."""
    answer = await fault_answer(request, "refresh")
    if isinstance(answer, web.Response):
        return answer
    state = request.app[STATE_KEY]
    if not state.config.browser_sessions:
        raise web.HTTPNotFound()
    session = state.sessions.by_refresh_token(request.cookies.get(REFRESH_COOKIE))
    if session is None or session.refresh_expires <= state.now():
        return bodies.app_error(state.new_id(), "Unauthorized", REFRESH_REJECTED)
    account = state.accounts[session.user_id]
    token = state.mint(account, sid=session.sid)
    rotated = state.config.rotate_refresh_token
    if rotated:
        state.sessions.rotate(
            session, "rt." + state.random_hex(96), state.now() + state.config.refresh_token_ttl
        )
    data = {
        **signed_in(state, account, token),
        "refresh_token": session.refresh_token,
    }
    response = success(state, data)
    set_cookie(state, response, TOKEN_COOKIE, token, state.token_lifetime, http_only=False)
    if rotated:
        set_cookie(
            state, response, REFRESH_COOKIE, session.refresh_token, state.config.refresh_token_ttl
        )
    return response


def signed_in(state: EmulatorState, account: Account, token: str) -> dict[str, object]:
    """The ``data`` of a sign-in or renewal: the user, and the access token as ``access_token``."""
    user = user_object(account, token, state.now() + state.token_lifetime)
    return {**user, "access_token": token}


def set_cookie(
    state: EmulatorState,
    response: web.Response,
    name: str,
    value: str,
    max_age: int,
    *,
    http_only: bool = True,
) -> None:
    """Set one auth cookie (``Domain`` as configured; a local emulator sets host-only ones)."""
    domain = state.config.cookie_domain
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        domain=domain,
        httponly=http_only,
        secure=domain is not None,
        samesite="Lax",
    )


def add_auth_routes(app: web.Application, prefix: str) -> None:
    """Register the auth host's routes under ``prefix``."""
    base = prefix.rstrip("/")
    app.router.add_post(base + SIGNIN_PATH, auth_signin)
    app.router.add_get(base + REFRESH_PATH, refresh)
