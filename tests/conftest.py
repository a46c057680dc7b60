"""Shared fixtures. Each block is owned by the engineer named in its heading."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from qwen_proxy.emulator.testing import EmulatorHandle, running_emulator

# --- emulator (owner: emulator) -------------------------------------------------------------
# A fresh offline Qwen service per test on a free port (start-up measured at ~5 ms).


@pytest.fixture
def emulator() -> Iterator[EmulatorHandle]:
    """A running emulator with the default sample account; see qwen_proxy.emulator.testing."""
    with running_emulator() as handle:
        yield handle


# --- end emulator ---------------------------------------------------------------------------


# --- gateway (owner: gateway) ---------------------------------------------------------------
# The gateway on a free port against the test's emulator, and official openai clients for it.

from gateway_support import gateway_settings, running_gateway  # noqa: E402
from qwen_proxy.server.run import BackgroundGateway  # noqa: E402


@pytest.fixture
def gateway(emulator: EmulatorHandle, tmp_path: Path) -> Iterator[BackgroundGateway]:
    """A gateway using the emulator's sample account, memory store."""
    with running_gateway(gateway_settings(emulator.url, emulator.token, tmp_path)) as running:
        yield running


@pytest.fixture
def slow_gateway(emulator: EmulatorHandle, tmp_path: Path) -> Iterator[BackgroundGateway]:
    """A gateway with a 1 s first-byte timeout and no retries (timeout tests)."""
    settings = gateway_settings(
        emulator.url, emulator.token, tmp_path, first_byte_timeout=1.0, retries=0
    )
    with running_gateway(settings) as running:
        yield running


@pytest.fixture
def client(gateway: BackgroundGateway) -> openai.OpenAI:
    """The official sync client pointed at the gateway (SDK retries off: tests see each answer)."""
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="test", max_retries=0)


@pytest.fixture
def aclient(gateway: BackgroundGateway) -> openai.AsyncOpenAI:
    """The official async client pointed at the gateway."""
    return openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key="test", max_retries=0)


# --- end gateway ----------------------------------------------------------------------------
