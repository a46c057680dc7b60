"""Running the gateway against an emulator, for tests: real sockets, real clients."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qwen_proxy.config import Settings
from qwen_proxy.server.run import BackgroundGateway

MODEL = "qwen3.7-plus"


def gateway_settings(
    upstream_url: str, token: str | None, data_dir: Path, **overrides: Any
) -> Settings:
    """Settings for a test gateway: free port, fast retries, memory store unless asked."""
    values: dict[str, Any] = {
        "port": 0,
        "upstream_url": upstream_url,
        "token": token,
        "data_dir": data_dir,
        "store": "memory",
        "backoff_base": 0.01,
        "backoff_max": 0.05,
        "first_byte_timeout": 5.0,
        "idle_timeout": 5.0,
        "log_level": "warning",
    }
    values.update(overrides)
    return Settings(**values)


@contextmanager
def running_gateway(settings: Settings) -> Iterator[BackgroundGateway]:
    """The gateway served on a free port until the block ends."""
    with BackgroundGateway(settings) as gateway:
        yield gateway
