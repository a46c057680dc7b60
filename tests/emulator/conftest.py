"""Fixtures of the emulator's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator_client import Qwen
from qwen_proxy.emulator.testing import EmulatorHandle


@pytest.fixture
def qwen(emulator: EmulatorHandle) -> Iterator[Qwen]:
    """A client of the test's emulator, signed in as its first account."""
    client = Qwen(emulator)
    yield client
    client.http.close()
