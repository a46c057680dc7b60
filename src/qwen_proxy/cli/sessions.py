"""``qwen-proxy sessions``: look at and clean up the conversation store (operators)."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import defaultdict
from typing import Any

import orjson

from qwen_proxy.config import Settings
from qwen_proxy.conversations.factory import open_store
from qwen_proxy.conversations.listing import newest_chats
from qwen_proxy.conversations.store import ConversationStore, Node


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``sessions`` subcommand's own subcommands."""
    parser.add_argument("--data-dir", help="the gateway's data directory (QWEN_PROXY_DATA_DIR)")
    parser.add_argument("--store", help="sqlite (default) or a redis:// URL (QWEN_PROXY_STORE)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="chats with known conversation nodes, newest first")
    listing.add_argument("--limit", type=int, default=50, help="how many chats (default 50)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    show = actions.add_parser("show", help="one chat's nodes as a tree of turns")
    show.add_argument("chat_id")
    purge = actions.add_parser(
        "purge", help="forget nodes (with --upstream, also delete the chats no node uses)"
    )
    purge.add_argument(
        "--upstream",
        action="store_true",
        help="then delete upstream the chats the gateway created that no remaining node uses "
        "(paced per account; what fails stays for the gateway's next cleanup)",
    )
    when = purge.add_mutually_exclusive_group(required=True)
    when.add_argument("--older-than", type=float, metavar="SECONDS", help="unused this long")
    when.add_argument("--expired", action="store_true", help="past the configured TTL")
    when.add_argument("--all", action="store_true", help="every node")


def run(args: argparse.Namespace) -> int:
    """Carry out ``sessions list|show|purge``."""
    from pathlib import Path

    settings = Settings.from_env(
        data_dir=Path(args.data_dir).expanduser() if args.data_dir else None, store=args.store
    )
    if settings.store == "memory":
        print("QWEN_PROXY_STORE is memory: conversations live only inside a running gateway.")
        return 1
    return asyncio.run(_run(args, settings))


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(
        settings.store,
        data_dir=settings.data_dir,
        ttl=settings.conversation_ttl,
        max_nodes=settings.conversation_max_nodes,
    )
    try:
        if args.action == "list":
            return await _list(store, args.limit, as_json=args.json)
        if args.action == "show":
            return await _show(store, args.chat_id)
        older = 0.0 if args.all else None if args.expired else args.older_than
        removed = await store.purge(older_than=older)
        print(f"forgot {removed} conversation node(s)")
        if args.upstream:
            age = settings.conversation_ttl if older is None else older
            return await _delete_upstream(settings, store, age)
        return 0
    finally:
        await store.close()


async def _delete_upstream(settings: Settings, store: ConversationStore, age: float) -> int:
    """Delete the ledger's chats older than ``age`` that no node uses, with the stored accounts."""
    from qwen_proxy.qwen.client import QwenClient
    from qwen_proxy.service.cleanup import ChatCleanup
    from qwen_proxy.service.gateway import configured_accounts

    accounts = {credentials.name: credentials for credentials in configured_accounts(settings)}
    client = QwenClient(settings)
    try:
        cleanup = ChatCleanup(store, client, lambda: accounts, pace=settings.cleanup_pace)
        report = await cleanup.run(older_than=age)
    finally:
        await client.close()
    print(
        f"deleted {report.deleted} upstream chat(s); {report.failed} failed and "
        f"{report.deferred} deferred (left for the gateway's next cleanup); "
        f"{report.in_use} still in use"
    )
    return 0 if report.failed == 0 else 1


def _age(now: float, then: float) -> str:
    seconds = max(0, int(now - then))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


async def _list(store: ConversationStore, limit: int, *, as_json: bool) -> int:
    rows: list[dict[str, Any]] = [
        {
            "chat_id": chat.chat_id,
            "account": chat.account,
            "model": chat.model,
            "nodes": chat.nodes,
            "turns": chat.turns,
            "last_used_at": chat.last_used_at,
        }
        for chat in await newest_chats(store, limit)
    ]
    if as_json:
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return 0
    if not rows:
        print("no conversations stored")
        return 0
    now = time.time()
    print(f"{'chat id':38} {'account':12} {'model':22} {'nodes':>5} {'turns':>5}  last used")
    for row in rows:
        print(
            f"{row['chat_id']:38} {row['account']:12.12} {row['model']:22.22} "
            f"{row['nodes']:>5} {row['turns']:>5}  {_age(now, float(row['last_used_at']))}"
        )
    return 0


async def _show(store: ConversationStore, chat_id: str) -> int:
    nodes = await store.list(limit=100_000, chat_id=chat_id)
    if not nodes:
        print(f"no stored nodes for chat {chat_id}")
        return 1
    now = time.time()
    first = nodes[0]
    print(f"chat {chat_id} (account {first.account}, model {first.model})")
    by_turn: dict[int, list[Node]] = defaultdict(list)
    for node in nodes:
        by_turn[node.turn].append(node)
    for depth, turn in enumerate(sorted(by_turn)):
        siblings = by_turn[turn]
        for index, node in enumerate(sorted(siblings, key=lambda n: n.created_at)):
            branch = "└─" if index == len(siblings) - 1 else "├─"
            print(
                f"{'   ' * depth}{branch} after message {turn}: continue from {node.parent_id} "
                f"(used {_age(now, node.last_used_at)})"
            )
    return 0
