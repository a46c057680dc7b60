"""Documents into a chat through the official openai SDK: file parts uploaded, read upstream
(polled until the emulator has parsed them) and named in files[] as documents."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import openai
import pytest

from gateway_support import MODEL
from qwen_proxy.emulator.testing import EmulatorHandle
from uploads_support import sdk, uploading_gateway

pytestmark = pytest.mark.e2e

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
NOTES = b"Meeting notes.\nmy name is Ada.\nthe project is Lovelace.\n"


def file_part(data: bytes, media_type: str, filename: str) -> dict[str, Any]:
    encoded = base64.b64encode(data).decode()
    return {
        "type": "file",
        "file": {"file_data": f"data:{media_type};base64,{encoded}", "filename": filename},
    }


def ask(client: openai.OpenAI, text: str, *parts: dict[str, Any]) -> str:
    content = [{"type": "text", "text": text}, *parts]
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": content}],  # type: ignore[misc,list-item]
    )
    return reply.choices[0].message.content or ""


def test_a_document_is_uploaded_parsed_and_named_as_a_document(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    emulator_now.set_knobs(parse_delay=0.3)
    with uploading_gateway(emulator_now, tmp_path) as gateway:
        answer = ask(sdk(gateway), "what did i attach?", file_part(PDF, "application/pdf", "a.pdf"))
    digest = hashlib.sha256(PDF).hexdigest()[:12]
    assert answer == (
        f"Attachments: a.pdf (document, application/pdf, {len(PDF)} bytes, sha256 {digest})."
    )
    (sent,) = [r for r in emulator_now.requests("/chat/completions") if r.method == "POST"]
    (entry,) = sent.json["messages"][0]["files"]
    assert (entry["type"], entry["file_class"], entry["showType"]) == ("file", "document", "file")
    assert entry["file"]["filename"] == "a.pdf"
    assert sent.json["messages"][0]["chat_type"] == "t2t"
    assert len(emulator_now.requests("/files/parse/status")) >= 2  # polled while parsing


def test_the_model_reads_an_attached_text_file(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    with uploading_gateway(emulator_now, tmp_path) as gateway:
        answer = ask(sdk(gateway), "what is the project?", file_part(NOTES, "text/plain", "n.txt"))
    assert answer == "The project is Lovelace."


def test_documents_and_images_go_together_in_the_order_sent(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    )
    image = {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()},
    }
    with uploading_gateway(emulator_now, tmp_path) as gateway:
        answer = ask(
            sdk(gateway), "what did i attach?", file_part(NOTES, "text/plain", "n.txt"), image
        )
    assert answer.startswith("Attachments: image-")
    assert "; n.txt (document, text/plain," in answer
