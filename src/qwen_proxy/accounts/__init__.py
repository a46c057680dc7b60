"""Qwen web accounts: browser sessions and their storage, health, cool-downs and selection."""

from qwen_proxy.accounts.clock import ManualClock
from qwen_proxy.accounts.cookies import (
    BrowserCookies,
    format_cookie_header,
    import_cookies,
    parse_cookie_string,
    token_from_cookies,
)
from qwen_proxy.accounts.credentials import Credentials, CredentialsError, mask_email, mask_secret
from qwen_proxy.accounts.errors import NoAccountAvailable, OwnerUnavailable
from qwen_proxy.accounts.jwt import token_claims, token_expiry
from qwen_proxy.accounts.lease import Lease
from qwen_proxy.accounts.outcome import Outcome, OutcomeKind
from qwen_proxy.accounts.pool import AccountPool
from qwen_proxy.accounts.state import AccountState, Cooldown, CooldownPolicy, Health
from qwen_proxy.accounts.status import AccountStatus
from qwen_proxy.accounts.storage import (
    accounts_path,
    load_accounts,
    migrate_accounts_file,
    save_accounts,
)
from qwen_proxy.accounts.store import AccountStateStore, InMemoryStateStore

__all__ = [
    "AccountPool",
    "AccountState",
    "AccountStateStore",
    "AccountStatus",
    "BrowserCookies",
    "Cooldown",
    "CooldownPolicy",
    "Credentials",
    "CredentialsError",
    "Health",
    "InMemoryStateStore",
    "Lease",
    "ManualClock",
    "NoAccountAvailable",
    "Outcome",
    "OutcomeKind",
    "OwnerUnavailable",
    "accounts_path",
    "format_cookie_header",
    "import_cookies",
    "load_accounts",
    "mask_email",
    "mask_secret",
    "migrate_accounts_file",
    "parse_cookie_string",
    "save_accounts",
    "token_claims",
    "token_expiry",
    "token_from_cookies",
]
