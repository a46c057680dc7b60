"""The load generator: an aiohttp client in its own process, driven by ``bench/run.py``.

It imports nothing from the gateway, so it measures the gateway from outside. One scenario per
run: ``python bench/load.py '<json spec>'`` prints one JSON result line. Targets:

* ``direct``: the emulator, as a client of Qwen's web API would use it: create a chat, then
  stream the completion (two calls, as the gateway makes for a new conversation);
* ``gateway``: ``POST /v1/chat/completions`` on the gateway, a new conversation each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

MODEL = "qwen3.7-plus"


@dataclass
class Target:
    """Where the load goes and how to speak to it."""

    kind: str  # "direct" or "gateway"
    url: str
    #: direct: what the emulator account's browser sends (token, cookie jar, bx-*, version)
    session: dict[str, str] = field(default_factory=dict)


@dataclass
class Sample:
    """One streamed reply as the client saw it."""

    ttft: float
    total: float
    chunks: int


@dataclass
class Tally:
    """What a scenario counted."""

    samples: list[Sample] = field(default_factory=list)
    completed: int = 0
    errors: int = 0
    chunks: int = 0
    first_error: str = ""


def _events(buffer: bytearray) -> list[bytes]:
    """Complete SSE events cut off the front of ``buffer`` (the rest stays for later)."""
    end = buffer.rfind(b"\n\n")
    if end < 0:
        return []
    head = bytes(buffer[: end + 2])
    del buffer[: end + 2]
    return [event for event in head.split(b"\n\n") if event]


def _direct_content(event: bytes) -> bool:
    """Whether a Qwen SSE event carries answer text."""
    if not event.startswith(b"data:"):
        return False
    try:
        data = orjson.loads(event[5:])
    except orjson.JSONDecodeError:
        return False
    choices = data.get("choices") if isinstance(data, dict) else None
    if not choices:
        return False
    delta = choices[0].get("delta") or {}
    return bool(delta.get("content")) and delta.get("phase", "answer") == "answer"


def _gateway_content(event: bytes) -> bool:
    """Whether an OpenAI SSE chunk carries content text (raises on an error event)."""
    if not event.startswith(b"data: {"):
        return False
    data = orjson.loads(event[6:])
    if "error" in data:
        raise RuntimeError(f"error event: {data['error'].get('code')}")
    choices = data.get("choices")
    return bool(choices) and bool(choices[0].get("delta", {}).get("content"))


async def _read_stream(
    response: aiohttp.ClientResponse, started: float, is_content: Callable[[bytes], bool]
) -> Sample:
    """Timestamp the first content event, then only count events until EOF."""
    buffer = bytearray()
    ttft = 0.0
    chunks = 0
    async for data in response.content.iter_any():
        if ttft:
            chunks += data.count(b"\n\n")
            continue
        buffer += data
        for event in _events(buffer):
            chunks += 1
            if not ttft and is_content(event):
                ttft = time.perf_counter() - started
        if ttft:
            chunks += buffer.count(b"\n\n")
    if not ttft:
        raise RuntimeError("the stream ended without content")
    return Sample(ttft=ttft, total=time.perf_counter() - started, chunks=chunks)


def _direct_headers(session: dict[str, str], chat_id: str | None = None) -> dict[str, str]:
    headers = {
        **session,
        "Content-Type": "application/json",
        "User-Agent": "bench/1.0",
        "source": "web",
    }
    if chat_id:
        headers["x-request-id"] = str(uuid.uuid4())
    return headers


def _completion_body(chat_id: str, text: str) -> bytes:
    now = int(time.time())
    message = {
        "fid": str(uuid.uuid4()),
        "parentId": None,
        "childrenIds": [str(uuid.uuid4())],
        "role": "user",
        "content": text,
        "user_action": "chat",
        "files": [],
        "timestamp": now,
        "models": [MODEL],
        "chat_type": "t2t",
        "feature_config": {"output_schema": "phase", "thinking_enabled": False},
        "extra": {"meta": {"subChatType": "t2t"}},
        "sub_chat_type": "t2t",
        "parent_id": None,
    }
    body = {
        "stream": True,
        "version": "2.1",
        "incremental_output": True,
        "chat_id": chat_id,
        "chat_mode": "normal",
        "model": MODEL,
        "parent_id": None,
        "messages": [message],
        "timestamp": now,
    }
    return orjson.dumps(body)


async def direct_stream(session: aiohttp.ClientSession, target: Target, text: str) -> Sample:
    """Create a chat on the emulator and stream one completion from it."""
    started = time.perf_counter()
    new_chat = {
        "title": "New Chat",
        "models": [MODEL],
        "chat_mode": "normal",
        "chat_type": "t2t",
        "timestamp": int(time.time() * 1000),
        "project_id": "",
    }
    async with session.post(
        target.url + "/api/v2/chats/new",
        data=orjson.dumps(new_chat),
        headers=_direct_headers(target.session),
    ) as response:
        chat_id = orjson.loads(await response.read())["data"]["id"]
    async with session.post(
        f"{target.url}/api/v2/chat/completions?chat_id={chat_id}",
        data=_completion_body(chat_id, text),
        headers=_direct_headers(target.session, chat_id),
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"completion answered {response.status}")
        return await _read_stream(response, started, _direct_content)


def _gateway_body(text: str, stream: bool) -> bytes:
    return orjson.dumps(
        {"model": MODEL, "stream": stream, "messages": [{"role": "user", "content": text}]}
    )


async def gateway_stream(session: aiohttp.ClientSession, target: Target, text: str) -> Sample:
    """Stream one new conversation's reply through the gateway."""
    started = time.perf_counter()
    async with session.post(
        target.url + "/v1/chat/completions",
        data=_gateway_body(text, True),
        headers={"Content-Type": "application/json"},
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"gateway answered {response.status}: {await response.text()}")
        return await _read_stream(response, started, _gateway_content)


async def gateway_whole(session: aiohttp.ClientSession, target: Target, text: str) -> Sample:
    """One non-streamed reply through the gateway."""
    started = time.perf_counter()
    async with session.post(
        target.url + "/v1/chat/completions",
        data=_gateway_body(text, False),
        headers={"Content-Type": "application/json"},
    ) as response:
        body = await response.read()
        if response.status != 200:
            raise RuntimeError(f"gateway answered {response.status}: {body[:200]!r}")
        elapsed = time.perf_counter() - started
        return Sample(ttft=elapsed, total=elapsed, chunks=1)


Call = Callable[[aiohttp.ClientSession, Target, str], Awaitable[Sample]]


def _call_for(target: Target, stream: bool) -> Call:
    if target.kind == "direct":
        # the upstream only streams; a short streamed reply read whole is its non-stream form
        return direct_stream
    return gateway_stream if stream else gateway_whole


def _session(concurrency: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
    return aiohttp.ClientSession(connector=connector, timeout=timeout)


async def run_load(
    target: Target,
    *,
    concurrency: int,
    requests: int | None = None,
    duration: float | None = None,
    stream: bool = True,
) -> tuple[Tally, float]:
    """``concurrency`` workers issue requests until ``requests`` are done or ``duration`` ends."""
    call = _call_for(target, stream)
    tally = Tally()
    counter = itertools.count()
    tag = uuid.uuid4().hex[:8]
    async with _session(concurrency) as session:
        started = time.perf_counter()
        deadline = started + duration if duration else None

        async def worker() -> None:
            while True:
                index = next(counter)
                if requests is not None and index >= requests:
                    return
                if deadline is not None and time.perf_counter() >= deadline:
                    return
                try:
                    sample = await call(session, target, f"bench {tag} {index}: hello")
                except (aiohttp.ClientError, RuntimeError, KeyError, TimeoutError) as exc:
                    tally.errors += 1
                    tally.first_error = tally.first_error or f"{type(exc).__name__}: {exc}"
                    continue
                tally.completed += 1
                tally.chunks += sample.chunks
                tally.samples.append(sample)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return tally, wall


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary(tally: Tally, wall: float) -> dict[str, Any]:
    """The numbers ``run.py`` tabulates (times in milliseconds)."""
    ttft = [s.ttft * 1000 for s in tally.samples]
    total = [s.total * 1000 for s in tally.samples]
    return {
        "completed": tally.completed,
        "errors": tally.errors,
        "first_error": tally.first_error,
        "wall_s": wall,
        "req_per_s": tally.completed / wall if wall else 0.0,
        "chunks": tally.chunks,
        "chunks_per_s": tally.chunks / wall if wall else 0.0,
        "ttft_p50_ms": percentile(ttft, 0.5),
        "ttft_p99_ms": percentile(ttft, 0.99),
        "total_p50_ms": percentile(total, 0.5),
        "total_p99_ms": percentile(total, 0.99),
    }


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def hold_streams(target: Target, *, streams: int, pid: int, wait: float) -> dict[str, Any]:
    """Open ``streams`` gateway streams, wait until each shows content, read the gateway's RSS."""
    before = _rss_kib(pid)
    opened = 0
    all_open = asyncio.Event()
    tag = uuid.uuid4().hex[:8]
    async with _session(streams) as session:

        async def one(index: int) -> None:
            nonlocal opened
            async with session.post(
                target.url + "/v1/chat/completions",
                data=_gateway_body(f"bench hold {tag} {index}", True),
                headers={"Content-Type": "application/json"},
            ) as response:
                buffer = bytearray()
                seen = False
                async for data in response.content.iter_any():
                    buffer += data
                    if not seen and any(_gateway_content(e) for e in _events(buffer)):
                        seen = True
                        opened += 1
                        if opened == streams:
                            all_open.set()
                    if seen:
                        buffer.clear()

        tasks = [asyncio.ensure_future(one(i)) for i in range(streams)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_open.wait(), wait)
        during = _rss_kib(pid)
        held = opened
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "streams_requested": streams,
        "streams_open": held,
        "rss_before_kib": before,
        "rss_during_kib": during,
        "kib_per_stream": (during - before) / held if held else 0.0,
    }


async def set_knobs(emulator_url: str, knobs: dict[str, Any]) -> None:
    """Change the emulator's pacing for the next scenario."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(emulator_url + "/__emulator__/knobs", json=knobs) as response,
    ):
        if response.status != 200:
            raise RuntimeError(f"knobs refused: {await response.text()}")


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the scenario ``spec`` describes."""
    if spec.get("knobs") is not None:
        await set_knobs(spec["emulator_url"], spec["knobs"])
    target = Target(spec["target"], spec["url"], dict(spec.get("session") or {}))
    if spec["scenario"] == "hold":
        return await hold_streams(
            target, streams=spec["streams"], pid=spec["pid"], wait=spec["timeout"]
        )
    tally, wall = await run_load(
        target,
        concurrency=spec["concurrency"],
        requests=spec.get("requests"),
        duration=spec.get("duration"),
        stream=spec.get("stream", True),
    )
    return summary(tally, wall)


if __name__ == "__main__":
    import uvloop

    result = uvloop.run(main(json.loads(sys.argv[1])))
    print(json.dumps(result), flush=True)
