"""The keys a running gateway knows, looked up by digest, reloaded when their store changes."""

from __future__ import annotations

import logging

from qwen_proxy.keys.model import ClientKey, hash_key
from qwen_proxy.keys.store import KeyStore

log = logging.getLogger("qwen_proxy.keys")


class KeyRegistry:
    """An in-memory copy of the stored keys; ``refresh`` follows the store's changes."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self._by_digest: dict[str, ClientKey] = {}
        self._version: str | None = None
        self._active = False

    @property
    def loaded(self) -> bool:
        """True once the keys were read (until then, no named key can be checked)."""
        return self._version is not None

    @property
    def active(self) -> bool:
        """True when a key that is not revoked is stored (then callers must present a key)."""
        return self._active

    def lookup(self, secret: str) -> ClientKey | None:
        """The stored key whose digest ``secret`` has (revoked and expired ones included).

        The secret is hashed first, so the dict lookup compares digests, not secrets.
        """
        return self._by_digest.get(hash_key(secret))

    async def refresh(self) -> bool:
        """Reload the keys when the store's version changed; True when they were reloaded."""
        version = await self.store.version()
        if version == self._version:
            return False
        keys = await self.store.keys()
        self._by_digest = {key.digest: key for key in keys}
        self._active = any(key.revoked_at is None for key in keys)
        if self._version is not None:
            log.info("client keys changed; %d key(s) now known", len(keys))
        self._version = version
        return True
