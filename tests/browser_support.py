"""Helpers (no tests): a headless Chromium driven by Playwright, for the admin page's tests.

Playwright's own browser download cannot be reached everywhere, so the tests use a Chromium
installed by the system (Debian: ``apt-get install -y chromium``; ``scripts/test`` installs it
under CI) or the one ``QWEN_PROXY_CHROMIUM`` names. Without one the browser tests skip, saying
so, except under CI, where they fail.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Error, Page

#: where each browser test leaves its screenshots (git-ignored)
ARTIFACTS = Path(
    os.environ.get("QWEN_PROXY_ARTIFACTS") or Path(__file__).parent / "artifacts"
).resolve()

#: where Debian and other distributions put Chromium (the real binary before the wrapper)
CHROMIUM_CANDIDATES = (
    "/usr/lib/chromium/chromium",
    "/usr/lib/chromium-browser/chromium-browser",
    "chromium",
    "chromium-browser",
    "google-chrome",
)

HOW_TO_INSTALL = (
    "install Debian's Chromium with 'apt-get install -y chromium' (scripts/test does it under "
    "CI) or point QWEN_PROXY_CHROMIUM at a Chromium or Chrome binary"
)


def unavailable(reason: str) -> NoReturn:
    """Skip a browser test, or fail it under CI, where the browser tests must run."""
    if os.environ.get("CI"):
        pytest.fail(f"CI: {reason}", pytrace=False)
    pytest.skip(reason)


def chromium_path() -> str:
    """The Chromium to drive: ``QWEN_PROXY_CHROMIUM``, else the first one installed."""
    named = os.environ.get("QWEN_PROXY_CHROMIUM")
    if named:
        if not Path(named).is_file():
            unavailable(f"QWEN_PROXY_CHROMIUM={named} is not a file")
        return named
    for candidate in CHROMIUM_CANDIDATES:
        found = candidate if Path(candidate).is_file() else shutil.which(candidate)
        if found:
            return found
    unavailable(f"no Chromium found for the browser tests: {HOW_TO_INSTALL}")


@dataclass
class ConsoleWatch:
    """What the page said on its console and what it threw, kept for the end of the test."""

    errors: list[str] = field(default_factory=list)
    #: network answers the test provokes on purpose (e.g. a wrong key's 401)
    expected: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        """Listen to ``page``'s console errors and uncaught exceptions."""
        page.on("console", self._console)
        page.on("pageerror", self._page_error)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"console.{message.type}: {message.text}")

    def _page_error(self, error: Error) -> None:
        self.errors.append(f"uncaught: {error}")

    def expect(self, text: str) -> None:
        """Allow one console error containing ``text`` (a response the test asked for)."""
        self.expected.append(text)

    def unexpected(self) -> list[str]:
        """The errors no ``expect`` allowed."""
        allowed = list(self.expected)
        left = []
        for error in self.errors:
            match = next((a for a in allowed if a in error), None)
            if match is None:
                left.append(error)
            else:
                allowed.remove(match)
        return left


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as ``<artifacts>/admin-<name>.png`` and say where."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"admin-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path
