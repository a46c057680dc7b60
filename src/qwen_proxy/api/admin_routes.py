"""The admin data routes: ``/admin/<section>/...`` handed to the section's handler.

The caller (``api.app``) has already checked the admin key and read the body. Each section is
one handler in ``ROUTES``, keyed by the path's first segment after ``/admin/``; a section that
is not there answers 404, which the admin page reads as "not available on this gateway".
``GET /admin/routes`` lists the sections, so the page knows without asking for a missing one.
"""

from __future__ import annotations

from qwen_proxy.api.admin import handle_admin
from qwen_proxy.api.admin_conversations import handle_conversations
from qwen_proxy.api.admin_keys import handle_admin_keys
from qwen_proxy.api.admin_request import AdminHandler, AdminRequest
from qwen_proxy.api.admin_stats import handle_stats
from qwen_proxy.api.http import Send, send_json
from qwen_proxy.errors import MethodNotAllowed, NotFound
from qwen_proxy.service.gateway import Gateway


async def _accounts(gateway: Gateway, request: AdminRequest, send: Send) -> None:
    await handle_admin(gateway, request.method, request.path, request.body, send)


async def _keys(gateway: Gateway, request: AdminRequest, send: Send) -> None:
    await handle_admin_keys(gateway, request.method, request.path, request.body, send)


#: the sections of the admin routes by the path's first segment after /admin/
ROUTES: dict[str, AdminHandler] = {
    "accounts": _accounts,
    "conversations": handle_conversations,
    "keys": _keys,
    "stats": handle_stats,
}


async def _sections(gateway: Gateway, request: AdminRequest, send: Send) -> None:
    """``GET /admin/routes``: the sections this gateway serves."""
    if request.parts:
        raise NotFound(f"Unknown admin route: {request.method} {request.path}.")
    if request.method != "GET":
        raise MethodNotAllowed(f"Method {request.method} is not allowed here; use GET.")
    await send_json(send, 200, {"sections": sorted(ROUTES)})


async def route_admin(gateway: Gateway, request: AdminRequest, send: Send) -> None:
    """Hand an admin data request to its section's handler; 404 for an unknown section."""
    segments = request.path.split("/")
    if len(segments) > 2 and segments[2] == "routes":
        await _sections(gateway, request, send)
        return
    handler = ROUTES.get(segments[2]) if len(segments) > 2 else None
    if handler is None:
        raise NotFound(
            f"Unknown admin route: {request.method} {request.path}. See GET /admin/accounts."
        )
    await handler(gateway, request, send)
