"""What a client attached, checked: data: URLs, image formats by their bytes, the limits, and
which addresses a URL may be fetched from; every refusal names the part."""

from __future__ import annotations

import base64

import pytest

from qwen_proxy.errors import InvalidRequest
from qwen_proxy.messages import ChatMessage, FilePart, ImagePart
from qwen_proxy.uploads import Attacher, RemoteFetcher, Uploader
from qwen_proxy.uploads.addresses import address_allowed, ip_literal
from qwen_proxy.uploads.media import (
    MAX_IMAGE_BYTES,
    data_url,
    decode_data_url,
    document_media,
    image_media,
    sniff_image,
)

pytestmark = pytest.mark.unit

PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)
PARAM = "messages[0].content[1].image_url"


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0" + bytes(8), "image/jpeg"),
        (b"GIF89a" + bytes(8), "image/gif"),
        (b"GIF87a" + bytes(8), "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"BM" + bytes(30), None),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
    ],
    ids=["png", "jpeg", "gif89", "gif87", "webp", "bmp", "svg", "wav"],
)
def test_an_image_is_told_by_its_first_bytes(data: bytes, kind: str | None) -> None:
    assert sniff_image(data) == kind


def test_an_image_is_named_by_its_digest_and_typed_by_its_bytes_not_its_label() -> None:
    declared = "data:image/jpeg;base64," + base64.b64encode(PNG).decode()
    _, data = decode_data_url(declared, PARAM, MAX_IMAGE_BYTES)
    item = image_media(data, PARAM)
    assert item.content_type == "image/png"
    assert item.name == f"image-{item.digest[:12]}.png"
    assert item.data == PNG


def assert_refused(error: pytest.ExceptionInfo[InvalidRequest], code: str) -> None:
    assert (error.value.status, error.value.param, error.value.code) == (400, PARAM, code)
    assert PARAM in error.value.message


def test_an_image_in_another_format_is_refused_naming_the_part() -> None:
    with pytest.raises(InvalidRequest) as caught:
        image_media(b"BM" + bytes(30), PARAM)
    assert_refused(caught, "invalid_image_format")
    assert "PNG, JPEG, WebP or GIF" in caught.value.message


def test_an_image_over_ten_megabytes_is_refused_before_it_is_decoded() -> None:
    big = "data:image/png;base64," + "A" * (MAX_IMAGE_BYTES // 3 * 4 + 8)
    with pytest.raises(InvalidRequest) as caught:
        decode_data_url(big, PARAM, MAX_IMAGE_BYTES)
    assert_refused(caught, "file_too_large")
    assert "10 MB" in caught.value.message
    with pytest.raises(InvalidRequest) as caught:
        image_media(PNG + bytes(MAX_IMAGE_BYTES), PARAM)
    assert_refused(caught, "file_too_large")


@pytest.mark.parametrize(
    "url", ["data:image/png;base64,%%%notbase64", "data:image/png;base64", "https://x/a.png"]
)
def test_a_broken_data_url_is_refused_naming_the_part(url: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        decode_data_url(url, PARAM, MAX_IMAGE_BYTES)
    assert_refused(caught, "invalid_value")


def test_a_data_url_with_line_breaks_in_its_base64_still_decodes() -> None:
    encoded = base64.encodebytes(PNG * 10).decode()  # wrapped every 76 characters
    assert decode_data_url(f"data:image/png;base64,{encoded}", PARAM, 10_000)[1] == PNG * 10


def test_a_document_keeps_its_name_and_declared_type_or_the_one_its_name_says() -> None:
    pdf = document_media(data_url("application/pdf", "JVBERi0="), "report.pdf", "p")
    assert (pdf.name, pdf.content_type, pdf.data) == ("report.pdf", "application/pdf", b"%PDF-")
    guessed = document_media(data_url("application/octet-stream", "aGk="), "a/b.txt", "p")
    assert (guessed.name, guessed.content_type) == ("a_b.txt", "text/plain")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "10.1.2.3",
        "172.16.0.5",
        "192.168.1.1",
        "169.254.169.254",
        "100.100.100.200",
        "fd00:ec2::254",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "not-an-address",
    ],
)
def test_private_loopback_link_local_and_metadata_addresses_are_not_fetched(address: str) -> None:
    assert not address_allowed(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "47.88.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_fetched(address: str) -> None:
    assert address_allowed(address)


def test_ip_literals_are_told_from_names() -> None:
    assert ip_literal("[::1]") == "::1"
    assert ip_literal("169.254.169.254") == "169.254.169.254"
    assert ip_literal("images.example.com") is None


class NoUploads:
    """An uploader nobody should reach in these tests."""


def attacher() -> Attacher:
    fetcher = RemoteFetcher(timeout=1.0, max_bytes=MAX_IMAGE_BYTES)
    return Attacher(Uploader(NoUploads()), fetcher)  # type: ignore[arg-type]


def images(n: int, first: int = 0) -> ChatMessage:
    parts = tuple(
        ImagePart(
            data_url("image/png", base64.b64encode(PNG + bytes([i])).decode()),
            param=f"messages[0].content[{i}].image_url",
        )
        for i in range(first, first + n)
    )
    return ChatMessage("user", "look", images=parts)


async def test_more_than_ten_images_in_one_message_are_refused_naming_the_eleventh() -> None:
    with pytest.raises(InvalidRequest) as caught:
        await attacher().load([images(11)], {})
    assert caught.value.param == "messages[0].content[10].image_url"
    assert caught.value.code == "too_many_images"


async def test_a_folded_history_with_more_than_ten_images_attaches_the_newest_ten() -> None:
    history = [images(6), ChatMessage("assistant", "seen"), images(6, first=6)]
    loaded = await attacher().load(history, {}, trim=True)
    assert len(loaded) == 10
    assert loaded[0].data == PNG + bytes([2])
    with pytest.raises(InvalidRequest) as caught:
        await attacher().load(history, {})  # new messages of a continued chat: all are sent
    assert caught.value.param == "messages[0].content[10].image_url"


async def test_a_newest_message_with_more_than_ten_images_is_refused_even_when_folded() -> None:
    with pytest.raises(InvalidRequest) as caught:
        await attacher().load(
            [images(2), ChatMessage("assistant", "ok"), images(11)], {}, trim=True
        )
    assert caught.value.param == "messages[0].content[10].image_url"


async def test_documents_come_after_the_images_of_their_message_in_order() -> None:
    message = ChatMessage(
        "user",
        "read",
        images=images(1).images,
        files=(FilePart(data_url("text/plain", "aGk="), "a.txt", "messages[0].content[2].file"),),
    )
    loaded = await attacher().load([message], {})
    assert [item.kind for item in loaded] == ["image", "document"]
