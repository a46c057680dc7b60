"""What runs before every service route: faults first, then the firewall, then the token.

In the 2026-10 era the firewall stands before every write route: without the browser's
anti-bot headers, or with a token whose session's cookies are not in the jar, the answer is
the slider page; a body over the cap gets the challenge. After authentication, a write call
without the ``version`` header gets ``Bad_Request`` (in a 200, like a body error).
"""

from __future__ import annotations

import asyncio
import functools
import socket
import struct
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from qwen_proxy.emulator import bodies
from qwen_proxy.emulator.config import Account
from qwen_proxy.emulator.faults import REPLACING, SHAPING, Fault
from qwen_proxy.emulator.state import STATE_KEY, AuthFailure, EmulatorState

#: the routes the firewall guards in the 2026-10 era (the settings route too: unverified, and
#: the stricter emulator keeps the gateway honest)
WRITE_ROUTES = frozenset({"new_chat", "completions", "sts_token", "files_parse", "settings_update"})
ANTI_BOT_HEADERS = ("bx-ua", "bx-umidtoken", "bx-v")

AUTH_MESSAGES = {
    "missing": "Not authenticated",
    "expired": bodies.EXPIRED_DETAIL,
    "invalid": bodies.EXPIRED_DETAIL,
}


class ConnectionAborted(Exception):
    """The handler reset the connection; there is nothing to answer."""


def has_user_agent(request: web.Request) -> bool:
    """Whether the request names a User-Agent."""
    return bool(request.headers.get("User-Agent", "").strip())


def reset(request: web.Request) -> None:
    """Abort the connection with an RST, before any byte of an answer."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # linger 0 makes close() send RST instead of FIN: a real "connection reset by peer"
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def replacement(request: web.Request, state: EmulatorState, fault: Fault) -> web.Response:
    """The answer a replacing fault sends in place of the route's own."""
    p = fault.params
    status = int(p.get("status", 200))
    if fault.name in ("waf_html", "missing_user_agent_waf"):
        return bodies.waf_html(status)
    if fault.name == "waf_json":
        return bodies.waf_json(status)
    if fault.name == "capacity":
        return bodies.capacity(status)
    if fault.name == "expired_token":
        form = p.get("form", state.config.auth_error_form)
        return bodies.auth_error(
            state.new_id(), "unauthorized" if form == "unauthorized" else "detail"
        )
    if fault.name == "rate_limited":
        return bodies.app_error(
            state.new_id(), "RateLimited", bodies.RATE_LIMIT_DETAILS, num=int(p.get("num", 6))
        )
    if fault.name == "http_5xx":
        return bodies.server_error(int(p.get("status", 500)))
    if fault.name == "bad_request_internal":
        return bodies.app_error(state.new_id(), "Bad_Request", "Internal error")
    if fault.name == "challenge":
        return bodies.challenge(request.path.strip("/"), state.random_hex(32))
    if fault.name == "slider":
        return bodies.slider_page()
    if fault.name == "reset":
        reset(request)
        raise ConnectionAborted
    raise AssertionError(f"not a replacing fault: {fault.name}")


async def fault_answer(
    request: web.Request, route: str, chat_id: str | None = None, extra: Sequence[Fault] = ()
) -> web.Response | list[Fault]:
    """The answer a fault puts in place of the route's, or the stream-shaping faults to apply."""
    state = request.app[STATE_KEY]
    agent = has_user_agent(request)
    faults = state.faults.take(route, state.peek_email(request), chat_id, has_user_agent=agent)
    faults += [f for f in extra if f.name != "missing_user_agent_waf" or not agent]
    for fault in faults:
        if fault.name == "stall":
            await asyncio.sleep(float(fault.params.get("seconds", 1.0)))
    for fault in faults:
        if fault.name in REPLACING and fault.name != "stall":
            return replacement(request, state, fault)
    return [f for f in faults if f.name in SHAPING]


async def guard(
    request: web.Request, route: str, chat_id: str | None = None, extra: Sequence[Fault] = ()
) -> tuple[Account, list[Fault]] | web.Response:
    """The caller's account and the shaping faults, or the answer replacing the route's."""
    faults = await fault_answer(request, route, chat_id, extra)
    if isinstance(faults, web.Response):
        return faults
    state = request.app[STATE_KEY]
    gated = state.config.browser_sessions and route in WRITE_ROUTES
    if gated:
        stopped = await firewall(request, state)
        if stopped is not None:
            return stopped
    who = state.authenticate(request)
    if isinstance(who, AuthFailure):
        return bodies.auth_error(
            state.new_id(), state.config.auth_error_form, AUTH_MESSAGES[who.reason]
        )
    if gated and not request.headers.get("version", "").strip():
        return bodies.app_error(state.new_id(), "Bad_Request", "The request is invalid.")
    return who, faults


def lacks_anti_bot_headers(request: web.Request) -> bool:
    """True when one of the browser's ``bx-*`` headers is missing or empty."""
    return any(not request.headers.get(name, "").strip() for name in ANTI_BOT_HEADERS)


async def firewall(request: web.Request, state: EmulatorState) -> web.Response | None:
    """The firewall's answer to a write call it stops, or None when it lets it through."""
    if lacks_anti_bot_headers(request):
        return bodies.slider_page()
    if len(await request.read()) > state.config.max_request_body:
        return bodies.challenge(request.path.strip("/"), state.random_hex(32))
    if state.pair_broken(request):
        return bodies.slider_page()
    return None


AccountHandler = Callable[[web.Request, Account], Awaitable[web.Response]]
Handler = Callable[[web.Request], Awaitable[web.Response]]


def account_route(route: str, *, chat_scoped: bool = False) -> Callable[[AccountHandler], Handler]:
    """Run ``guard`` first and hand the handler the caller's account (faults and auth answer
    for it); ``chat_scoped`` routes let a fault target the ``{chat_id}`` in their path."""

    def wrap(handler: AccountHandler) -> Handler:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.Response:
            chat_id = request.match_info["chat_id"] if chat_scoped else None
            gate = await guard(request, route, chat_id)
            if isinstance(gate, web.Response):
                return gate
            return await handler(request, gate[0])

        return run

    return wrap
