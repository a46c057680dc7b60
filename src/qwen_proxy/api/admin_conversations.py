"""``/admin/conversations``: the newest conversations the gateway remembers, and forgetting one.

``GET /admin/conversations?limit=N`` lists the most recently used Qwen chats (newest first,
``limit`` 1 to 500, default 50) with their account, model, turns and last use; no message text.
``DELETE /admin/conversations/CHAT_ID`` forgets that chat's nodes: its next request folds the
history into a new chat. The chat itself stays in the Qwen account.
"""

from __future__ import annotations

from qwen_proxy.api.admin_request import AdminRequest
from qwen_proxy.api.http import Send, send_json
from qwen_proxy.conversations.listing import forget_chat, newest_chats
from qwen_proxy.errors import InvalidRequest, MethodNotAllowed, NotFound
from qwen_proxy.service.gateway import Gateway

PREFIX = "/admin/conversations"
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


async def handle_conversations(gateway: Gateway, request: AdminRequest, send: Send) -> None:
    """Serve ``/admin/conversations`` and ``/admin/conversations/CHAT_ID``."""
    parts = request.parts
    if not parts:
        if request.method != "GET":
            raise MethodNotAllowed(f"Method {request.method} is not allowed here; use GET.")
        chats = await newest_chats(gateway.store, _limit(request.query.get("limit")))
        await send_json(send, 200, {"object": "list", "data": [c.to_dict() for c in chats]})
        return
    if len(parts) > 1:
        raise NotFound(f"Unknown admin route: {request.method} {request.path}.")
    if request.method != "DELETE":
        raise MethodNotAllowed(f"Method {request.method} is not allowed here; use DELETE.")
    chat_id = parts[0]
    forgotten = await forget_chat(gateway.store, chat_id)
    if not forgotten:
        raise NotFound(
            f"No stored conversation in chat {chat_id!r}. See GET {PREFIX}.",
            code="conversation_not_found",
        )
    await send_json(send, 200, {"chat_id": chat_id, "deleted": True, "nodes": forgotten})


def _limit(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise InvalidRequest(
            f"'limit' must be a whole number from 1 to {MAX_LIMIT}.", param="limit"
        )
    return int(value)
