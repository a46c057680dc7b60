"""Helpers (no tests): a gateway over several emulator accounts, driven through its admin routes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import openai

from gateway_support import MODEL, browser_session, gateway_settings, running_gateway
from qwen_proxy.accounts import AccountPool, Credentials, ManualClock, save_accounts
from qwen_proxy.emulator.config import Account, AuthEra, EmulatorConfig
from qwen_proxy.emulator.testing import EmulatorHandle, running_emulator
from qwen_proxy.server.run import BackgroundGateway

ADMIN_KEY = "admin-key-for-tests"
PASSWORDS = {"a": "pw-alpha-s3cret", "b": "pw-bravo-s3cret", "c": "pw-charlie-s3cret"}


def pool_on(
    clock: ManualClock, accounts: Iterable[Credentials] | str, **options: Any
) -> AccountPool:
    """An ``AccountPool`` run by ``clock``; a string names one account per letter (its token
    ``token-<letter>``)."""
    if isinstance(accounts, str):
        accounts = [Credentials(name=name, token=f"token-{name}") for name in accounts]
    return AccountPool(
        accounts, clock=clock.monotonic, wall_clock=clock.wall, sleep=clock.sleep, **options
    )


def email(name: str) -> str:
    """The emulator email of test account ``name``."""
    return f"{name}@example.com"


@contextmanager
def several_accounts(
    names: Iterable[str] = ("a", "b", "c"), *, era: AuthEra = "2026-10"
) -> Iterator[EmulatorHandle]:
    """An emulator of ``era`` that knows one account per name (password from ``PASSWORDS``);
    "2026-06" for accounts that are a single token."""
    config = EmulatorConfig(accounts=[Account(email(n), PASSWORDS[n]) for n in names], auth_era=era)
    with running_emulator(config) as handle:
        yield handle


def write_accounts(
    data_dir: Path,
    emulator: EmulatorHandle,
    names: Iterable[str],
    *,
    passwords: bool = False,
    tokens: dict[str, str] | None = None,
) -> None:
    """accounts.json with each named emulator account: its browser session (2026-10 era) or
    its bare token (2026-06), with its current token unless given."""
    accounts = []
    for name in names:
        session = browser_session(emulator, name, email(name))
        accounts.append(
            replace(
                session,
                token=(tokens or {}).get(name) or session.token,
                email=email(name),
                password=PASSWORDS[name] if passwords else None,
            )
        )
    save_accounts(data_dir / "accounts.json", accounts)


@contextmanager
def pooled_gateway(
    emulator: EmulatorHandle, data_dir: Path, **overrides: Any
) -> Iterator[BackgroundGateway]:
    """A gateway with no QWEN_PROXY_TOKEN: its accounts come from ``data_dir``'s accounts.json."""
    settings = gateway_settings(emulator.url, None, data_dir, admin_key=ADMIN_KEY, **overrides)
    with running_gateway(settings) as gateway:
        yield gateway


def admin(gateway: BackgroundGateway, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One call to the gateway's admin routes with the admin key."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", **kwargs.pop("headers", {})}
    return httpx.request(method, gateway.url + path, headers=headers, timeout=10, **kwargs)


def states(gateway: BackgroundGateway) -> dict[str, dict[str, Any]]:
    """Every account's admin row by name."""
    rows = admin(gateway, "GET", "/admin/accounts").json()["data"]
    return {row["name"]: row for row in rows}


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll a condition that another thread makes true (the gateway runs on its own loop)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not become true in time")
        time.sleep(0.02)


def ask(client: openai.OpenAI, text: str) -> str:
    """One new conversation; returns the answer text."""
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": text}]
    )
    return reply.choices[0].message.content or ""


def chats_per_account(emulator: EmulatorHandle, names: Iterable[str]) -> dict[str, int]:
    """How many chats each account opened upstream."""
    return {name: len(emulator.chats(email(name))) for name in names}
