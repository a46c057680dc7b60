"""Uploads in Qwen's terms (pure): the grant request and answer, and the ``files[]`` entries.

An upload is three calls: ``POST /api/v2/files/getstsToken`` (or the older ``/api/v1/...``)
grants a temporary key triple and an object key for one file; the client PUTs the bytes to the
bucket itself (``qwen.oss``); a message then names the file in its ``files[]``, as the web app
does. Documents are also parsed upstream before they are named (``/api/v2/files/parse``).

The grant's answer comes in two shapes (inside the success envelope's ``data``, or bare), and
its request body has been seen with two spellings of its keys; both are handled here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from qwen_proxy.qwen.oss import StsKeys

#: the grant routes, newest first (the v1 answer changed shape in 2026-08)
STS_PATHS = ("/api/v2/files/getstsToken", "/api/v1/files/getstsToken")
PARSE_PATH = "/api/v2/files/parse"
PARSE_STATUS_PATH = "/api/v2/files/parse/status"

#: what a message's ``files[]`` entry calls the file: an image the model looks at, or a document
FileClass = Literal["vision", "document"]


@dataclass(frozen=True, slots=True)
class UploadGrant:
    """One upload slot: the keys to sign with, and where the object goes and is read from."""

    keys: StsKeys
    bucket: str
    endpoint: str
    file_id: str
    file_path: str
    #: the presigned URL the object is read from (lives a few minutes)
    file_url: str


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file in Qwen's storage, as a message names it."""

    file_id: str
    url: str
    name: str
    size: int
    content_type: str
    file_class: FileClass


def upload_kind(content_type: str) -> str:
    """The grant body's file type: ``image``, ``video``, ``audio`` or ``file``."""
    major = content_type.split("/", 1)[0].lower()
    return major if major in ("image", "video", "audio") else "file"


def sts_body(filename: str, size: int, content_type: str) -> dict[str, Any]:
    """The grant request: every key in both spellings seen (a missing type is refused)."""
    kind = upload_kind(content_type)
    return {
        "filename": filename,
        "filesize": size,
        "filetype": kind,
        "file_name": filename,
        "file_size": size,
        "file_type": kind,
    }


def parse_grant(payload: Any) -> UploadGrant | None:
    """The grant in an answer of either shape; None when a field it needs is missing."""
    data = payload.get("data") if isinstance(payload, dict) else None
    source = data if isinstance(data, dict) and "access_key_id" in data else payload
    if not isinstance(source, dict):
        return None
    fields = {
        name: source.get(name)
        for name in (
            "access_key_id",
            "access_key_secret",
            "security_token",
            "bucketname",
            "file_id",
            "file_path",
            "file_url",
        )
    }
    if not all(isinstance(value, str) and value for value in fields.values()):
        return None
    endpoint = _endpoint(source)
    if endpoint is None:
        return None
    return UploadGrant(
        keys=StsKeys(
            str(fields["access_key_id"]),
            str(fields["access_key_secret"]),
            str(fields["security_token"]),
        ),
        bucket=str(fields["bucketname"]),
        endpoint=endpoint,
        file_id=str(fields["file_id"]),
        file_path=str(fields["file_path"]),
        file_url=str(fields["file_url"]),
    )


def _endpoint(source: dict[str, Any]) -> str | None:
    """The storage endpoint, or the one the region implies (``oss-<region>.aliyuncs.com``)."""
    endpoint = source.get("endpoint")
    if isinstance(endpoint, str) and endpoint:
        return endpoint
    region = source.get("region")
    if isinstance(region, str) and region:
        region = region if region.startswith("oss-") else f"oss-{region}"
        return f"{region}.aliyuncs.com"
    return None


def file_entry(file: UploadedFile) -> dict[str, Any]:
    """The message's ``files[]`` entry for an uploaded file, shaped as the web app sends it."""
    if file.file_class == "vision":
        return {
            "type": "image",
            "id": file.file_id,
            "name": file.name,
            "file_type": file.content_type,
            "showType": "image",
            "status": "uploaded",
            "file_class": "vision",
            "size": file.size,
            "url": file.url,
        }
    return {
        "type": "file",
        "file": {
            "id": file.file_id,
            "filename": file.name,
            "meta": {
                "name": file.name,
                "size": file.size,
                "content_type": file.content_type,
            },
        },
        "id": file.file_id,
        "name": file.name,
        "file_type": file.content_type,
        "showType": "file",
        "status": "uploaded",
        "file_class": "document",
        "greenNet": "success",
        "size": file.size,
        "url": file.url,
    }


def parse_body(file_id: str) -> dict[str, Any]:
    """The body of ``POST /api/v2/files/parse`` and of its status route."""
    return {"file_id": file_id}


ParseState = Literal["done", "pending", "failed"]


def parse_state(payload: Any) -> ParseState:
    """Where a document's parsing stands, from the parse or status answer's ``data``."""
    data = payload.get("data") if isinstance(payload, dict) else None
    status = data.get("status") if isinstance(data, dict) else data
    text = str(status or "").lower()
    if text in ("success", "succeeded", "done", "finished", "parsed", "completed"):
        return "done"
    if text in ("failed", "fail", "error"):
        return "failed"
    return "pending"
