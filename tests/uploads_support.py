"""Helpers (no tests): a gateway whose account is the emulator's sample browser session, with
uploads going to the emulator's object store, and small files to attach."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai

from accounts_support import pooled_gateway
from qwen_proxy.accounts import Credentials, save_accounts
from qwen_proxy.emulator.testing import EmulatorHandle
from qwen_proxy.server.run import BackgroundGateway

#: a 1x1 PNG (a real, decodable image)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
#: the first bytes of a GIF and of a JPEG, enough for the format check
GIF = b"GIF89a" + bytes(32)
JPEG = b"\xff\xd8\xff\xe0" + bytes(32)


def data_url(data: bytes, media_type: str = "image/png") -> str:
    """``data`` as a base64 data: URL."""
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def short_digest(data: bytes) -> str:
    """The 12 hex digits of sha256 the emulator's model reports."""
    return hashlib.sha256(data).hexdigest()[:12]


def session_credentials(emulator: EmulatorHandle, name: str = "main") -> Credentials:
    """The emulator's sample account as a browser session (2026-10), or its token (2026-06)."""
    account = emulator.accounts[0]
    return Credentials(
        name=name,
        token=account.token,
        cookies=account.cookies or None,
        bx_ua=account.bx_ua or None,
        bx_umidtoken=account.bx_umidtoken or None,
        bx_v=account.bx_v or None,
    )


@contextmanager
def uploading_gateway(
    emulator: EmulatorHandle, data_dir: Path, **overrides: Any
) -> Iterator[BackgroundGateway]:
    """A gateway on the emulator's sample account, its uploads going to the emulator's store."""
    save_accounts(data_dir / "accounts.json", [session_credentials(emulator)])
    overrides.setdefault("oss_url", emulator.url + "/oss")
    with pooled_gateway(emulator, data_dir, **overrides) as gateway:
        yield gateway


def sdk(gateway: BackgroundGateway) -> openai.OpenAI:
    """The official client on ``gateway`` (no SDK retries: tests see each answer)."""
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
