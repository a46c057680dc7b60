"""``qwen-proxy accounts import-curl NAME [FILE]``: an account from one copied request.

In the browser, signed in at chat.qwen.ai: developer tools, Network, send a message, right-click
the ``completions`` request, Copy > Copy as cURL (bash or cmd). The command reads that text
from FILE or stdin, shows what it found with every secret masked, and saves the account (or
gives an existing one its new browser session, keeping its sign-in data and proxy).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from qwen_proxy.accounts.curl_import import ImportedSession, allowed_hosts, import_curl
from qwen_proxy.accounts.errors import CredentialsError
from qwen_proxy.accounts.status import format_time
from qwen_proxy.accounts.storage import load_accounts, save_accounts
from qwen_proxy.config import Settings

STDIN = "-"


def read_copy(source: str | None) -> str:
    """The pasted text: from a file, or from stdin (with a prompt when it is a terminal)."""
    if source not in (None, STDIN):
        return Path(source).expanduser().read_text(encoding="utf-8")
    if sys.stdin.isatty():
        print(
            "paste the request copied with Copy as cURL, then press Ctrl-D "
            "(Ctrl-Z then Enter on Windows):",
            file=sys.stderr,
        )
    text = sys.stdin.read()
    if not text.strip():
        raise CredentialsError("nothing was pasted: copy a request with Copy as cURL first")
    return text


def import_account(name: str, text: str, settings: Settings, path: Path) -> list[str]:
    """Save the account ``name`` from a copied request; the lines to print."""
    session = import_curl(text, allowed_hosts(settings.upstream_url))
    accounts = load_accounts(path)
    existing = next((a for a in accounts if a.name == name), None)
    account = session.credentials(name, existing)
    save_accounts(path, [a for a in accounts if a.name != name] + [account])
    lines = describe(session, settings)
    if existing is None:
        lines.append(f"added account {name} ({path})")
    else:
        lines.append(
            f"account {name} has a new browser session (its sign-in data and proxy are kept); "
            "a running gateway puts it back in service within seconds"
        )
    return lines


def describe(session: ImportedSession, settings: Settings) -> list[str]:
    """What was found, one line per value, secrets masked to a prefix and a length."""
    found = session.summary()
    names = session.cookie_names
    expires = found["token_expires_at"]
    until = ""
    if isinstance(expires, float):
        ended = expires <= time.time()
        until = f", {'expired' if ended else 'valid until'} {format_time(expires)}"
    rows = [
        ("token", f"{found['token']}{until}"),
        ("cookies", f"{len(names)}: {', '.join(names)}" if names else "(none)"),
        ("refresh token", found["refresh_token"]),
        ("bx-ua", found["bx_ua"]),
        ("bx-umidtoken", found["bx_umidtoken"]),
        ("bx-v", found["bx_v"] or f"(not in the copy; {settings.bx_v} is sent)"),
        ("version", found["version"] or f"(not in the copy; {settings.web_version} is sent)"),
        ("User-Agent", found["user_agent"] or "(not in the copy; the setting is sent)"),
        ("sec-ch-ua", found["sec_ch_ua"] or "(none)"),
        ("sec-ch-ua-mobile", found["sec_ch_ua_mobile"] or "(none)"),
        ("sec-ch-ua-platform", found["sec_ch_ua_platform"] or "(none)"),
        ("timezone", found["timezone"] or "(none: this machine's is sent)"),
    ]
    lines = [f"found in a request from {session.browser_name} to {session.host}:"]
    lines += [f"  {label:19} {value}" for label, value in rows]
    lines += [f"warning: {warning}" for warning in session.warnings]
    return lines
