"""Find or start a Redis for the tests: the shared one on 6379, else a private redis-server.

Under CI (``CI`` set to anything non-empty) a missing Redis fails the run instead of skipping
it, because CI must exercise the Redis store.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import IO

import pytest

from qwen_proxy.errors import ServiceUnavailable

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6379


def redis_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something on ``host:port`` answers PING with PONG (no password needed)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((DEFAULT_HOST, 0))
        return int(sock.getsockname()[1])


def unavailable(reason: str) -> None:
    """Skip the test with ``reason``, or fail it when running under CI."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so Redis tests must run)", pytrace=False)
    pytest.skip(reason)


def _drain(stream: IO[bytes]) -> None:
    with stream:
        for _ in stream:
            pass


class RedisServer:
    """A private, non-persistent redis-server on one port that can be stopped and restarted."""

    def __init__(self, port: int | None = None, binary: str = "redis-server") -> None:
        self.port = port or free_port()
        self.binary = binary
        self._process: subprocess.Popen[bytes] | None = None
        self._drain: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The ``redis://`` URL of this server."""
        return f"redis://{DEFAULT_HOST}:{self.port}/0"

    def start(self) -> None:
        """Start the server and return once it logs that it accepts connections."""
        binary = shutil.which(self.binary)
        if binary is None:
            raise FileNotFoundError(self.binary)
        self._process = subprocess.Popen(
            [
                binary,
                "--port", str(self.port),
                "--bind", DEFAULT_HOST,
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                "--loglevel", "notice",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert self._process.stdout is not None
        # the log line is the readiness event; reading it blocks until then, no polling
        log: list[bytes] = []
        for line in self._process.stdout:
            log.append(line)
            if b"Ready to accept connections" in line:
                break
        else:
            self._process.wait()
            raise RuntimeError(f"redis-server did not start: {b''.join(log).decode()[-500:]}")
        # keep draining the log so a chatty server never blocks on a full pipe
        self._drain = threading.Thread(target=_drain, args=(self._process.stdout,), daemon=True)
        self._drain.start()

    def stop(self) -> None:
        """Stop the server and wait until it is gone (its port refuses connections)."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._drain is not None:
            self._drain.join()
        self._process = None


@contextmanager
def running_redis(
    host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, binary: str = "redis-server"
) -> Iterator[str]:
    """The URL of a Redis to test against: ``host:port`` if it answers, else a private one."""
    if redis_answers(host, port):
        yield f"redis://{host}:{port}/0"
        return
    if shutil.which(binary) is None:
        unavailable(f"Redis not available: no server on {host}:{port} and no {binary} binary")
    server = RedisServer(binary=binary)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


async def assert_fails_fast(call: Callable[[], Awaitable[object]], where: str) -> None:
    """``call`` raises a 503 ``store_unavailable`` naming ``where``, in well under 2 s."""
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as caught:
        await call()
    assert time.monotonic() - started < 2.0
    error = caught.value
    assert error.status == 503
    assert error.code == "store_unavailable"
    assert where in error.message
