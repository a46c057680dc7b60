"""Fixtures of the emulator's own tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwen_proxy.emulator.testing import EmulatorHandle

# the helper module sits beside this file; make it importable however pytest was invoked
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from emulator_client import Qwen  # noqa: E402


@pytest.fixture
def qwen(emulator: EmulatorHandle) -> Iterator[Qwen]:
    """A client of the test's emulator, signed in as its first account."""
    client = Qwen(emulator)
    yield client
    client.http.close()
