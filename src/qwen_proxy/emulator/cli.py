"""``qwen-proxy emulator``: serve the offline service on a port; print the URL and an account."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable

from aiohttp import web

from qwen_proxy.emulator.app import create_app
from qwen_proxy.emulator.arguments import add_arguments
from qwen_proxy.emulator.config import Account, EmulatorConfig
from qwen_proxy.emulator.faults import UnknownFault, parse_cli_fault
from qwen_proxy.emulator.state import STATE_KEY


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """The config the flags describe."""
    if args.accounts_file is not None:
        items = json.loads(args.accounts_file.read_text())
        accounts = [Account(i["email"], i["password"], name=i.get("name", "")) for i in items]
    else:
        accounts = EmulatorConfig.default().accounts
        accounts += [
            Account(f"user{i}@example.com", f"password-{i}") for i in range(2, args.accounts + 1)
        ]
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        seed=args.seed,
        accounts=accounts,
        fragment=not args.no_fragment,
        ttfb=args.ttfb,
        event_delay=args.event_delay,
        record=not args.no_record,
        delta_max=args.delta_max,
        answer_length=args.answer_length,
        auth_error_form=args.auth_error,
        faults=list(args.fault),
        auth_era=args.auth_era,
        access_token_ttl=args.access_token_ttl,
        max_request_body=args.max_request_body,
    )


async def serve(config: EmulatorConfig) -> None:
    """Serve until cancelled; prints the URL and the first account."""
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    port = runner.addresses[0][1]
    account = next(iter(app[STATE_KEY].accounts.values()))
    # sample test data, not a real credential: printing it is the point
    print(f"qwen emulator on http://{config.host}:{port}", flush=True)
    print(f"account: {account.email} / {account.password}", flush=True)
    print(f"token: {account.token}", flush=True)
    if config.browser_sessions:
        print(f"auth host: http://{config.host}:{port}{config.auth_prefix}", flush=True)
        print(
            "write calls need the account's browser session: "
            f"GET http://{config.host}:{port}/__emulator__/accounts shows its cookies and bx-*",
            flush=True,
        )
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def run(args: argparse.Namespace) -> int:
    """Run the emulator the flags describe; the process exit code."""
    try:
        for text in args.fault:
            parse_cli_fault(text)
        config = config_from_args(args)
    except (UnknownFault, OSError, ValueError, KeyError) as exc:
        print(f"emulator: {exc}")
        return 2
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        pass  # plain asyncio is slower but works
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(serve(config))
    except KeyboardInterrupt:
        return 0
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m qwen_proxy.emulator``."""
    parser = argparse.ArgumentParser(prog="qwen-proxy emulator", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))
