"""What runs before every service route: faults first (as a WAF would), then the token."""

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
    who = state.authenticate(request)
    if isinstance(who, AuthFailure):
        return bodies.auth_error(
            state.new_id(), state.config.auth_error_form, AUTH_MESSAGES[who.reason]
        )
    return who, faults


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
