"""A client that leaves, or a whole reply that never ends, holds nothing: slot, socket, memory."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

import httpx
import orjson
import pytest

from gateway_support import gateway_settings, running_gateway
from hostile_support import MODEL, SSE_HEAD, Completion, HostileUpstream
from qwen_proxy.api import streaming

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHAT = "/v1/chat/completions"


def answer_event(text: str) -> bytes:
    delta = {"role": "assistant", "content": text, "phase": "answer", "status": "typing"}
    return b"data: " + orjson.dumps({"choices": [{"delta": delta}]}) + b"\n\n"


def endless_answer(gone: asyncio.Event, *, delay: float) -> Completion:
    """Answer text every ``delay`` seconds until the gateway hangs up (bounded: 30 s)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(SSE_HEAD)
        try:
            for _ in range(int(30 / max(delay, 0.001))):
                writer.write(answer_event("word " * 200))
                await writer.drain()
                if writer.is_closing() or reader.at_eof():
                    break
                await asyncio.sleep(delay)
        except (ConnectionError, OSError):
            pass
        gone.set()

    return answer


def raw_post(port: int, body: dict[str, object]) -> socket.socket:
    data = orjson.dumps(body)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"POST %s HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n" % (CHAT.encode(), len(data)) + data
    )
    return sock


async def test_a_whole_reply_whose_client_left_is_cut_upstream_and_frees_its_account(
    tmp_path: Path,
) -> None:
    gone = asyncio.Event()
    async with HostileUpstream(endless_answer(gone, delay=0.05)) as upstream:
        settings = gateway_settings(upstream.url, "token", tmp_path, retries=0)
        with running_gateway(settings) as gateway:
            body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
            sock = raw_post(gateway.port, body)
            await asyncio.sleep(0.5)
            sock.close()  # the client leaves while the whole reply is being collected
            await asyncio.wait_for(gone.wait(), timeout=5)
            for _ in range(100):
                if gateway.app.gateway.pool.snapshot()[0].in_flight == 0:
                    break
                await asyncio.sleep(0.02)
            assert gateway.app.gateway.pool.snapshot()[0].in_flight == 0


async def test_a_whole_reply_that_never_ends_is_capped(tmp_path: Path) -> None:
    gone = asyncio.Event()
    saved, streaming.MAX_WHOLE_REPLY_CHARS = streaming.MAX_WHOLE_REPLY_CHARS, 200_000
    try:
        async with HostileUpstream(endless_answer(gone, delay=0.001)) as upstream:
            settings = gateway_settings(upstream.url, "token", tmp_path, retries=0)
            with running_gateway(settings) as gateway:
                async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
                    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
                    response = await http.post(CHAT, json=body)
                await asyncio.wait_for(gone.wait(), timeout=5)
    finally:
        streaming.MAX_WHOLE_REPLY_CHARS = saved
    assert response.status_code == 502
    assert "ask for a stream" in response.json()["error"]["message"]


async def test_a_queued_request_whose_client_left_never_reaches_the_upstream(
    tmp_path: Path,
) -> None:
    gone = asyncio.Event()
    async with HostileUpstream(endless_answer(gone, delay=0.05)) as upstream:
        settings = gateway_settings(
            upstream.url, "token", tmp_path, retries=0, account_max_concurrent=1
        )
        with running_gateway(settings) as gateway:
            body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
            first = raw_post(gateway.port, body)  # holds the only slot
            await asyncio.sleep(0.3)
            second = raw_post(gateway.port, body)  # waits for the slot ...
            await asyncio.sleep(0.3)
            second.close()  # ... and its client leaves
            await asyncio.sleep(0.2)
            first.close()  # the slot is free again
            await asyncio.wait_for(gone.wait(), timeout=5)
            await asyncio.sleep(0.5)
            with contextlib.suppress(OSError):
                first.close()
    assert upstream.completions == 1
