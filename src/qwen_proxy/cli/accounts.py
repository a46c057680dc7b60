"""``qwen-proxy accounts``: add (one pasted request, or a token), list, remove, check accounts.

Operates on ``<data dir>/accounts.json`` (owner-only). A running gateway notices the file's
changes within seconds (it polls its signature), so the CLI works while it serves. Secrets are
read from files or stdin, never required on the command line, and never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from qwen_proxy.accounts.check import CheckResult, check_account
from qwen_proxy.accounts.cookies import import_cookies
from qwen_proxy.accounts.credentials import (
    Credentials,
    CredentialsError,
    mask_email,
    redact_proxy,
)
from qwen_proxy.accounts.jwt import token_claims, token_expiry
from qwen_proxy.accounts.status import ENV_ACCOUNT, format_time, session_fix
from qwen_proxy.accounts.storage import accounts_path, load_accounts, save_accounts
from qwen_proxy.cli import import_curl
from qwen_proxy.config import Settings

STDIN = "-"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``accounts`` subcommand's own subcommands."""
    parser.add_argument("--data-dir", help="the gateway's data directory (QWEN_PROXY_DATA_DIR)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    paste = actions.add_parser(
        "import-curl",
        help="add an account from one request copied with Copy as cURL (or give an account "
        "a new browser session)",
        description=import_curl.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    paste.add_argument("name", help="a short name without spaces")
    paste.add_argument("file", nargs="?", help="the copied command (default: stdin)")

    add = actions.add_parser("add", help="add an account, or replace one of the same name")
    add.add_argument("--name", required=True, help="a short name without spaces")
    token = add.add_mutually_exclusive_group()
    token.add_argument("--token", help="the JWT, or - to read it from stdin (safer)")
    token.add_argument("--token-file", help="read the JWT from this file")
    add.add_argument("--cookies", help="browser cookie string, or - for stdin")
    add.add_argument("--cookies-file", help="browser cookies (header, JSON export, cookies.txt)")
    add.add_argument("--email", help="the account's email (for sign-in renewal)")
    add.add_argument("--password-file", help="file holding the password (- for stdin)")
    add.add_argument("--proxy", help="HTTP proxy URL for this account's upstream calls")

    listing = actions.add_parser("list", help="accounts with state, expiry, requests, failures")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.add_argument(
        "--gateway",
        help="running gateway to ask for live state (default http://HOST:PORT from settings; "
        "needs QWEN_PROXY_ADMIN_KEY)",
    )

    remove = actions.add_parser("remove", help="delete an account")
    remove.add_argument("name")

    check = actions.add_parser("check", help="ask the upstream whether each token works")
    check.add_argument("name", nargs="?", help="only this account")
    check.add_argument("--upstream-url", help="Qwen base URL (QWEN_PROXY_UPSTREAM_URL)")
    check.add_argument("--json", action="store_true", help="machine-readable output")

    cookies = actions.add_parser(
        "import-cookies", help="fresh browser cookies for an account (after a captcha)"
    )
    cookies.add_argument("name", nargs="?", help="the account")
    cookies.add_argument("source", nargs="?", help="- to read the cookies from stdin")
    cookies.add_argument("--name", dest="name_option", help="the account (same as NAME)")
    cookies.add_argument("--file", help="cookie header, JSON export or cookies.txt")


def run(args: argparse.Namespace) -> int:
    """Carry out ``accounts import-curl|add|list|remove|check|import-cookies``."""
    data_dir = Path(args.data_dir).expanduser() if args.data_dir else None
    settings = Settings.from_env(
        data_dir=data_dir, upstream_url=getattr(args, "upstream_url", None)
    )
    path = accounts_path(settings.data_dir)
    try:
        if args.action == "add":
            return _add(args, path)
        if args.action == "list":
            return _list(args, settings, path)
        if args.action == "remove":
            return _remove(args.name, path)
        if args.action == "check":
            return asyncio.run(_check(args, settings, path))
        if args.action == "import-curl":
            text = import_curl.read_copy(args.file)
            print("\n".join(import_curl.import_account(args.name, text, settings, path)))
            return 0
        return _import_cookies(args, path)
    except CredentialsError as error:
        print(f"qwen-proxy accounts: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"qwen-proxy accounts: {error.strerror or error} ({error.filename})", file=sys.stderr)
        return 2


def _read_secret(value: str | None, file: str | None, what: str) -> str | None:
    """A secret from ``-`` (stdin), a file, or the value itself; stripped."""
    if file is not None:
        text = sys.stdin.read() if file == STDIN else Path(file).expanduser().read_text()
    elif value == STDIN:
        if sys.stdin.isatty():
            print(f"paste the {what}, then Ctrl-D:", file=sys.stderr)
        text = sys.stdin.read()
    else:
        return value
    text = text.strip()
    if not text:
        raise CredentialsError(f"the {what} is empty")
    return text


def _add(args: argparse.Namespace, path: Path) -> int:
    sources = [args.token, args.token_file, args.cookies, args.cookies_file, args.password_file]
    if sum(source == STDIN for source in sources) > 1:
        raise CredentialsError("only one secret can come from stdin")
    token = _read_secret(args.token, args.token_file, "token")
    raw_cookies = _read_secret(args.cookies, args.cookies_file, "cookies")
    cookies = import_cookies(raw_cookies) if raw_cookies else None
    password = _read_secret(None, args.password_file, "password")
    if not token and cookies is not None:
        token = cookies.token
    account = Credentials(
        name=args.name,
        token=token or "",
        cookies=cookies.header if cookies else None,
        email=args.email,
        password=password,
        proxy=args.proxy,
    )
    accounts = load_accounts(path)
    replaced = any(a.name == account.name for a in accounts)
    accounts = [a for a in accounts if a.name != account.name] + [account]
    save_accounts(path, accounts)
    expires = token_expiry(account.token) if account.token else None
    until = f", token valid until {format_time(expires)}" if expires else ""
    print(f"{'replaced' if replaced else 'added'} account {account.name}{until} ({path})")
    if account.token and token_claims(account.token) is None:
        print(
            "qwen-proxy accounts: warning: the token is not a JWT (Qwen's start with 'eyJ' and "
            "have three dot-separated parts); check that the whole value was copied",
            file=sys.stderr,
        )
    return 0


def _remove(name: str, path: Path) -> int:
    accounts = load_accounts(path)
    kept = [a for a in accounts if a.name != name]
    if len(kept) == len(accounts):
        print(f"qwen-proxy accounts: no account named {name!r}", file=sys.stderr)
        return 1
    save_accounts(path, kept)
    print(f"removed account {name}")
    return 0


def _import_cookies(args: argparse.Namespace, path: Path) -> int:
    name = args.name_option or args.name
    source = args.source
    if args.name_option and args.name == STDIN:
        source = STDIN
    if not name:
        raise CredentialsError("name the account: import-cookies NAME (--file F | -)")
    text = _read_secret(STDIN if args.file is None else None, args.file, "cookies")
    if source not in (None, STDIN):
        raise CredentialsError(f"unexpected argument {source!r}; use --file F or -")
    cookies = import_cookies(text or "")
    accounts = load_accounts(path)
    found = next((a for a in accounts if a.name == name), None)
    if found is None:
        print(f"qwen-proxy accounts: no account named {name!r}", file=sys.stderr)
        return 1
    updated = replace(found, cookies=cookies.header, token=cookies.token or found.token)
    save_accounts(path, [updated if a.name == name else a for a in accounts])
    fresh = " and token" if cookies.token and cookies.token != found.token else ""
    if fresh:
        print(
            f"qwen-proxy accounts: note: the cookies carry a token (the 'token' cookie); it "
            f"replaces the token stored for {name}",
            file=sys.stderr,
        )
    print(
        f"imported cookies{fresh} for {name}; a running gateway puts it back in service "
        "within seconds"
    )
    return 0


# -- list --------------------------------------------------------------------------------


def _list(args: argparse.Namespace, settings: Settings, path: Path) -> int:
    rows = _live_rows(args.gateway, settings)
    if rows is None:
        if args.gateway:
            # asked for a gateway's live view: never pass the file off as it without a word
            print(
                f"qwen-proxy accounts: could not read {args.gateway.rstrip('/')}/admin/accounts "
                "(is the gateway running there, with this QWEN_PROXY_ADMIN_KEY?); showing what "
                f"{path} says instead",
                file=sys.stderr,
            )
        rows = _stored_rows(settings, path)
    if args.json:
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return 0
    if not rows:
        print(
            f"no accounts in {path}, and QWEN_PROXY_TOKEN is not set; add one with "
            "`qwen-proxy accounts import-curl NAME`"
        )
        return 0
    now = time.time()
    print(f"{'name':14} {'state':14} {'email':24} {'expires':22} {'requests':>8} {'failures':>8}")
    for row in rows:
        expires = row.get("expires_at")
        shown = format_time(float(expires), now) if isinstance(expires, int | float) else "-"
        print(
            f"{row['name']:14.14} {row['state']:14.14} {row.get('email') or '-':24.24} "
            f"{shown:22} {_cell(row.get('requests')):>8} {_cell(row.get('failures')):>8}"
        )
        if row.get("verify_url"):
            print(f"    verify in a browser: {row['verify_url']}")
        if row.get("message"):
            print(f"    {row['message']}")
        memory = _memory_line(row)
        if memory:
            print(f"    {memory}")
    return 0


def _memory_line(row: dict[str, Any]) -> str | None:
    """What the operator should know about Qwen's memory and tools for this account."""
    memory = row.get("memory")
    if memory == "pending":
        return "Qwen's memory and tools: switched off before its first request"
    if memory == "failed":
        reason = row.get("memory_message") or "unknown reason"
        return f"Qwen's memory and tools: could not be switched off ({reason}); retried later"
    return None


def _stored_rows(settings: Settings, path: Path) -> list[dict[str, Any]]:
    """What the file (and QWEN_PROXY_TOKEN) say when no running gateway is asked."""
    stored = load_accounts(path)
    rows = []
    if settings.token:
        env = Credentials(name=ENV_ACCOUNT, token=settings.token, cookies=settings.cookies)
        row = _file_row(env)
        row["state"] = "expired" if row["state"] == "expired" else "from env"
        rows.append(row)
    for account in stored:
        row = _file_row(account)
        if settings.token and account.name == ENV_ACCOUNT:
            row["state"] = "shadowed"
            row["message"] = "QWEN_PROXY_TOKEN takes its place; rename it to use it"
        rows.append(row)
    return rows


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def _live_rows(url: str | None, settings: Settings) -> list[dict[str, Any]] | None:
    """The running gateway's rows (live state), or None when it cannot be asked."""
    if not settings.admin_key:
        return None
    base = (url or f"http://{settings.host}:{settings.port}").rstrip("/")
    request = urllib.request.Request(
        base + "/admin/accounts", headers={"Authorization": f"Bearer {settings.admin_key}"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=3) as response:
            data = orjson.loads(response.read())
    except (OSError, ValueError):
        return None
    rows = data.get("data") if isinstance(data, dict) else None
    return rows if isinstance(rows, list) else None


def _file_row(account: Credentials) -> dict[str, Any]:
    """What the file alone says (no gateway reached): expiry from the JWT, no counters."""
    expires = token_expiry(account.token) if account.token else None
    expired = expires is not None and expires <= time.time()
    renewable = account.can_refresh or account.can_sign_in
    message = None
    if expired:
        fix = "a running gateway renews it" if renewable else session_fix(account.name)
        message = f"token expired; {fix}"
    return {
        "name": account.name,
        "state": "expired" if expired else "stored",
        "email": mask_email(account.email),
        "expires_at": expires,
        "can_sign_in": account.can_sign_in,
        "can_refresh": account.can_refresh,
        "proxy": redact_proxy(account.proxy),
        "requests": None,
        "failures": None,
        "message": message,
    }


# -- check -------------------------------------------------------------------------------


async def _check(args: argparse.Namespace, settings: Settings, path: Path) -> int:
    from qwen_proxy.qwen.client import QwenClient

    accounts = load_accounts(path)
    if args.name is not None:
        accounts = [a for a in accounts if a.name == args.name]
        if not accounts:
            print(f"qwen-proxy accounts: no account named {args.name!r}", file=sys.stderr)
            return 1
    client = QwenClient(settings)
    await client.start()
    try:
        results = [await check_account(client.verify, account) for account in accounts]
    finally:
        await client.close()
    if args.json:
        print(orjson.dumps([r.to_dict() for r in results], option=orjson.OPT_INDENT_2).decode())
    else:
        for result in results:
            print(_check_line(result))
    return 0 if all(r.ok for r in results) else 1


def _check_line(result: CheckResult) -> str:
    line = f"{result.name:14} {result.result:12} {result.message}"
    if result.verify_url:
        line += f"\n    verify in a browser: {result.verify_url}"
    return line
