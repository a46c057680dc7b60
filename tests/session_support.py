"""Helpers (no tests): browser copies ("Copy as cURL" fixtures) the emulator accepts.

The fixtures under tests/accounts/fixtures look exactly like what Chrome and Firefox copy, with
invented values. To use one against an emulator of today's era, the emulator adopts the copy's
cookie jar as a browser session of one of its accounts (its ``acw_tc`` binds the session, its
``refresh_token`` renews it) and mints the access token that goes in place of the copy's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qwen_proxy.accounts.curl_import import import_curl, read_copied_request
from qwen_proxy.emulator.testing import EmulatorHandle

FIXTURES = Path(__file__).parent / "accounts" / "fixtures"
#: what each browser's copies hold (the values the fixtures were written with)
EXPECTED: dict[str, dict[str, Any]] = json.loads((FIXTURES / "expected.json").read_text())


def copy_text(name: str) -> str:
    """A fixture copy as pasted (line ends kept: the cmd copies have CRLF)."""
    with (FIXTURES / f"{name}.txt").open(newline="") as file:
        return file.read()


def adopted_copy(emulator: EmulatorHandle, name: str, email: str) -> str:
    """The fixture copy ``name`` with an access token the emulator minted for its jar."""
    text = copy_text(name)
    session = emulator.open_session(email, read_copied_request(text).cookies)
    return text.replace(import_curl(text).token, session.token)
