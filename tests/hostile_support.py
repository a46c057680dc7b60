"""Helpers (no tests): a hostile or broken upstream that looks like chat.qwen.ai until the reply.

It answers the model list and new chats as the real service does, then lets the test decide, byte
by byte, what the completion answer is (an endless line, a compression bomb, comments forever).
Also a reading of this process's resident memory, for bounds that must hold under attack.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson

from tcp_support import TcpServer

MODEL = "qwen3-max"
MODELS = {
    "data": [
        {
            "id": MODEL,
            "name": "Qwen3-Max",
            "info": {"meta": {"capabilities": {}, "abilities": {}, "chat_type": ["t2t"]}},
        }
    ]
}
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"connection: close\r\n\r\n"
)
#: what the completion answer does: write to the gateway, however it likes
Completion = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def json_response(payload: object) -> bytes:
    body = orjson.dumps(payload)
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
        % len(body)
        + body
    )


class HostileUpstream(TcpServer):
    """Serves models and new chats; ``completion`` answers every completion request."""

    def __init__(self, completion: Completion) -> None:
        super().__init__()
        self.completion = completion
        self.completions = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            path = request_line.split(" ")[1]
            length = 0
            for line in lines:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            if "/models" in path:
                writer.write(json_response(MODELS))
            elif "/chats/new" in path:
                writer.write(json_response({"success": True, "data": {"id": "chat-hostile"}}))
            elif "/chat/completions" in path:
                self.completions += 1
                await self.completion(reader, writer)
                return
            else:
                writer.write(json_response({"success": True, "data": {}}))
            await writer.drain()


def rss_bytes() -> int:
    """This process's resident memory now (the gateway under test runs on one of its threads)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")
