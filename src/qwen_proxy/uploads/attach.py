"""The attachment path every face shares: a request's images and documents, from the parts the
client sent to the ``files[]`` entries of the upstream message.

Faces only describe what was attached (``messages.ImagePart``/``FilePart``, with the part's
``param``); ``Attacher.load`` turns the parts of the messages a turn sends into checked
``Media`` (decoding ``data:`` URLs, fetching http(s) URLs safely), and ``Attacher.entries``
uploads them for the account the turn runs on (reusing earlier uploads) and returns the entries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from qwen_proxy.errors import InvalidRequest
from qwen_proxy.messages import ChatMessage, FilePart, ImagePart
from qwen_proxy.qwen.files import file_entry
from qwen_proxy.uploads.fetch import RemoteFetcher
from qwen_proxy.uploads.media import (
    MAX_IMAGE_BYTES,
    MAX_IMAGES,
    Media,
    decode_data_url,
    document_media,
    image_media,
)
from qwen_proxy.uploads.uploader import Uploader

#: media already loaded for one request, by the part they came from
Loaded = dict[ImagePart | FilePart, Media]


class Attacher:
    """Loads attachments and uploads them for an account (module docstring)."""

    def __init__(self, uploader: Uploader, fetcher: RemoteFetcher) -> None:
        self.uploader = uploader
        self.fetcher = fetcher

    async def load(
        self, messages: Sequence[ChatMessage], loaded: Loaded, *, trim: bool = False
    ) -> list[Media]:
        """The media of ``messages`` in order (``loaded`` keeps what one request has loaded).

        More than ``MAX_IMAGES`` images is a 400 naming the first one over; with ``trim`` (a
        whole history folded into a new chat) only the newest message is held to the limit, and
        of the history's images the newest ``MAX_IMAGES`` are attached.
        """
        images = [image for m in messages for image in m.images]
        newest = messages[-1].images if messages else ()
        if len(newest) > MAX_IMAGES or (len(images) > MAX_IMAGES and not trim):
            over = newest[MAX_IMAGES] if len(newest) > MAX_IMAGES else images[MAX_IMAGES]
            raise too_many_images(over, len(newest) if len(newest) > MAX_IMAGES else len(images))
        kept = set(images[-MAX_IMAGES:])
        found: list[Media] = []
        for message in messages:
            for image in message.images:
                if image in kept:
                    found.append(await self._image(image, loaded))
            for part in message.files:
                found.append(self._document(part, loaded))
        return found

    async def _image(self, part: ImagePart, loaded: Loaded) -> Media:
        item = loaded.get(part)
        if item is None:
            param = part.param or "messages"
            if part.url.startswith("data:"):
                _, data = decode_data_url(part.url, param, MAX_IMAGE_BYTES)
            else:
                data = await self.fetcher.fetch_image(part.url, param)
            item = loaded[part] = image_media(data, param)
        return item

    def _document(self, part: FilePart, loaded: Loaded) -> Media:
        item = loaded.get(part)
        if item is None:
            item = document_media(part.data_url, part.filename, part.param or "messages")
            loaded[part] = item
        return item

    async def entries(
        self, account: str, credentials: Any, items: Sequence[Media]
    ) -> list[dict[str, Any]]:
        """Upload ``items`` for ``account`` (at most two at a time) and return their entries."""
        uploads = [self.uploader.upload(account, credentials, item) for item in items]
        return [file_entry(done) for done in await asyncio.gather(*uploads)]


def too_many_images(over: ImagePart, count: int) -> InvalidRequest:
    """The 400 for ``count`` images in one message, naming the first one over the limit."""
    param = over.param or "messages"
    return InvalidRequest(
        f"Invalid '{param}': at most {MAX_IMAGES} images can be sent in one message; "
        f"this one has {count}.",
        param=param,
        code="too_many_images",
    )
