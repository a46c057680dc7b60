"""Several gateways behave as one: real `qwen-proxy serve` processes sharing one Redis (or, on
one host, one SQLite file between workers) in front of one emulator.

Each process is started the way an operator starts it (``python -m qwen_proxy.cli.main serve``
with ``QWEN_PROXY_*`` variables) and is ready when uvicorn logs that its start-up completed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import redis.asyncio as aioredis

from gateway_support import MODEL, running_gateway, session_settings, write_session
from qwen_proxy.emulator.testing import EmulatorHandle
from redis_support import RedisServer, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

COMPLETIONS = "/api/v2/chat/completions"
NEW_CHAT = "/api/v2/chats/new"
READY_LINE = b"Application startup complete"


class GatewayProcess:
    """One `qwen-proxy serve` process on its own port (with ``workers`` worker processes)."""

    def __init__(self, env: dict[str, str], *, workers: int = 1) -> None:
        self.port = free_port()
        self.workers = workers
        self.log: list[str] = []
        command = [sys.executable, "-m", "qwen_proxy", "serve", "--port", str(self.port)]
        if workers > 1:
            command += ["--workers", str(workers)]
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self._drain: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of this instance."""
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> GatewayProcess:
        """Block until every worker logged that its start-up completed (no polling)."""
        stream = self.process.stdout
        assert stream is not None
        ready = 0
        for raw in stream:
            self.log.append(raw.decode(errors="replace"))
            ready += READY_LINE in raw
            if ready == self.workers:
                break
        else:
            self.process.wait()
            raise RuntimeError("the gateway did not start:\n" + "".join(self.log[-20:]))
        self._drain = threading.Thread(target=self._keep_reading, args=(stream,), daemon=True)
        self._drain.start()
        return self

    def _keep_reading(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in stream:
                self.log.append(raw.decode(errors="replace"))

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a host dies."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), or kill after 10 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._drain is not None:
            self._drain.join(timeout=5)


def gateway_env(
    emulator: EmulatorHandle, data_dir: Path, store: str, prefix: str
) -> dict[str, str]:
    """The environment of a test gateway: this test's emulator (its account's browser session
    in the data directory), store and Redis prefix."""
    write_session(emulator, data_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_PROXY_")}
    env.update(
        {
            "QWEN_PROXY_UPSTREAM_URL": emulator.url,
            "QWEN_PROXY_AUTH_URL": emulator.auth_url,
            "QWEN_PROXY_DATA_DIR": str(data_dir),
            "QWEN_PROXY_STORE": store,
            "QWEN_PROXY_REDIS_PREFIX": prefix,
            "QWEN_PROXY_BACKOFF_BASE": "0.01",
            "QWEN_PROXY_BACKOFF_MAX": "0.05",
            "QWEN_PROXY_FIRST_BYTE_TIMEOUT": "5",
            "QWEN_PROXY_IDLE_TIMEOUT": "5",
            # info, for uvicorn's start-up line
            "QWEN_PROXY_LOG_LEVEL": "info",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    value = f"qwen-proxy-test:{uuid.uuid4().hex}:"
    yield value
    client = aioredis.Redis.from_url(redis_url)
    keys = [key async for key in client.scan_iter(match=f"{value}*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def pair(
    emulator: EmulatorHandle, redis_url: str, prefix: str, tmp_path: Path
) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    """Two gateway instances (own data directories, as on two hosts) sharing one Redis."""
    instances = [
        GatewayProcess(gateway_env(emulator, tmp_path / name, redis_url, prefix))
        for name in ("host-a", "host-b")
    ]
    try:
        for instance in instances:
            instance.wait_ready()
        yield instances[0], instances[1]
    finally:
        for instance in instances:
            instance.stop()


def say(url: str, history: list[dict[str, Any]], text: str) -> str:
    """Send ``history + [user text]`` on a fresh connection, record both turns, return the
    answer (a fresh connection lets the kernel hand it to any worker)."""
    history.append({"role": "user", "content": text})
    response = httpx.post(
        url + "/v1/chat/completions",
        json={"model": MODEL, "messages": history},
        headers={"Connection": "close"},
        timeout=15,
    )
    assert response.status_code == 200, response.text
    answer = str(response.json()["choices"][0]["message"]["content"])
    history.append({"role": "assistant", "content": answer})
    return answer


def completions(emulator: EmulatorHandle) -> list[Any]:
    return [r for r in emulator.requests(COMPLETIONS) if r.method == "POST"]


# --- several instances, one Redis ------------------------------------------------------------


@pytest.mark.redis
def test_turns_alternating_between_instances_keep_one_chat_and_its_context(
    emulator: EmulatorHandle, pair: tuple[GatewayProcess, GatewayProcess]
) -> None:
    a, b = pair
    history: list[dict[str, Any]] = []
    say(a.url, history, "Hello, my name is Ada.")
    assert say(b.url, history, "What is my name?") == "Your name is Ada."
    assert say(a.url, history, "How many turns do you see?") == "I see 3 user turns."
    assert say(b.url, history, "How many turns do you see?") == "I see 4 user turns."
    assert len(emulator.requests(NEW_CHAT)) == 1
    assert len({r.query["chat_id"] for r in completions(emulator)}) == 1


@pytest.mark.redis
def test_when_an_instance_is_killed_mid_reply_the_other_continues_the_conversation(
    emulator: EmulatorHandle, pair: tuple[GatewayProcess, GatewayProcess]
) -> None:
    a, b = pair
    history: list[dict[str, Any]] = []
    say(a.url, history, "Hello, my name is Ada.")
    assert say(a.url, history, "What is my name?") == "Your name is Ada."

    slow = [*history, {"role": "user", "content": "Tell me more. [[fault:trickle delay=0.5]]"}]
    with httpx.stream(
        "POST",
        a.url + "/v1/chat/completions",
        json={"model": MODEL, "messages": slow, "stream": True},
        timeout=15,
    ) as response:
        assert response.status_code == 200
        first = next(line for line in response.iter_lines() if line.startswith("data: "))
        assert first
        a.kill()  # the reply is under way on a's side

    # the client never got that answer: it asks again elsewhere, with what it has
    assert say(b.url, history, "How many turns do you see?") == "I see 3 user turns."
    assert say(b.url, history, "What is my name?") == "Your name is Ada."


@pytest.mark.redis
def test_a_rate_limit_seen_by_one_instance_is_respected_by_the_other(
    emulator: EmulatorHandle, pair: tuple[GatewayProcess, GatewayProcess]
) -> None:
    a, b = pair
    history: list[dict[str, Any]] = []
    say(a.url, history, "Hello, my name is Ada.")

    limited = httpx.post(
        a.url + "/v1/chat/completions",
        json={
            "model": MODEL,
            "messages": [{"role": "user", "content": "Hi [[fault:rate_limited]]"}],
        },
        timeout=15,
    )
    assert limited.status_code == 429, limited.text
    seen = len(completions(emulator))

    refused = httpx.post(
        b.url + "/v1/chat/completions",
        json={"model": MODEL, "messages": [*history, {"role": "user", "content": "And now?"}]},
        timeout=15,
    )
    assert refused.status_code in (429, 503), refused.text
    assert "rate" in refused.json()["error"]["message"].lower()
    assert int(refused.headers["retry-after"]) > 0
    # b did not even try the account a saw rate-limited
    assert len(completions(emulator)) == seen


# --- Redis goes away and comes back -----------------------------------------------------------


@pytest.mark.redis
def test_without_redis_requests_fail_fast_with_a_503_and_recover_when_it_returns(
    emulator: EmulatorHandle, private_redis: RedisServer, tmp_path: Path
) -> None:
    settings = session_settings(emulator, tmp_path, store=private_redis.url)
    with running_gateway(settings) as gateway:
        history: list[dict[str, Any]] = []
        say(gateway.url, history, "Hello, my name is Ada.")
        assert httpx.get(gateway.url + "/ready").status_code == 200

        private_redis.stop()
        started = time.monotonic()
        down = httpx.post(
            gateway.url + "/v1/chat/completions",
            json={"model": MODEL, "messages": [*history, {"role": "user", "content": "Name?"}]},
            timeout=15,
        )
        assert time.monotonic() - started < 3.0
        assert down.status_code == 503
        error = down.json()["error"]
        assert error["code"] == "store_unavailable"
        assert error["type"]
        assert f"127.0.0.1:{private_redis.port}" in error["message"]
        ready = httpx.get(gateway.url + "/ready")
        assert ready.status_code == 503
        assert "store" in ready.json()["error"]["message"]

        private_redis.start()
        assert httpx.get(gateway.url + "/ready").status_code == 200
        # the restarted Redis kept nothing: the gateway folds the history into a new chat
        assert say(gateway.url, history, "What is my name?") == "Your name is Ada."


# --- several workers on one host, one SQLite file ---------------------------------------------


def test_two_workers_sharing_sqlite_keep_every_conversations_context(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    env = gateway_env(emulator, tmp_path / "data", "sqlite", "unused:")
    server = GatewayProcess(env, workers=2)
    try:
        server.wait_ready()
        names = ["Ada", "Bob", "Cyd", "Dee"]
        histories: list[list[dict[str, Any]]] = [[] for _ in names]
        for name, history in zip(names, histories, strict=True):
            say(server.url, history, f"Hello, my name is {name}.")
        for name, history in zip(names, histories, strict=True):
            assert say(server.url, history, "What is my name?") == f"Your name is {name}."
        for history in histories:
            assert say(server.url, history, "How many turns do you see?") == "I see 3 user turns."
    finally:
        server.stop()
    assert len(emulator.requests(NEW_CHAT)) == len(names)
