"""Shared fixtures. Each block is owned by the engineer named in its heading."""

from __future__ import annotations

from collections.abc import Iterator

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
