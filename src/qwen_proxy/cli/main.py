"""The ``qwen-proxy`` command: thin, it parses, calls and prints."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from qwen_proxy import __version__
from qwen_proxy.config import Settings, SettingsError, StartupError

DESCRIPTION = """\
An OpenAI-compatible gateway to Qwen's web chat (chat.qwen.ai).

  qwen-proxy serve      start the gateway (configure with QWEN_PROXY_* variables or flags)
  qwen-proxy demo       the gateway plus an offline Qwen emulator, to try it without an account
  qwen-proxy emulator   only the offline emulator of chat.qwen.ai (for tests and benchmarks)
  qwen-proxy accounts   import-curl (one copied request), list, remove, check Qwen accounts
  qwen-proxy sessions   list, show or purge the conversations the gateway keeps
  qwen-proxy keys       add, list or revoke named client keys with limits
"""


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--host", help="address to listen on (QWEN_PROXY_HOST, default 127.0.0.1)")
    add("--port", type=int, help="port to listen on (QWEN_PROXY_PORT, default 8787)")
    add(
        "--upstream-url",
        help="Qwen base URL (QWEN_PROXY_UPSTREAM_URL, default https://chat.qwen.ai)",
    )
    add(
        "--token",
        help="one Qwen account's JWT (QWEN_PROXY_TOKEN; prefer the variable: "
        "command lines are visible to other users)",
    )
    add("--cookies", help="that account's browser cookie string (QWEN_PROXY_COOKIES)")
    add("--api-keys", help="comma-separated client keys (QWEN_PROXY_API_KEYS)")
    add("--data-dir", help="where accounts and conversations live (QWEN_PROXY_DATA_DIR)")
    add("--store", help="sqlite (default), memory or a redis:// URL (QWEN_PROXY_STORE)")
    add("--workers", type=_positive, default=1, help="worker processes (default 1)")
    add("--log-level", help="debug, info, warning or error (QWEN_PROXY_LOG_LEVEL)")


def _positive(text: str) -> int:
    """argparse type: a whole number of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the environment, with the command line's flags on top."""
    keys = getattr(args, "api_keys", None)
    data_dir = getattr(args, "data_dir", None)
    from pathlib import Path

    return Settings.from_env(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        upstream_url=getattr(args, "upstream_url", None),
        token=getattr(args, "token", None),
        cookies=getattr(args, "cookies", None),
        api_keys=tuple(k.strip() for k in keys.split(",") if k.strip()) if keys else None,
        data_dir=Path(data_dir).expanduser() if data_dir else None,
        store=getattr(args, "store", None),
        log_level=getattr(args, "log_level", None),
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    # the flags only: the emulator's server (aiohttp) loads when the command runs
    from qwen_proxy.emulator.arguments import add_arguments as emulator_arguments

    parser = argparse.ArgumentParser(
        prog="qwen-proxy",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"qwen-proxy {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="start the gateway")
    _serve_arguments(serve)

    demo = commands.add_parser(
        "demo", help="gateway + offline emulator in one command, with copy-paste examples"
    )
    demo.add_argument("--port", type=int, default=8787, help="gateway port (default 8787)")
    demo.add_argument(
        "--self-test",
        action="store_true",
        help="send one streamed request through the openai SDK, print it and exit",
    )

    emulator = commands.add_parser("emulator", help="run the offline chat.qwen.ai emulator")
    emulator_arguments(emulator)

    from qwen_proxy.cli import accounts as accounts_cli

    accounts = commands.add_parser("accounts", help="manage the Qwen accounts the gateway uses")
    accounts_cli.add_arguments(accounts)

    from qwen_proxy.cli import sessions as sessions_cli

    sessions = commands.add_parser("sessions", help="list, show or purge stored conversations")
    sessions_cli.add_arguments(sessions)

    from qwen_proxy.cli import keys as keys_cli

    keys = commands.add_parser("keys", help="add, list or revoke named client keys")
    keys_cli.add_arguments(keys)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qwen-proxy`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "serve":
            from qwen_proxy.server.run import serve

            return serve(settings_from_args(args), workers=args.workers)
        if args.command == "demo":
            from qwen_proxy.cli.demo import run_demo

            return run_demo(port=args.port, self_test=args.self_test)
        if args.command == "emulator":
            from qwen_proxy.emulator import cli as emulator_cli

            return emulator_cli.run(args)
        if args.command == "accounts":
            from qwen_proxy.cli import accounts as accounts_cli

            return accounts_cli.run(args)
        if args.command == "sessions":
            from qwen_proxy.cli import sessions as sessions_cli

            return sessions_cli.run(args)
        if args.command == "keys":
            from qwen_proxy.cli import keys as keys_cli

            return keys_cli.run(args)
    except SettingsError as error:
        print(f"qwen-proxy: {error}", file=sys.stderr)
        return 2
    except StartupError as error:
        print(f"qwen-proxy: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {args.command}")
    return 2
