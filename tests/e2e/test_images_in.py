"""Images into a chat through the official openai SDK: data: and https URLs, uploaded to the
emulator's storage and named in files[], proven by the model's report of the bytes it got."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest
import trustme

from gateway_support import MODEL
from qwen_proxy.emulator.testing import EmulatorHandle
from uploads_support import GIF, JPEG, PNG, data_url, sdk, short_digest, uploading_gateway

pytestmark = pytest.mark.e2e

ASK = {"type": "text", "text": "what did i attach?"}


def image_part(url: str, detail: str | None = None) -> dict[str, Any]:
    image: dict[str, Any] = {"url": url}
    if detail:
        image["detail"] = detail
    return {"type": "image_url", "image_url": image}


def reported(data: bytes, kind: str = "png", content_type: str = "image/png") -> str:
    """How the emulator's model describes one uploaded image."""
    digest = short_digest(data)
    return f"image-{digest}.{kind} (vision, {content_type}, {len(data)} bytes, sha256 {digest})"


def completions(emulator: EmulatorHandle) -> list[Any]:
    return [r for r in emulator.requests("/chat/completions") if r.method == "POST"]


def test_a_data_image_reaches_the_model_named_in_files_as_the_web_app_names_it(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    with uploading_gateway(emulator_now, tmp_path) as gateway:
        reply = sdk(gateway).chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": [ASK, image_part(data_url(PNG), "high")]}],
        )
    assert reply.choices[0].message.content == f"Attachments: {reported(PNG)}."
    (sent,) = completions(emulator_now)
    (message,) = sent.json["messages"]
    assert message["content"] == "what did i attach?"
    assert (message["chat_type"], message["sub_chat_type"]) == ("t2t", "t2t")
    (entry,) = message["files"]
    assert {k: entry[k] for k in ("type", "file_class", "showType", "status", "file_type")} == {
        "type": "image",
        "file_class": "vision",
        "showType": "image",
        "status": "uploaded",
        "file_type": "image/png",
    }
    assert entry["name"] == f"image-{short_digest(PNG)}.png"
    assert entry["url"].startswith(emulator_now.url + "/__files__/")


def test_several_formats_arrive_in_the_order_sent(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    parts = [ASK, image_part(data_url(GIF, "image/gif")), image_part(data_url(JPEG, "image/png"))]
    with uploading_gateway(emulator_now, tmp_path) as gateway:
        reply = sdk(gateway).chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": parts}],  # type: ignore[misc,list-item]
        )
    expected = "; ".join([reported(GIF, "gif", "image/gif"), reported(JPEG, "jpg", "image/jpeg")])
    assert reply.choices[0].message.content == f"Attachments: {expected}."


def test_a_continued_chat_uploads_and_sends_only_its_new_image(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    first: list[Any] = [{"role": "user", "content": [ASK, image_part(data_url(PNG))]}]
    with uploading_gateway(emulator_now, tmp_path) as gateway:
        client = sdk(gateway)
        answer = client.chat.completions.create(model=MODEL, messages=first)
        history = [
            *first,
            {"role": "assistant", "content": answer.choices[0].message.content},
            {"role": "user", "content": [ASK, image_part(data_url(GIF, "image/gif"))]},
        ]
        again = client.chat.completions.create(model=MODEL, messages=history)
    assert again.choices[0].message.content == f"Attachments: {reported(GIF, 'gif', 'image/gif')}."
    second = completions(emulator_now)[-1].json
    assert second["parent_id"] is not None  # the same chat, continued
    assert [f["name"] for f in second["messages"][0]["files"]] == [f"image-{short_digest(GIF)}.gif"]
    assert len(emulator_now.requests("getstsToken")) == 2


@pytest.mark.parametrize(
    ("content", "param", "code"),
    [
        (
            [ASK, image_part(data_url(b"BM" + bytes(40), "image/bmp"))],
            "messages[0].content[1].image_url",
            "invalid_image_format",
        ),
        (
            [ASK, *(image_part(data_url(PNG + bytes([n]))) for n in range(11))],
            "messages[0].content[11].image_url",
            "too_many_images",
        ),
        (
            [ASK, image_part("http://127.0.0.1:9/cat.png")],
            "messages[0].content[1].image_url",
            "invalid_image_url",
        ),
        (
            [ASK, image_part("http://169.254.169.254/latest/meta-data/")],
            "messages[0].content[1].image_url",
            "invalid_image_url",
        ),
    ],
    ids=["bmp", "eleven-images", "loopback-url", "metadata-url"],
)
def test_an_image_the_gateway_cannot_send_is_a_400_naming_its_part(
    emulator_now: EmulatorHandle,
    tmp_path: Path,
    content: list[dict[str, Any]],
    param: str,
    code: str,
) -> None:
    with (
        uploading_gateway(emulator_now, tmp_path) as gateway,
        pytest.raises(openai.BadRequestError) as caught,
    ):
        sdk(gateway).chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": content}],  # type: ignore[misc,list-item]
        )
    body = caught.value.body
    assert isinstance(body, dict)
    assert (body["param"], body["code"]) == (param, code)
    assert param in body["message"]
    assert completions(emulator_now) == []


@pytest.fixture
def https_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An https server on this machine serving the PNG, trusted through SSL_CERT_FILE."""
    authority = trustme.CA()
    cert = authority.issue_cert("localhost")
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))

    class Images(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Images)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://localhost:{server.server_address[1]}/cat.png"
    server.shutdown()
    server.server_close()


def test_an_https_image_is_fetched_by_the_gateway_and_arrives_byte_exact(
    emulator_now: EmulatorHandle, tmp_path: Path, https_image: str
) -> None:
    # this machine's image server is on loopback: the operator allows private addresses
    with uploading_gateway(emulator_now, tmp_path, fetch_private=True) as gateway:
        reply = sdk(gateway).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": [ASK, image_part(https_image)]}]
        )
    assert reply.choices[0].message.content == f"Attachments: {reported(PNG)}."
