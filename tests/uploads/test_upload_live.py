"""Uploads over real sockets to the emulator's grant routes and object store, which checks the
signature and the security token of every PUT on its own (it shares no code with the gateway)."""

from __future__ import annotations

import hashlib
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qwen_proxy.accounts import Credentials
from qwen_proxy.config import Settings
from qwen_proxy.emulator.testing import EmulatorHandle
from qwen_proxy.qwen.client import QwenClient
from qwen_proxy.qwen.errors import UploadRejected
from qwen_proxy.qwen.files import STS_PATHS, sts_body
from qwen_proxy.qwen.oss import StsKeys, object_url, signed_put_headers
from qwen_proxy.uploads.media import media
from qwen_proxy.uploads.uploader import Uploader

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def credentials_of(emulator: EmulatorHandle) -> Credentials:
    """The emulator's sample account as the gateway holds it (its browser session, today)."""
    (account,) = emulator.accounts
    return Credentials(
        name="main",
        token=account.token,
        cookies=account.cookies or None,
        bx_ua=account.bx_ua or None,
        bx_umidtoken=account.bx_umidtoken or None,
        bx_v=account.bx_v or None,
    )


@pytest.fixture
async def client(emulator_now: EmulatorHandle, tmp_path: Path) -> AsyncIterator[QwenClient]:
    qwen = QwenClient(Settings(upstream_url=emulator_now.url, data_dir=tmp_path))
    yield qwen
    await qwen.close()


def fetched(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return bytes(answer.read())


async def test_an_image_arrives_byte_exact_through_the_signed_put(
    emulator_now: EmulatorHandle, client: QwenClient
) -> None:
    uploader = Uploader(client, oss_url=emulator_now.url + "/oss")
    done = await uploader.upload(
        "main", credentials_of(emulator_now), media("image", "cat.png", "image/png", PNG)
    )
    assert fetched(done.url) == PNG
    (grant,) = emulator_now.requests("getstsToken")
    assert grant.path == STS_PATHS[0]
    assert grant.json == sts_body("cat.png", len(PNG), "image/png")
    assert grant.headers["bx-ua"]  # a write call: the browser's values go along
    (put,) = [r for r in emulator_now.requests("/oss/") if r.method == "PUT"]
    assert put.headers["authorization"] == "<redacted>"
    assert put.headers["x-oss-security-token"]
    assert put.cookie_names == []  # the chat host's cookies stay with the chat host


async def test_without_the_v2_route_the_v1_grant_serves(
    emulator_now: EmulatorHandle, client: QwenClient
) -> None:
    emulator_now.set_knobs(sts_v2=False)
    uploader = Uploader(client, oss_url=emulator_now.url + "/oss")
    done = await uploader.upload(
        "main", credentials_of(emulator_now), media("image", "cat.png", "image/png", PNG)
    )
    assert fetched(done.url) == PNG
    assert [r.path for r in emulator_now.requests("getstsToken")] == list(STS_PATHS)


@pytest.mark.parametrize(
    ("secret", "token", "code"),
    [
        (None, "another-token", "InvalidSecurityToken"),
        ("another-secret", None, "SignatureDoesNotMatch"),
    ],
)
async def test_the_store_refuses_a_put_signed_with_other_keys(
    emulator_now: EmulatorHandle,
    client: QwenClient,
    secret: str | None,
    token: str | None,
    code: str,
) -> None:
    cred = credentials_of(emulator_now)
    grant = await client.upload_grant(cred, STS_PATHS[0], sts_body("a.png", len(PNG), "image/png"))
    keys = StsKeys(
        grant.keys.access_key_id,
        secret or grant.keys.access_key_secret,
        token or grant.keys.security_token,
    )
    url = object_url(
        bucket=grant.bucket,
        endpoint=grant.endpoint,
        key=grant.file_path,
        oss_url=emulator_now.url + "/oss",
    )
    headers = signed_put_headers(
        keys,
        bucket=grant.bucket,
        key=grant.file_path,
        content_type="image/png",
        data=PNG,
        now=time.time(),
    )
    with pytest.raises(UploadRejected, match=code):
        await client.put_object(cred, url, headers, PNG)


async def test_a_put_to_the_presigned_read_url_is_refused(
    emulator_now: EmulatorHandle, client: QwenClient
) -> None:
    cred = credentials_of(emulator_now)
    grant = await client.upload_grant(cred, STS_PATHS[0], sts_body("a.png", len(PNG), "image/png"))
    with pytest.raises(UploadRejected, match="SignatureDoesNotMatch"):
        await client.put_object(cred, grant.file_url, {"Content-Type": "image/png"}, PNG)


async def test_a_document_is_read_after_the_parse_delay(
    emulator_now: EmulatorHandle, client: QwenClient
) -> None:
    emulator_now.set_knobs(parse_delay=0.3)
    uploader = Uploader(client, oss_url=emulator_now.url + "/oss", parse_interval=0.05)
    text = b"my name is Ada.\n"
    done = await uploader.upload(
        "main", credentials_of(emulator_now), media("document", "notes.txt", "text/plain", text)
    )
    assert done.file_class == "document"
    statuses = emulator_now.requests("/parse/status")
    assert len(statuses) >= 2  # polled while it was still parsing
    assert hashlib.sha256(fetched(done.url)).hexdigest() == hashlib.sha256(text).hexdigest()
