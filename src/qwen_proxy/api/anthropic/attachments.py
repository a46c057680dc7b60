"""Anthropic ``image`` and ``document`` blocks as the parts the upload path takes.

The face only names what was attached; the service fetches, checks and uploads it:

- an image's ``url`` source is its URL, a ``base64`` source the ``data:`` URL an OpenAI client
  would send for the same bytes (so both faces reach the same conversation);
- a document's ``base64`` source (a PDF, or any type Qwen parses) and ``text`` source (plain
  text) become a file named by the block's ``title`` (with the extension its type implies when
  the title has none). ``url`` and ``content`` sources are refused, naming the field.

Each part carries the block's path (``messages.0.content.1``), so an error about its bytes
points at it.
"""

from __future__ import annotations

import base64
import mimetypes

from qwen_proxy.api.anthropic.fields import missing, one_of, opt_object, opt_str, problem, req_str
from qwen_proxy.messages import FilePart, ImagePart
from qwen_proxy.uploads import data_url

_IMAGE_SOURCES = ("base64", "url")
_DOCUMENT_SOURCES = ("base64", "text")
#: extensions for the document types clients send most (``mimetypes`` knows the rest)
_EXTENSIONS = {"application/pdf": ".pdf", "text/plain": ".txt", "text/markdown": ".md"}


def _source(block: dict[str, object], path: str) -> tuple[dict[str, object], object]:
    source = opt_object(block, "source", f"{path}.")
    if source is None:
        raise missing(f"{path}.source")
    kind = source.get("type")
    if kind is None:
        raise missing(f"{path}.source.type")
    return source, kind


def parse_image(block: dict[str, object], path: str) -> ImagePart:
    """An image block's source as an image URL (base64 data as a ``data:`` URL)."""
    source, kind = _source(block, path)
    if kind == "url":
        return ImagePart(url=req_str(source, "url", f"{path}.source."), param=path)
    if kind == "base64":
        media_type = req_str(source, "media_type", f"{path}.source.")
        data = req_str(source, "data", f"{path}.source.")
        return ImagePart(url=data_url(media_type, data), param=path)
    raise one_of(f"{path}.source.type", kind, _IMAGE_SOURCES)


def parse_document(block: dict[str, object], path: str) -> FilePart:
    """A document block as a file: its bytes as a ``data:`` URL, and a name."""
    source, kind = _source(block, path)
    title = (opt_str(block, "title", f"{path}.") or "").strip()
    if kind == "base64":
        media_type = req_str(source, "media_type", f"{path}.source.")
        data = req_str(source, "data", f"{path}.source.")
        return FilePart(data_url(media_type, data), _filename(title, media_type), param=path)
    if kind == "text":
        text = req_str(source, "data", f"{path}.source.")
        encoded = base64.b64encode(text.encode()).decode()
        return FilePart(data_url("text/plain", encoded), _filename(title, "text/plain"), path)
    if kind in ("url", "content"):
        raise problem(
            f"{path}.source.type",
            f"'{kind}' document sources are not supported by this gateway; send the document "
            "as 'base64' or 'text'",
        )
    raise one_of(f"{path}.source.type", kind, _DOCUMENT_SOURCES)


def _filename(title: str, media_type: str) -> str:
    """The document's title, with the extension of its type when it has none."""
    name = title or "document"
    if "." in name.rsplit("/", 1)[-1]:
        return name
    extension = _EXTENSIONS.get(media_type) or mimetypes.guess_extension(media_type) or ""
    return name + extension
