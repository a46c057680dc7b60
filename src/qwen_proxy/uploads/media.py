"""What a client attached, as checked bytes ready to upload (pure): images and documents.

The limits are the upstream web app's: images up to 10 MB in PNG, JPEG, WebP or GIF (told by
their bytes, not by what the client declared), at most 10 per upstream message. Every refusal
is a 400 naming the part the client sent (``ImagePart.param``/``FilePart.param``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote_to_bytes

from qwen_proxy.errors import InvalidRequest

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
MAX_IMAGES = 10
#: what an image's first bytes say it is
IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}

MediaKind = Literal["image", "document"]
_WHITESPACE = re.compile(rb"\s+")


@dataclass(frozen=True, slots=True)
class Media:
    """Bytes to upload, with the name and type the message will show, and their digest."""

    kind: MediaKind
    name: str
    content_type: str
    data: bytes = field(repr=False)
    #: sha256 of the bytes (hex): what decides whether an upload can be reused
    digest: str

    @property
    def size(self) -> int:
        """The number of bytes."""
        return len(self.data)


def media(kind: MediaKind, name: str, content_type: str, data: bytes) -> Media:
    """A ``Media`` with its digest computed."""
    return Media(kind, name, content_type, data, hashlib.sha256(data).hexdigest())


def data_url(media_type: str, base64_data: str) -> str:
    """A ``data:`` URL of base64 data (how faces pass base64 image and document sources on)."""
    return f"data:{media_type};base64,{base64_data}"


def sniff_image(data: bytes) -> str | None:
    """The image type ``data`` starts like (PNG, JPEG, WebP, GIF), None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def decode_data_url(url: str, param: str, limit: int) -> tuple[str, bytes]:
    """The media type and bytes of a ``data:`` URL; 400 naming ``param`` when it is not one,
    or when its bytes are over ``limit``."""
    header, comma, payload = url[5:].partition(",")
    if not url.startswith("data:") or not comma:
        raise InvalidRequest(
            f"Invalid '{param}': expected a data: URL such as 'data:image/png;base64,...'.",
            param=param,
            code="invalid_value",
        )
    parts = header.split(";")
    media_type = parts[0].strip().lower() or "text/plain"
    if "base64" in (p.strip().lower() for p in parts[1:]):
        raw = _WHITESPACE.sub(b"", payload.encode("latin-1", "replace"))
        if len(raw) // 4 * 3 > limit + 3:
            raise too_large(param, limit)
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(
                f"Invalid '{param}': the data: URL's base64 does not decode.",
                param=param,
                code="invalid_value",
            ) from None
    else:
        data = unquote_to_bytes(payload)
    if len(data) > limit:
        raise too_large(param, limit)
    return media_type, data


def too_large(param: str, limit: int) -> InvalidRequest:
    """The 400 for an attachment over ``limit`` bytes."""
    return InvalidRequest(
        f"Invalid '{param}': the file is over the limit of {limit // (1024 * 1024)} MB.",
        param=param,
        code="file_too_large",
    )


def image_media(data: bytes, param: str) -> Media:
    """Image bytes checked for size and type (by their first bytes), named by their digest."""
    if len(data) > MAX_IMAGE_BYTES:
        raise too_large(param, MAX_IMAGE_BYTES)
    content_type = sniff_image(data)
    if content_type is None:
        raise InvalidRequest(
            f"Invalid '{param}': unsupported image format; send PNG, JPEG, WebP or GIF.",
            param=param,
            code="invalid_image_format",
        )
    found = media("image", "", content_type, data)
    name = f"image-{found.digest[:12]}.{IMAGE_TYPES[content_type]}"
    return Media("image", name, content_type, data, found.digest)


def document_media(data_url_text: str, filename: str, param: str) -> Media:
    """A document from a ``data:`` URL: its type as declared, else as its name says."""
    name = filename.strip().replace("/", "_").replace("\\", "_")
    if not name:
        raise InvalidRequest(
            f"Missing '{param}.filename': a file needs a name.", param=param, code="missing"
        )
    declared, data = decode_data_url(data_url_text, param, MAX_DOCUMENT_BYTES)
    if not data:
        raise InvalidRequest(f"Invalid '{param}': the file is empty.", param=param, code="empty")
    guessed = mimetypes.guess_type(name)[0]
    content_type = guessed if declared in ("application/octet-stream", "") and guessed else declared
    return media("document", name, content_type, data)


def text_document(name: str, text: str) -> Media:
    """A text file the gateway writes itself (an older part of a long conversation)."""
    return media("document", name, "text/plain", text.encode())
