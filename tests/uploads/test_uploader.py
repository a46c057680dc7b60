"""One upload per account and bytes: the grant (v2, else v1), the signed PUT, reuse by digest,
two at a time per account, and documents read upstream before they are named."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from qwen_proxy.errors import InvalidRequest
from qwen_proxy.qwen.errors import UpstreamAuthFailed, UpstreamBadRequest, UpstreamTimeout
from qwen_proxy.qwen.files import STS_PATHS, ParseState, UploadGrant
from qwen_proxy.qwen.oss import StsKeys
from qwen_proxy.uploads.media import media
from qwen_proxy.uploads.uploader import Uploader

pytestmark = pytest.mark.unit

V2, V1 = STS_PATHS
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 60


@dataclass
class FakeStorage:
    """The grant routes, the storage and the parser, in memory."""

    #: grant routes that answer as missing
    missing: set[str] = field(default_factory=set)
    grants: list[str] = field(default_factory=list)
    puts: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    parse_states: list[ParseState] = field(default_factory=list)
    #: set to hold PUTs until released
    gate: asyncio.Event | None = None
    running: int = 0
    most_running: int = 0

    async def upload_grant(self, cred: Any, path: str, body: dict[str, Any]) -> UploadGrant:
        self.grants.append(path)
        if path in self.missing:
            raise UpstreamBadRequest("Qwen rejected the request (Not Found).")
        n = len(self.grants)
        return UploadGrant(
            keys=StsKeys(f"STS.{n}", "secret", "token"),
            bucket="bucket",
            endpoint="oss-x.aliyuncs.com",
            file_id=f"file-{n}",
            file_path=f"user/file-{n}_{body['filename']}",
            file_url=f"https://bucket.oss-x.aliyuncs.com/user/file-{n}?signed",
        )

    async def put_object(self, cred: Any, url: str, headers: dict[str, str], data: bytes) -> None:
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            self.puts.append((url, headers, data))
        finally:
            self.running -= 1

    async def parse_file(self, cred: Any, file_id: str) -> ParseState:
        return self.parse_states.pop(0) if self.parse_states else "done"

    async def parse_status(self, cred: Any, file_id: str) -> ParseState:
        return self.parse_states.pop(0) if self.parse_states else "done"


class Clock:
    """A clock that moves when told (and when the uploader sleeps)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def uploader(storage: FakeStorage, clock: Clock | None = None, **options: Any) -> Uploader:
    clock = clock or Clock()
    return Uploader(
        storage, clock=clock, wall_clock=lambda: 1_132_253_398, sleep=clock.sleep, **options
    )


def image(data: bytes = PNG, name: str = "cat.png") -> Any:
    return media("image", name, "image/png", data)


async def test_an_image_goes_up_as_a_signed_put_to_the_grants_object() -> None:
    storage = FakeStorage()
    done = await uploader(storage).upload("a", object(), image())
    ((url, headers, data),) = storage.puts
    assert url == "https://bucket.oss-x.aliyuncs.com/user/file-1_cat.png"
    assert headers["Authorization"].startswith("OSS STS.1:")
    assert headers["x-oss-security-token"] == "token"
    assert headers["Content-Type"] == "image/png"
    assert data == PNG
    assert (done.file_id, done.url, done.file_class) == (
        "file-1",
        "https://bucket.oss-x.aliyuncs.com/user/file-1?signed",
        "vision",
    )


async def test_the_configured_store_replaces_scheme_and_host() -> None:
    storage = FakeStorage()
    await uploader(storage, oss_url="http://127.0.0.1:9/oss").upload("a", object(), image())
    assert storage.puts[0][0] == "http://127.0.0.1:9/oss/bucket/user/file-1_cat.png"


async def test_without_the_v2_route_the_v1_route_grants_and_is_asked_first_next_time() -> None:
    storage = FakeStorage(missing={V2})
    up = uploader(storage)
    await up.upload("a", object(), image())
    await up.upload("a", object(), image(PNG + b"other"))
    assert storage.grants == [V2, V1, V1]


async def test_an_account_problem_is_not_taken_for_a_missing_route() -> None:
    class Expired(FakeStorage):
        async def upload_grant(self, cred: Any, path: str, body: dict[str, Any]) -> UploadGrant:
            self.grants.append(path)
            raise UpstreamAuthFailed()

    storage = Expired()
    with pytest.raises(UpstreamAuthFailed):
        await uploader(storage).upload("a", object(), image())
    assert storage.grants == [V2]


async def test_the_same_bytes_on_the_same_account_go_up_once_whatever_their_name() -> None:
    storage = FakeStorage()
    up = uploader(storage)
    first = await up.upload("a", object(), image(name="cat.png"))
    again = await up.upload("a", object(), image(name="same-cat.png"))
    assert len(storage.puts) == 1
    assert again.url == first.url
    assert again.name == "same-cat.png"


async def test_another_account_uploads_its_own_copy() -> None:
    storage = FakeStorage()
    up = uploader(storage)
    await up.upload("a", object(), image())
    await up.upload("b", object(), image())
    assert len(storage.puts) == 2


async def test_an_upload_whose_url_would_be_stale_goes_up_again() -> None:
    storage = FakeStorage()
    clock = Clock()
    up = uploader(storage, clock, reuse_seconds=240)
    await up.upload("a", object(), image())
    clock.now += 239
    await up.upload("a", object(), image())
    assert len(storage.puts) == 1
    clock.now += 2
    await up.upload("a", object(), image())
    assert len(storage.puts) == 2


async def test_requests_racing_with_the_same_bytes_share_one_upload() -> None:
    storage = FakeStorage(gate=asyncio.Event())
    up = uploader(storage)
    racing = [asyncio.create_task(up.upload("a", object(), image())) for _ in range(5)]
    await asyncio.sleep(0)
    assert storage.gate is not None
    storage.gate.set()
    done = await asyncio.gather(*racing)
    assert len(storage.puts) == 1
    assert len({d.file_id for d in done}) == 1


async def test_at_most_two_uploads_run_at_once_per_account() -> None:
    storage = FakeStorage(gate=asyncio.Event())
    up = uploader(storage)
    images = [image(PNG + bytes([n])) for n in range(6)]
    tasks = [asyncio.create_task(up.upload("a", object(), item)) for item in images]
    tasks.append(asyncio.create_task(up.upload("b", object(), images[0])))
    for _ in range(10):
        await asyncio.sleep(0)
    assert storage.running == 3  # two for account a, one for account b
    assert storage.gate is not None
    storage.gate.set()
    await asyncio.gather(*tasks)
    assert storage.most_running == 3
    assert len(storage.puts) == 7


async def test_a_document_is_read_upstream_before_it_is_named() -> None:
    storage = FakeStorage(parse_states=["pending", "pending", "done"])
    clock = Clock()
    done = await uploader(storage, clock, parse_interval=1.0).upload(
        "a", object(), media("document", "notes.txt", "text/plain", b"notes")
    )
    assert done.file_class == "document"
    assert storage.parse_states == []
    assert clock.now == 1003.0  # asked again after 1 s, then after 2 s


async def test_a_document_still_unread_at_the_deadline_fails_the_upload() -> None:
    storage = FakeStorage(parse_states=["pending"] * 100)
    with pytest.raises(UpstreamTimeout, match=r"within 5 s"):
        await uploader(storage, parse_deadline=5.0).upload(
            "a", object(), media("document", "big.pdf", "application/pdf", b"%PDF")
        )


async def test_a_document_the_upstream_cannot_read_is_the_clients_problem() -> None:
    storage = FakeStorage(parse_states=["failed"])
    with pytest.raises(InvalidRequest, match=r"could not read the attached document 'x\.pdf'"):
        await uploader(storage).upload(
            "a", object(), media("document", "x.pdf", "application/pdf", b"%PDF")
        )
