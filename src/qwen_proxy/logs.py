"""Logging setup shared by every command: plain single-line records on stderr."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str) -> None:
    """Plain, single-line logs on stderr."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
