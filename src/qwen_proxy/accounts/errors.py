"""Errors of accounts: unusable credentials, and the pool's, in the gateway's hierarchy."""

from __future__ import annotations

from qwen_proxy.errors import ServiceUnavailable


class CredentialsError(ValueError):
    """Credentials or an accounts file cannot be used; the message never holds a secret.

    ``field`` names the credential field at fault, when one is (an API error's ``param``).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NoAccountAvailable(ServiceUnavailable):
    """No account can serve the request; the message says why, per state, in short."""

    code = "no_account_available"

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message, retry_after=retry_after)
        # nothing is expected back by itself: an operator must act, client retries cannot help
        self.should_retry = None if retry_after is not None else False


class OwnerUnavailable(ServiceUnavailable):
    """The account that owns a chat cannot continue it now; the caller starts a new chat."""

    code = "account_unavailable"

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"account {name} cannot continue this chat now: {reason}")
        self.name = name
        self.reason = reason
