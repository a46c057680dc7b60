"""Images out: one generated (or edited) image per upstream image turn, on any healthy account.

An image turn is a new chat of type ``t2i`` (or ``image_edit``, with the source image uploaded
and named in ``files[]``) whose one message is the prompt and whose ``size`` is the ratio
asked; the image comes back as a URL. ``n`` images are ``n`` turns, one after the other.

The daily image quota is its own: an account that used it up rests for image turns only (its
chats go on), for as long as the upstream says; when every account's quota is used up the
client gets a 429 with ``Retry-After``.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from qwen_proxy.accounts import AccountPool, Credentials, Lease, NoAccountAvailable, Outcome
from qwen_proxy.config import Settings
from qwen_proxy.errors import RateLimited
from qwen_proxy.qwen.errors import EmptyReply, UpstreamError, UpstreamRateLimited
from qwen_proxy.qwen.events import GeneratedImage, StreamFailed
from qwen_proxy.qwen.payloads import completion_body
from qwen_proxy.service.models import ModelCatalog, UpstreamModel
from qwen_proxy.service.outcomes import outcome_for, rules_out_account
from qwen_proxy.service.upstream import ReplyStream
from qwen_proxy.uploads import Attacher, Media

#: the largest generated image downloaded for ``b64_json``
MAX_IMAGE_DOWNLOAD = 32 * 1024 * 1024


class ImageUpstream(Protocol):
    """The upstream calls an image turn makes (``qwen.client.QwenClient`` has them)."""

    async def create_chat(self, cred: Credentials, model: str, *, chat_type: str) -> str:
        """Open a new chat."""
        ...

    async def open_completion(
        self, cred: Credentials, chat_id: str, body: dict[str, Any]
    ) -> ReplyStream:
        """Post the turn and return its stream."""
        ...

    async def download(
        self, url: str, *, proxy: str | None = None, limit: int = ...
    ) -> tuple[str, bytes]:
        """Fetch a file the upstream serves."""
        ...


@dataclass(frozen=True, slots=True)
class ImageJob:
    """What a client asked for, face-neutral."""

    prompt: str
    #: the client's model name (None, or an OpenAI image model's: the default image model)
    model: str | None
    n: int
    #: one of ``qwen.images.RATIOS``
    ratio: str
    #: the image to edit (an ``image_edit`` turn), None to generate
    source: Media | None = None
    #: download each image (the client wants its bytes, not a URL)
    download: bool = False


@dataclass(frozen=True, slots=True)
class MadeImage:
    """One image: the upstream's URL (its ``key`` query kept), and its bytes when asked."""

    url: str
    data: bytes | None = None

    @property
    def b64(self) -> str:
        """The bytes in base64."""
        return base64.b64encode(self.data or b"").decode("ascii")


class ImageService:
    """Runs image turns over the account pool (module docstring)."""

    def __init__(
        self,
        settings: Settings,
        client: ImageUpstream,
        catalog: ModelCatalog,
        pool: AccountPool,
        attacher: Attacher,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.client = client
        self.catalog = catalog
        self.pool = pool
        self.attacher = attacher
        self.clock = clock

    async def make(self, job: ImageJob) -> list[MadeImage]:
        """The ``n`` images of ``job``, made one after the other."""
        chat_type = "image_edit" if job.source is not None else "t2i"
        model = await self.catalog.image_model(job.model, chat_type)
        return [await self._one(job, model, chat_type) for _ in range(job.n)]

    async def _one(self, job: ImageJob, model: UpstreamModel, chat_type: str) -> MadeImage:
        """One image, from the first account that can make it."""
        excluded: set[str] = set()
        failures = 0
        last: UpstreamError | None = None
        # image turns rest apart from chats: a used-up image quota leaves the chats alone
        key = f"{model.id}#{chat_type}"
        while True:
            try:
                lease = await self.pool.acquire(key, exclude=excluded)
            except NoAccountAvailable as none:
                raise _no_account(none, last) from None
            try:
                made = await self._attempt(job, model, chat_type, lease)
            except UpstreamError as error:
                await lease.release(outcome_for(error))
                last = error
                if isinstance(error, UpstreamRateLimited) or rules_out_account(error):
                    excluded.add(lease.name)
                    continue
                failures += 1
                if not error.retryable or failures > self.settings.retries:
                    raise
                continue
            except BaseException:
                await lease.release(Outcome.abandoned())
                raise
            await lease.release(Outcome.ok())
            return made

    async def _attempt(
        self, job: ImageJob, model: UpstreamModel, chat_type: str, lease: Lease
    ) -> MadeImage:
        """One image turn on one account: upload the source, post the prompt, read the URL."""
        cred = lease.credentials
        files = []
        if job.source is not None:
            files = await self.attacher.entries(lease.name, cred, [job.source])
        chat_id = await self.client.create_chat(cred, model.id, chat_type=chat_type)
        body = completion_body(
            chat_id=chat_id,
            model=model.id,
            parent_id=None,
            content=job.prompt,
            fid=str(uuid.uuid4()),
            child_id=str(uuid.uuid4()),
            now_s=int(self.clock()),
            chat_type=chat_type,
            files=files,
            size=job.ratio,
        )
        stream = await self.client.open_completion(cred, chat_id, body)
        try:
            url = await _image_url(stream)
        finally:
            stream.close()
        if not job.download:
            return MadeImage(url)
        _, data = await self.client.download(url, proxy=cred.proxy, limit=MAX_IMAGE_DOWNLOAD)
        return MadeImage(url, data)


async def _image_url(stream: ReplyStream) -> str:
    """The first image the turn made (the stream is read to its end)."""
    urls: list[str] = []
    while (batch := await stream.next_batch()) is not None:
        for event in batch:
            if isinstance(event, GeneratedImage):
                urls.append(event.url)
            elif isinstance(event, StreamFailed):
                raise event.error
    if not urls:
        error = stream.parser.eof_error()
        raise error or EmptyReply("Qwen finished the image turn without an image.")
    return urls[0]


def _no_account(none: NoAccountAvailable, last: UpstreamError | None) -> Exception:
    """What the client gets when no account is left to try: the quota's 429 when that is why."""
    if isinstance(last, UpstreamRateLimited) or (last is None and none.retry_after is not None):
        wait = last.retry_after if last is not None else None
        return RateLimited(
            "The daily image quota of every Qwen account is used up. Retry later, or add "
            "another account.",
            retry_after=wait if wait is not None else none.retry_after,
            code="image_quota_exceeded",
        )
    return last if last is not None else none
