"""``create_app(config)``: the aiohttp application of one emulator instance."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from qwen_proxy.emulator import bodies
from qwen_proxy.emulator.admin import PREFIX, add_admin_routes
from qwen_proxy.emulator.auth import add_auth_routes
from qwen_proxy.emulator.config import EmulatorConfig
from qwen_proxy.emulator.guard import ConnectionAborted
from qwen_proxy.emulator.images import add_image_routes
from qwen_proxy.emulator.objects import add_object_routes
from qwen_proxy.emulator.records import RecordedRequest, auth_form, cookie_names, redact
from qwen_proxy.emulator.routes import add_routes
from qwen_proxy.emulator.state import STATE_KEY, EmulatorState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def record_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Keep every service request (not the admin ones) for tests, unless recording is off."""
    state = request.app[STATE_KEY]
    if state.knobs.record and not request.path.startswith(PREFIX):
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            # an upload's bytes are noted by their size, not kept
            body = raw.decode("utf-8", "replace") if request.method != "PUT" else len(raw)
        item = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=redact(dict(request.headers)),
            json=body,
            cookie_names=cookie_names(request.headers.get("Cookie", "")),
            auth=auth_form(dict(request.headers), dict(request.cookies)),
            token_exp=state.token_exp(request),
        )
        state.recording[id(request)] = item
        state.log.add(item)
    try:
        return await handler(request)
    except ConnectionAborted:
        # the transport is gone; aiohttp drops whatever is returned
        return web.Response(status=204)
    finally:
        state.recording.pop(id(request), None)


@web.middleware
async def actual_status(request: web.Request, handler: Handler) -> web.StreamResponse:
    """2026-10: an error answered with HTTP 200 names its real status in a header."""
    response = await handler(request)
    if response.prepared:
        return response
    status = response.headers.pop(bodies.ACTUAL_STATUS, None)
    today = request.app[STATE_KEY].config.browser_sessions
    if status is not None and response.status == 200 and today:
        response.headers["x-actual-status-code"] = status
    return response


def create_app(config: EmulatorConfig | None = None) -> web.Application:
    """The emulator as an aiohttp app; its state is ``app[STATE_KEY]``."""
    config = config or EmulatorConfig.default()
    app = web.Application(
        middlewares=[record_requests, actual_status], client_max_size=config.max_upload + 65536
    )
    app[STATE_KEY] = EmulatorState.from_config(config)
    add_routes(app)
    add_object_routes(app)
    add_image_routes(app)
    add_auth_routes(app, config.auth_prefix)
    add_admin_routes(app)
    return app
