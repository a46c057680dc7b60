"""Image turns (chat types ``t2i`` and ``image_edit``): an image URL this server serves, and the
daily image quota.

A ``t2i`` turn draws a 1x1 PNG whose colour comes from the prompt (so two prompts give two
images); an ``image_edit`` turn needs an uploaded image in the message's ``files[]`` and answers
with those very bytes (proof that the source arrived). The stream carries the URL, with its
``key`` query, in one ``image_gen`` event with ``extra.output_image_hw``, then ``finished``.
The image is served at ``/__images__/<id>.png?key=<key>`` (403 without the right key). Each
account makes ``image_quota`` images a day (a knob); past it the turn answers ``RateLimited``
with ``num`` the hours until midnight UTC.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import time
import zlib
from typing import Any

from aiohttp import web

from qwen_proxy.emulator import bodies
from qwen_proxy.emulator.attachments import find_slot
from qwen_proxy.emulator.config import Account
from qwen_proxy.emulator.state import STATE_KEY, EmulatorState
from qwen_proxy.emulator.tree import Chat, Node

IMAGE_TYPES = ("t2i", "image_edit")
QUOTA_DETAILS = "今日生图额度已用完 / You've reached today's image generation limit."
#: the size an image of each ratio comes in, as ``output_image_hw`` (height, width)
SIZES = {
    "1:1": (1024, 1024),
    "3:4": (1152, 864),
    "4:3": (864, 1152),
    "16:9": (720, 1280),
    "9:16": (1280, 720),
}
STREAM_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}


def png(rgb: bytes) -> bytes:
    """A 1x1 PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + rgb[:3])
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def drawn(prompt: str) -> bytes:
    """The image a prompt draws."""
    return png(hashlib.sha256(prompt.encode()).digest())


def hours_to_midnight(now: float) -> int:
    """Whole hours (rounded up) until the next midnight UTC."""
    return max(1, math.ceil((86400 - now % 86400) / 3600))


def source_bytes(state: EmulatorState, account: Account, message: dict[str, Any]) -> bytes | None:
    """The uploaded image an edit names in ``files[]``, None when there is none."""
    entries = message.get("files")
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("type") == "image":
            slot = find_slot(state, entry)
            if slot is not None and slot.data is not None and slot.owner == account.user_id:
                return slot.data
    return None


def event(payload: dict[str, Any]) -> bytes:
    """One SSE event."""
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


async def image_turn(
    request: web.Request, chat: Chat, body: dict[str, Any], account: Account
) -> web.StreamResponse:
    """Answer an image turn: its stream, or the quota's or a missing source's error."""
    state = request.app[STATE_KEY]
    message = body["messages"][-1]
    chat_type = message.get("chat_type") or body.get("chat_type")
    made = state.images_made.get(account.user_id, 0)
    if made >= state.knobs.image_quota:
        return bodies.app_error(
            state.new_id(), "RateLimited", QUOTA_DETAILS, num=hours_to_midnight(time.time())
        )
    prompt = str(message.get("content") or "")
    if chat_type == "image_edit":
        data = source_bytes(state, account, message)
        if data is None:
            return bodies.app_error(state.new_id(), "Bad_Request", "The image to edit is missing")
    else:
        data = drawn(prompt)
    state.images_made[account.user_id] = made + 1
    image_id = state.new_id()
    key = state.random_hex(32)
    state.images[image_id] = (key, data)
    url = f"{request.scheme}://{request.host}/__images__/{image_id}.png?key={key}"
    ratio = str(message.get("size") or body.get("size") or "1:1")
    now = state.now()
    parent = body.get("parent_id")
    fid = message.get("fid") if isinstance(message.get("fid"), str) else state.new_id()
    chat.add(Node(fid, parent, "user", prompt, prompt, now, chat.model))
    response_id = state.new_id()
    chat.add(Node(response_id, fid, "assistant", url, url, now, chat.model))
    created = {"chat_id": chat.id, "parent_id": fid, "response_id": response_id}
    delta = {
        "role": "assistant",
        "content": url,
        "phase": "image_gen",
        "status": "typing",
        "extra": {"output_image_hw": [list(SIZES.get(ratio, SIZES["1:1"]))]},
    }
    done = {"role": "assistant", "content": "", "phase": "image_gen", "status": "finished"}
    response = web.StreamResponse(headers=STREAM_HEADERS)
    response.force_close()
    await response.prepare(request)
    for payload in (
        {"response.created": created},
        {"choices": [{"delta": delta}], "response_id": response_id},
        {"choices": [{"delta": done}], "response_id": response_id},
    ):
        await response.write(event(payload))
    await response.write_eof()
    return response


async def get_image(request: web.Request) -> web.Response:
    """``GET /__images__/<id>.png?key=<key>``: a made image, for the holder of its key."""
    state = request.app[STATE_KEY]
    stored = state.images.get(request.match_info["image_id"])
    if stored is None:
        return web.Response(status=404, text="NoSuchKey")
    key, data = stored
    if request.query.get("key") != key:
        return web.Response(status=403, text="AccessDenied")
    return web.Response(body=data, content_type="image/png")


def add_image_routes(app: web.Application) -> None:
    """Register the route that serves made images."""
    app.router.add_get("/__images__/{image_id}.png", get_image)
