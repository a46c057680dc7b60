"""The emulator's command-line flags, apart from its server: ``qwen-proxy --help`` (and every
other subcommand) builds its parser without importing aiohttp or the emulator's app."""

from __future__ import annotations

import argparse
from pathlib import Path

from qwen_proxy.emulator.config import AUTH_ERAS, BODY_CAP, FIFTEEN_MINUTES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's flags to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0, help="ids, deltas and wire cuts")
    parser.add_argument("--accounts", type=int, default=1, help="N sample accounts")
    parser.add_argument(
        "--accounts-file", type=Path, help='JSON list of {"email", "password", "name"?}'
    )
    parser.add_argument("--ttfb", type=float, default=0.0, help="seconds before the first byte")
    parser.add_argument("--event-delay", type=float, default=0.0, help="seconds between events")
    parser.add_argument("--delta-max", type=int, default=6, help="max characters per delta")
    parser.add_argument("--answer-length", type=int, help="default answers of N characters")
    parser.add_argument("--no-fragment", action="store_true", help="write whole events")
    parser.add_argument("--no-record", action="store_true", help="do not record requests")
    parser.add_argument(
        "--auth-error",
        choices=["detail", "unauthorized"],
        default="detail",
        help="401 {detail} or 200 Unauthorized for bad tokens",
    )
    parser.add_argument(
        "--auth-era",
        choices=AUTH_ERAS,
        default="2026-10",
        help="2026-10: browser sessions, 15-minute tokens, firewall gates (default); "
        "2026-06: a token alone opens every route",
    )
    parser.add_argument(
        "--access-token-ttl",
        type=int,
        default=FIFTEEN_MINUTES,
        metavar="SECONDS",
        help="2026-10: how long an access token lives",
    )
    parser.add_argument(
        "--max-request-body",
        type=int,
        default=BODY_CAP,
        metavar="BYTES",
        help="2026-10: write calls with a bigger body get the challenge",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME[:k=v,...]",
        help="a global fault (repeatable); k may be account, chat_id, route, times",
    )
