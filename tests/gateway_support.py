"""Running the gateway against an emulator, for tests: real sockets, real clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qwen_proxy.accounts import Credentials, save_accounts
from qwen_proxy.config import Settings
from qwen_proxy.emulator.testing import EmulatorHandle
from qwen_proxy.server.run import BackgroundGateway

MODEL = "qwen3.7-plus"
#: the account a test gateway knows the emulator's first account by
SESSION_ACCOUNT = "main"


def gateway_settings(
    upstream_url: str, token: str | None, data_dir: Path, **overrides: Any
) -> Settings:
    """Settings for a test gateway: free port, fast retries, memory store unless asked; the
    auth host is the emulator's (``/auth`` on the same server)."""
    values: dict[str, Any] = {
        "port": 0,
        "upstream_url": upstream_url,
        "auth_url": upstream_url.rstrip("/") + "/auth",
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


def browser_session(
    emulator: EmulatorHandle, name: str = SESSION_ACCOUNT, email: str | None = None
) -> Credentials:
    """An emulator account as the gateway knows it after ``accounts import-curl``: the browser
    session it was handed (2026-10 era), or its bare token (2026-06 era)."""
    account = emulator.account(email) if email else emulator.accounts[0]
    return Credentials(
        name=name,
        token=account.token,
        cookies=account.cookies or None,
        bx_ua=account.bx_ua or None,
        bx_umidtoken=account.bx_umidtoken or None,
        bx_v=account.bx_v or None,
    )


def write_session(emulator: EmulatorHandle, data_dir: Path) -> None:
    """accounts.json in ``data_dir`` with the emulator's first account's browser session."""
    save_accounts(data_dir / "accounts.json", [browser_session(emulator)])


def session_settings(emulator: EmulatorHandle, data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test gateway whose account is the emulator's first, as a user adds it
    today (a browser session in accounts.json, renewed at the emulator's auth host)."""
    write_session(emulator, data_dir)
    return gateway_settings(emulator.url, None, data_dir, **overrides)


@contextmanager
def running_gateway(settings: Settings) -> Iterator[BackgroundGateway]:
    """The gateway served on a free port until the block ends."""
    with BackgroundGateway(settings) as gateway:
        yield gateway


def in_flight(gateway: BackgroundGateway) -> int:
    """Requests the gateway's accounts are serving now."""
    return sum(status.in_flight for status in gateway.app.gateway.pool.snapshot())


def stored_nodes(gateway: BackgroundGateway) -> int:
    """Conversation nodes stored (a memory store: counting it touches no loop)."""
    return asyncio.run(gateway.app.gateway.store.count())


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Whether ``condition`` became true within ``timeout`` (the gateway runs on another
    thread: its state is polled, there is no event to await across threads)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()
