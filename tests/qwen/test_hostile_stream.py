"""A hostile upstream cannot grow the gateway's memory or stall other clients with its stream."""

from __future__ import annotations

import asyncio
import time
import zlib
from pathlib import Path

import httpx
import pytest

from gateway_support import gateway_settings, running_gateway
from hostile_support import MODEL, SSE_HEAD, HostileUpstream, rss_bytes
from qwen_proxy.qwen.sse import MAX_LINE_BYTES

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: how much the hostile line would be without a bound (16 times the line limit)
ENDLESS = 16 * MAX_LINE_BYTES
CHUNK = b"a" * 65536


async def endless_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(SSE_HEAD + b"data: ")
    sent = 0
    while sent < ENDLESS:
        writer.write(CHUNK)
        await writer.drain()
        sent += len(CHUNK)
    await reader.read()


async def test_an_endless_sse_line_fails_the_reply_with_bounded_memory(tmp_path: Path) -> None:
    async with HostileUpstream(endless_line) as upstream:
        settings = gateway_settings(upstream.url, "token", tmp_path, retries=0)
        with running_gateway(settings) as gateway:
            async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as http:
                body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
                before = rss_bytes()
                reply = asyncio.ensure_future(http.post("/v1/chat/completions", json=body))
                # while it reads the hostile line, the gateway keeps answering others at once
                started = time.monotonic()
                health = await http.get("/health")
                assert health.status_code == 200
                assert time.monotonic() - started < 2.0
                response = await reply
                grown = rss_bytes() - before
            next_one = await asyncio.to_thread(httpx.get, gateway.url + "/health", timeout=10)
    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "upstream_malformed"
    assert "longer than" in response.json()["error"]["message"]
    # the line is dropped at the limit: far less than the 64 MiB the upstream sent
    assert grown < 4 * MAX_LINE_BYTES, f"RSS grew {grown / 2**20:.1f} MiB"
    assert next_one.status_code == 200


def newline_bomb(megabytes: int) -> bytes:
    """A gzip body that inflates to ``megabytes`` MiB of empty lines (about 200 KiB sent)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\n" * (1 << 20)
    return b"".join(packer.compress(block) for _ in range(megabytes)) + packer.flush()


BOMB = newline_bomb(256)


async def gzip_bomb(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\n"
        b"content-length: %d\r\n\r\n" % len(BOMB)
    )
    writer.write(BOMB)
    await writer.drain()
    await reader.read()


async def test_a_compression_bomb_is_stopped_with_bounded_memory_and_no_stall(
    tmp_path: Path,
) -> None:
    async with HostileUpstream(gzip_bomb) as upstream:
        settings = gateway_settings(upstream.url, "token", tmp_path, retries=0)
        with running_gateway(settings) as gateway:
            async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as http:
                body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
                before = rss_bytes()
                reply = asyncio.ensure_future(http.post("/v1/chat/completions", json=body))
                slowest = 0.0
                while not reply.done():
                    started = time.monotonic()
                    assert (await http.get("/health")).status_code == 200
                    slowest = max(slowest, time.monotonic() - started)
                    await asyncio.sleep(0.05)
                response = await reply
                grown = rss_bytes() - before
    assert response.status_code == 502, response.text
    assert "decodes to more than" in response.json()["error"]["message"]
    assert grown < 48 << 20, f"RSS grew {grown / 2**20:.1f} MiB"
    assert slowest < 2.0, f"/health took {slowest:.2f} s during the bomb"
