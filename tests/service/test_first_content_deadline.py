"""An upstream that answers but never says anything cannot hold a client without a status line."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from gateway_support import gateway_settings, running_gateway
from hostile_support import MODEL, SSE_HEAD, Completion, HostileUpstream

pytestmark = pytest.mark.integration

EMPTY_EVENT = (
    b'data: {"choices": [{"delta": {"role": "assistant", "content": "", "phase": "answer", '
    b'"status": "typing"}}]}\n\n'
)


def forever(beat: bytes) -> Completion:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(SSE_HEAD)
        for _ in range(200):  # bounded: 20 s at most
            writer.write(beat)
            await writer.drain()
            await asyncio.sleep(0.1)

    return answer


@pytest.mark.parametrize(
    "beat", [b": keep-alive\n\n", EMPTY_EVENT], ids=["comments", "empty events"]
)
async def test_no_content_within_the_deadline_is_a_504_whatever_the_upstream_keeps_sending(
    tmp_path: Path, beat: bytes
) -> None:
    async with HostileUpstream(forever(beat)) as upstream:
        settings = gateway_settings(
            upstream.url, "token", tmp_path, first_content_timeout=1.0, retries=2
        )
        with running_gateway(settings) as gateway:
            async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
                body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
                started = time.monotonic()
                response = await http.post("/v1/chat/completions", json=body)
                waited = time.monotonic() - started
    assert response.status_code == 504, response.text
    assert "no content within 1 s" in response.json()["error"]["message"]
    assert waited < 5.0
