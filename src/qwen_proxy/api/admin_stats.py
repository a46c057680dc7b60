"""``GET /admin/stats``: the live numbers the admin page polls.

The last 15 minutes of this process (``service.live``): requests per second over the last
minute, time to first token p50/p95 (seconds), errors by class (the error code the client got),
open streams, a 5-second series for the chart; and how many accounts are in each state.
"""

from __future__ import annotations

from collections import Counter

from qwen_proxy.api.admin_request import AdminRequest
from qwen_proxy.api.http import Send, send_json
from qwen_proxy.errors import MethodNotAllowed, NotFound
from qwen_proxy.service.gateway import Gateway


async def handle_stats(gateway: Gateway, request: AdminRequest, send: Send) -> None:
    """Serve ``GET /admin/stats``."""
    if request.parts:
        raise NotFound(f"Unknown admin route: {request.method} {request.path}.")
    if request.method != "GET":
        raise MethodNotAllowed(f"Method {request.method} is not allowed here; use GET.")
    accounts = Counter(status.state for status in gateway.pool.snapshot())
    await send_json(
        send, 200, {**gateway.live.snapshot(), "accounts": dict(sorted(accounts.items()))}
    )
