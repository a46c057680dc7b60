"""``qwen-proxy keys``: named client keys with limits (add, list, revoke).

``add`` prints the new key alone on stdout (``KEY=$(qwen-proxy keys add alice)``); everything
else goes to stderr. A running gateway follows the change within two seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from qwen_proxy.config import Settings
from qwen_proxy.keys import (
    KeyError_,
    add_key,
    key_rows,
    open_key_store,
    parse_expiry,
    parse_models,
    revoke_key,
)
from qwen_proxy.keys.store import KeyStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``keys`` subcommand's own subcommands."""
    parser.add_argument("--data-dir", help="the gateway's data directory (QWEN_PROXY_DATA_DIR)")
    parser.add_argument("--store", help="sqlite (default) or a redis:// URL (QWEN_PROXY_STORE)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="create a key; prints only the key")
    add.add_argument("name", help="who or what the key is for (alice, ci, ...)")
    add.add_argument("--rpm", type=int, help="requests per minute")
    add.add_argument("--tpm", type=int, help="tokens (input + output) per minute")
    add.add_argument("--concurrency", type=int, help="requests in flight at once")
    add.add_argument("--models", help="comma-separated model ids the key may use (default all)")
    add.add_argument(
        "--expires", help="a date (2026-12-31: from midnight UTC on) or an ISO 8601 time"
    )
    listing = actions.add_parser("list", help="names, limits, expiry, last use and usage")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    revoke = actions.add_parser("revoke", help="revoke a key (its usage stays listed)")
    revoke.add_argument("name")


def run(args: argparse.Namespace) -> int:
    """Carry out ``keys add|list|revoke``."""
    settings = Settings.from_env(
        data_dir=Path(args.data_dir).expanduser() if args.data_dir else None, store=args.store
    )
    store = open_key_store(
        settings.store, data_dir=settings.data_dir, redis_prefix=settings.redis_prefix
    )
    try:
        return asyncio.run(_run(args, store))
    except KeyError_ as error:
        print(f"qwen-proxy keys: {error}", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace, store: KeyStore) -> int:
    now = time.time()
    try:
        if args.action == "add":
            key, secret = await add_key(
                store,
                args.name,
                now=now,
                rpm=args.rpm,
                tpm=args.tpm,
                concurrency=args.concurrency,
                models=parse_models(args.models),
                expires_at=parse_expiry(args.expires) if args.expires else None,
            )
            print(secret)
            print(
                f"added key {key.name!r} ({_limits(key.to_json())}); it is shown only once",
                file=sys.stderr,
            )
            return 0
        if args.action == "revoke":
            key = await revoke_key(store, args.name, now=now)
            print(f"revoked key {key.name!r}", file=sys.stderr)
            return 0
        rows = await key_rows(store, now=now)
        if args.json:
            print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        else:
            _print_table(rows, now)
        return 0
    finally:
        await store.close()


def _limits(row: dict[str, Any]) -> str:
    parts = [f"{name} {row[name]}" for name in ("rpm", "tpm", "concurrency") if row[name]]
    if row["models"]:
        parts.append("models " + ",".join(row["models"]))
    return ", ".join(parts) or "no limits"


def _when(unix: float | None, now: float) -> str:
    if unix is None:
        return "-"
    pattern = "%H:%M UTC" if abs(unix - now) < 20 * 3600 else "%Y-%m-%d %H:%M UTC"
    return time.strftime(pattern, time.gmtime(unix))


def _print_table(rows: list[dict[str, Any]], now: float) -> None:
    if not rows:
        print("no client keys (add one with 'qwen-proxy keys add NAME')")
        return
    print(
        f"{'name':16} {'state':8} {'limits':30} {'expires':18} {'last used':18} "
        f"{'requests today/all':>19} {'tokens in/out today':>20} {'tokens in/out all':>20}"
    )
    for row in rows:
        usage = row["usage"] or {}
        print(
            f"{row['name']:16.16} {row['state']:8} {_limits(row):30.30} "
            f"{_when(row['expires_at'], now):18} {_when(usage.get('last_used_at'), now):18} "
            f"{usage.get('today_requests', 0):>9}/{usage.get('requests', 0):<9} "
            f"{usage.get('today_input_tokens', 0):>10}/{usage.get('today_output_tokens', 0):<9} "
            f"{usage.get('input_tokens', 0):>10}/{usage.get('output_tokens', 0):<9}"
        )
