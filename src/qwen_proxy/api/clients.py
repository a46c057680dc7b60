"""Who is calling: no client keys (one local user), a QWEN_PROXY_API_KEYS key, or a named key.

Keys from the environment are unlimited and never stored; named keys come from the key store
(``keys``) and carry limits, a model list and an expiry. A revoked or expired named key, like a
wrong one, is a 401 ``invalid_api_key``.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Sequence

from qwen_proxy.api.http import Scope
from qwen_proxy.api.requests import header
from qwen_proxy.errors import AuthenticationFailed, ServiceUnavailable
from qwen_proxy.keys import KeyRegistry
from qwen_proxy.service.caller import ENV_KEY_LABEL, LOCAL_LABEL, Caller, UsageBook

#: the conversation namespace when client keys are off (one user, or one trusted host)
LOCAL_TENANT = "local"


def presented_key(scope: Scope) -> str | None:
    """The key a request presents: ``Authorization: Bearer`` or Anthropic's ``x-api-key``."""
    scheme, _, key = (header(scope, b"authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        return key.strip()
    other = header(scope, b"x-api-key")
    return other.strip() if other and other.strip() else None


class ClientAuth:
    """Identifies the caller of a request from its key."""

    def __init__(
        self,
        env_keys: Sequence[str],
        registry: KeyRegistry,
        tenant_of: Callable[[str], str],
        book: UsageBook,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._env_keys = [key.encode() for key in env_keys]
        self.registry = registry
        self._tenant_of = tenant_of
        self.book = book
        self._clock = clock
        self.local = Caller(LOCAL_TENANT, LOCAL_LABEL)

    @property
    def required(self) -> bool:
        """True when a caller must present a key: environment keys or a named key exist, or
        the named keys could not be read yet (fail closed)."""
        registry = self.registry
        return bool(self._env_keys) or registry.active or not registry.loaded

    def identify(self, scope: Scope) -> Caller:
        """The caller of this request, or AuthenticationFailed (401)."""
        if not self.required:
            return self.local
        if not self.registry.loaded and not self._env_keys:
            raise _keys_unreadable()
        key = presented_key(scope)
        if key is None:
            raise AuthenticationFailed(
                "Missing API key: send 'Authorization: Bearer <key>' with one of the "
                "gateway's client keys."
            )
        supplied = key.encode()
        # every environment key is compared, in constant time, whichever matches
        if any([hmac.compare_digest(supplied, known) for known in self._env_keys]):
            return Caller(self._tenant_of(key), ENV_KEY_LABEL)
        if not self.registry.loaded:
            raise _keys_unreadable()
        named = self.registry.lookup(key)
        if named is None:
            raise AuthenticationFailed("Incorrect API key provided.")
        if named.revoked_at is not None:
            raise AuthenticationFailed(f"The API key '{named.name}' has been revoked.")
        if not named.usable(self._clock()):
            raise AuthenticationFailed(f"The API key '{named.name}' has expired.")
        return Caller(self._tenant_of(key), named.name, named, self.book)


def _keys_unreadable() -> ServiceUnavailable:
    # fail closed: without its keys the gateway cannot tell who may call it
    return ServiceUnavailable(
        "The gateway could not read its client keys (see its log); it answers 503 until it can.",
        code="store_unavailable",
    )
