"""Putting a file into Qwen's storage for one account: grant, signed PUT, parse, and reuse.

One ``Uploader`` serves every face and every request. For each (account, bytes) it uploads
once: a later request with the same bytes on the same account reuses the upload while its URL
is still fresh, whatever the client called the file, and requests racing with the same bytes
share one upload. The bytes decide reuse (their sha256), never a URL: the storage's URLs are
signed and die within minutes. At most ``per_account`` uploads run at once per account (the web
app uploads two at a time).

The grant comes from the v2 route, or the v1 route when v2 does not give one (an account on an
older deployment); the route that worked is tried first next time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from qwen_proxy.errors import InvalidRequest
from qwen_proxy.qwen.errors import (
    ParentNotFound,
    UpstreamBadRequest,
    UpstreamMalformed,
    UpstreamServerError,
    UpstreamTimeout,
)
from qwen_proxy.qwen.files import (
    STS_PATHS,
    ParseState,
    UploadedFile,
    UploadGrant,
    sts_body,
)
from qwen_proxy.qwen.oss import object_url, signed_put_headers
from qwen_proxy.uploads.media import Media

log = logging.getLogger("qwen_proxy.uploads")

#: how long an upload is reused: under the ~300 s its presigned URL lives
REUSE_SECONDS = 240.0
PER_ACCOUNT = 2
#: the longest wait between two questions about a document's parsing
MAX_PARSE_INTERVAL = 2.0
#: uploads remembered (a few hundred bytes each)
MAX_REMEMBERED = 2048
#: answers of a grant route that mean "not this route": the next one is tried
ROUTE_PROBLEMS = (UpstreamBadRequest, UpstreamMalformed, ParentNotFound, UpstreamServerError)

Sleep = Callable[[float], Awaitable[None]]


class UploadClient(Protocol):
    """The upstream calls an upload makes (``qwen.client.QwenClient`` has them)."""

    async def upload_grant(self, cred: Any, path: str, body: dict[str, Any]) -> UploadGrant:
        """An upload slot from one grant route."""
        ...

    async def put_object(self, cred: Any, url: str, headers: dict[str, str], data: bytes) -> None:
        """PUT the bytes to the storage."""
        ...

    async def parse_file(self, cred: Any, file_id: str) -> ParseState:
        """Start parsing an uploaded document."""
        ...

    async def parse_status(self, cred: Any, file_id: str) -> ParseState:
        """Where the parsing stands."""
        ...


class Uploader:
    """Uploads files per account, reusing and sharing uploads (module docstring)."""

    def __init__(
        self,
        client: UploadClient,
        *,
        oss_url: str | None = None,
        reuse_seconds: float = REUSE_SECONDS,
        per_account: int = PER_ACCOUNT,
        parse_deadline: float = 60.0,
        parse_interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._client = client
        self._oss_url = oss_url
        self._reuse = reuse_seconds
        self._per_account = per_account
        self._parse_deadline = parse_deadline
        self._parse_interval = parse_interval
        self._clock = clock
        self._wall = wall_clock
        self._sleep = sleep
        self._done: OrderedDict[tuple[str, str, str], tuple[float, UploadedFile]] = OrderedDict()
        self._running: dict[tuple[str, str, str], asyncio.Task[UploadedFile]] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._first_route = 0
        #: uploads actually sent (reused and shared ones not counted)
        self.uploads = 0

    async def upload(self, account: str, cred: Any, item: Media) -> UploadedFile:
        """The uploaded file for ``item`` on ``account``: reused, shared, or uploaded now."""
        key = (account, item.kind, item.digest)
        remembered = self._done.get(key)
        if remembered is not None and self._clock() - remembered[0] < self._reuse:
            self._done.move_to_end(key)
            return dataclasses.replace(remembered[1], name=item.name)
        task = self._running.get(key)
        if task is None:
            task = asyncio.create_task(self._upload(account, cred, item))
            self._running[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        # the upload goes on for the others when this request is cancelled
        uploaded = await asyncio.shield(task)
        return dataclasses.replace(uploaded, name=item.name)

    async def _upload(self, account: str, cred: Any, item: Media) -> UploadedFile:
        slots = self._slots.setdefault(account, asyncio.Semaphore(self._per_account))
        async with slots:
            grant = await self._grant(cred, item)
            url = object_url(
                bucket=grant.bucket,
                endpoint=grant.endpoint,
                key=grant.file_path,
                oss_url=self._oss_url,
            )
            headers = signed_put_headers(
                grant.keys,
                bucket=grant.bucket,
                key=grant.file_path,
                content_type=item.content_type,
                data=item.data,
                now=self._wall(),
            )
            await self._client.put_object(cred, url, headers, item.data)
            self.uploads += 1
            uploaded = UploadedFile(
                file_id=grant.file_id,
                url=grant.file_url,
                name=item.name,
                size=item.size,
                content_type=item.content_type,
                file_class="vision" if item.kind == "image" else "document",
            )
            if item.kind == "document":
                await self._parse(cred, uploaded)
        self._remember((account, item.kind, item.digest), uploaded)
        return uploaded

    async def _grant(self, cred: Any, item: Media) -> UploadGrant:
        """A grant from the route that worked last, else the other one."""
        body = sts_body(item.name, item.size, item.content_type)
        order = [*STS_PATHS[self._first_route :], *STS_PATHS[: self._first_route]]
        failure: Exception | None = None
        for path in order:
            try:
                grant = await self._client.upload_grant(cred, path, body)
            except ROUTE_PROBLEMS as problem:
                log.info(
                    "upload grant route %s gave none (%s); trying the next", path, problem.code
                )
                failure = problem
                continue
            self._first_route = STS_PATHS.index(path)
            return grant
        assert failure is not None
        raise failure

    async def _parse(self, cred: Any, file: UploadedFile) -> None:
        """Have the upstream read a document, polling (at growing intervals, up to
        ``MAX_PARSE_INTERVAL``) until ``parse_deadline``."""
        started = self._clock()
        interval = self._parse_interval
        state = await self._client.parse_file(cred, file.file_id)
        while state == "pending":
            if self._clock() - started >= self._parse_deadline:
                raise UpstreamTimeout(
                    f"Qwen did not finish reading the document '{file.name}' within "
                    f"{self._parse_deadline:g} s."
                )
            await self._sleep(interval)
            interval = min(interval * 2, MAX_PARSE_INTERVAL)
            state = await self._client.parse_status(cred, file.file_id)
        if state == "failed":
            raise InvalidRequest(
                f"Qwen could not read the attached document '{file.name}'.",
                code="document_unreadable",
            )

    def _finished(self, key: tuple[str, str, str], task: asyncio.Task[UploadedFile]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled():
            task.exception()  # retrieved here: its waiters may all have gone

    def _remember(self, key: tuple[str, str, str], uploaded: UploadedFile) -> None:
        self._done[key] = (self._clock(), uploaded)
        self._done.move_to_end(key)
        while len(self._done) > MAX_REMEMBERED:
            self._done.popitem(last=False)
