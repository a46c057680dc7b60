"""Uploads: the grant routes, a local object store that checks signatures, the files, and
document parsing.

``POST /api/v{1,2}/files/getstsToken`` hands out one upload slot with temporary keys of its
own (the v2 answer inside the success envelope, the v1 answer bare; the body's keys in either
spelling). The object store under ``/oss/<bucket>/<object key>`` (what a gateway's
``QWEN_PROXY_OSS_URL`` points at) takes a PUT only when it is signed as OSS signs (V1:
``Authorization: OSS <id>:<signature>``) with that slot's keys and carries the slot's
``x-oss-security-token``; its errors are OSS's XML documents. The presigned ``file_url`` serves
the bytes; in the 2026-10 era a PUT to it is refused as the real storage refuses it.
``POST /api/v2/files/parse`` starts reading a document, ``.../parse/status`` says ``parsing``
until the ``parse_delay`` knob has passed, then ``success``.

The signature is computed here independently of the gateway (no shared code), so a test that
passes proves the gateway signs as OSS documents it.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote

from aiohttp import web

from qwen_proxy.emulator import bodies
from qwen_proxy.emulator.attachments import parsed
from qwen_proxy.emulator.config import Account
from qwen_proxy.emulator.guard import account_route
from qwen_proxy.emulator.routes import json_body, success
from qwen_proxy.emulator.state import STATE_KEY, EmulatorState, StoredFile

BUCKET = "qwen-webui-prod"
ENDPOINT = "oss-emulator.aliyuncs.com"
OSS_PREFIX = "/oss"
#: how far a request's Date may be from the store's clock (OSS allows 15 minutes)
MAX_SKEW = 15 * 60
INVALID_FILE = "Invalid file information!"


def oss_error(status: int, code: str, message: str, request_id: str) -> web.Response:
    """An OSS error document."""
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>{BUCKET}.{ENDPOINT}</HostId></Error>"
    )
    return web.Response(status=status, text=xml, content_type="application/xml")


def body_field(body: dict[str, Any], *names: str) -> Any:
    """The first of ``names`` the body carries (the two spellings of one key)."""
    for name in names:
        if body.get(name) not in (None, ""):
            return body[name]
    return None


@account_route("sts_token")
async def sts_token(request: web.Request, account: Account) -> web.Response:
    """``POST /api/v{1,2}/files/getstsToken``: one upload slot with keys of its own."""
    state = request.app[STATE_KEY]
    v2 = request.path.startswith("/api/v2/")
    if v2 and not state.knobs.sts_v2:
        return bodies.json_response({"detail": "Not Found"}, status=404)
    body = await json_body(request)
    body = body if isinstance(body, dict) else {}
    name = body_field(body, "filename", "file_name")
    kind = body_field(body, "filetype", "file_type")
    if not name or not kind:
        return bodies.app_error(state.new_id(), "Bad_Request", INVALID_FILE)
    filename = str(name).replace("/", "_")
    file_id = state.new_id()
    slot = StoredFile(
        account.user_id,
        filename,
        file_id=file_id,
        path=f"{account.user_id}/{file_id}_{filename}",
        access_key_id="STS." + state.random_hex(24),
        access_key_secret=state.random_hex(40),
        security_token="CAIS" + state.random_hex(64),
        kind=str(kind),
    )
    state.files[file_id] = slot
    state.objects[slot.path] = slot
    origin = f"{request.scheme}://{request.host}"
    expires = int(time.time()) + 300
    grant = {
        "access_key_id": slot.access_key_id,
        "access_key_secret": slot.access_key_secret,
        "security_token": slot.security_token,
        "file_url": f"{origin}/__files__/{file_id}/{quote(filename)}"
        f"?Expires={expires}&OSSAccessKeyId={slot.access_key_id}&Signature=emulated",
        "file_path": slot.path,
        "file_id": file_id,
        "bucketname": BUCKET,
        "region": "oss-emulator",
    }
    if not v2:
        return bodies.json_response(grant)
    return bodies.json_response(
        {
            "success": True,
            "request_id": state.new_id(),
            "data": {**grant, "endpoint": ENDPOINT},
        }
    )


def string_to_sign(request: web.Request, resource: str) -> str:
    """OSS V1's string to sign for ``request``."""
    oss = sorted(
        (name.lower(), value.strip())
        for name, value in request.headers.items()
        if name.lower().startswith("x-oss-")
    )
    return "\n".join(
        [
            request.method,
            request.headers.get("Content-MD5", ""),
            request.headers.get("Content-Type", ""),
            request.headers.get("Date", ""),
            "".join(f"{name}:{value}\n" for name, value in oss) + resource,
        ]
    )


def check_signature(request: web.Request, slot: StoredFile, state: EmulatorState) -> str | None:
    """The OSS error code a PUT earns, or None when it is signed with the slot's keys."""
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    key_id, _, given = credential.partition(":")
    if scheme != "OSS" or not given:
        return "AccessDenied"
    if key_id != slot.access_key_id:
        return "InvalidAccessKeyId"
    if request.headers.get("x-oss-security-token") != slot.security_token:
        return "InvalidSecurityToken"
    try:
        date = email.utils.parsedate_to_datetime(request.headers.get("Date", ""))
    except (TypeError, ValueError):
        return "AccessDenied"
    if abs(date.timestamp() - time.time()) > MAX_SKEW:
        return "RequestTimeTooSkewed"
    text = string_to_sign(request, f"/{BUCKET}/{slot.path}")
    digest = hmac.new(slot.access_key_secret.encode(), text.encode(), hashlib.sha1).digest()
    if not hmac.compare_digest(base64.b64encode(digest).decode(), given):
        return "SignatureDoesNotMatch"
    return None


async def put_object(request: web.Request) -> web.Response:
    """``PUT /oss/<bucket>/<key>``: store the bytes of a slot when the PUT is signed right."""
    state = request.app[STATE_KEY]
    rid = state.random_hex(24).upper()
    if request.match_info["bucket"] != BUCKET:
        return oss_error(404, "NoSuchBucket", "The specified bucket does not exist.", rid)
    slot = state.objects.get(request.match_info["key"])
    if slot is None:
        return oss_error(403, "AccessDenied", "The grant does not cover this object.", rid)
    refused = check_signature(request, slot, state)
    if refused is not None:
        return oss_error(403, refused, f"The request is refused: {refused}.", rid)
    data = await request.read()
    if len(data) > state.config.max_upload:
        return oss_error(400, "EntityTooLarge", "Your proposed upload is too large.", rid)
    md5 = request.headers.get("Content-MD5")
    if md5 is not None and md5 != base64.b64encode(hashlib.md5(data).digest()).decode():
        return oss_error(400, "InvalidDigest", "The Content-MD5 you specified is not valid.", rid)
    slot.data = data
    slot.content_type = request.headers.get("Content-Type", slot.content_type)
    etag = hashlib.md5(data).hexdigest().upper()
    return web.Response(status=200, headers={"ETag": f'"{etag}"', "x-oss-request-id": rid})


async def put_file(request: web.Request) -> web.Response:
    """``PUT <file_url>``: refused since 2026 (the URL is presigned for reading); the 2026-06
    era took the bytes unsigned, as clients of that time relied on."""
    state = request.app[STATE_KEY]
    slot = state.files.get(request.match_info["file_id"])
    if slot is None:
        return web.Response(status=404, text="NoSuchUpload")
    if state.config.browser_sessions:
        rid = state.random_hex(24).upper()
        return oss_error(403, "SignatureDoesNotMatch", "The URL is presigned for GET.", rid)
    data = await request.read()
    if len(data) > state.config.max_upload:
        return web.Response(status=413, text="EntityTooLarge")
    slot.data = data
    slot.content_type = request.headers.get("Content-Type", slot.content_type)
    return web.Response(status=200)


async def get_file(request: web.Request) -> web.Response:
    """``GET <file_url>``: the uploaded bytes."""
    slot = request.app[STATE_KEY].files.get(request.match_info["file_id"])
    if slot is None or slot.data is None:
        return web.Response(status=404, text="NoSuchKey")
    return web.Response(body=slot.data, content_type=slot.content_type)


def own_slot(state: EmulatorState, account: Account, body: Any) -> StoredFile | None:
    """The caller's upload the body's ``file_id`` names."""
    file_id = body.get("file_id") if isinstance(body, dict) else None
    slot = state.files.get(file_id) if isinstance(file_id, str) else None
    return slot if slot is not None and slot.owner == account.user_id else None


@account_route("files_parse")
async def parse(request: web.Request, account: Account) -> web.Response:
    """``POST /api/v2/files/parse`` ``{file_id}``: start reading an uploaded document."""
    state = request.app[STATE_KEY]
    slot = own_slot(state, account, await json_body(request))
    if slot is None or slot.data is None:
        return bodies.app_error(state.new_id(), "Not_Found", "File not found")
    if slot.parse_started is None:
        slot.parse_started = time.monotonic()
    return success(state, {"status": "success" if parsed(state, slot) else "parsing"})


@account_route("files_parse")
async def parse_status(request: web.Request, account: Account) -> web.Response:
    """``POST /api/v2/files/parse/status`` ``{file_id}``: ``parsing`` until done."""
    state = request.app[STATE_KEY]
    slot = own_slot(state, account, await json_body(request))
    if slot is None or slot.parse_started is None:
        return bodies.app_error(state.new_id(), "Not_Found", "File not found")
    return success(state, {"status": "success" if parsed(state, slot) else "parsing"})


def add_object_routes(app: web.Application) -> None:
    """Register the grant routes, the object store, the file URLs and document parsing."""
    app.router.add_post("/api/v2/files/parse", parse)
    app.router.add_post("/api/v2/files/parse/status", parse_status)
    for path in ("/api/v1/files/getstsToken", "/api/v2/files/getstsToken"):
        app.router.add_post(path, sts_token)
    app.router.add_put(OSS_PREFIX + "/{bucket}/{key:.+}", put_object)
    app.router.add_put("/__files__/{file_id}/{filename}", put_file)
    app.router.add_get("/__files__/{file_id}/{filename}", get_file)
