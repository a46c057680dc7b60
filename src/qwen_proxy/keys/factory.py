"""Open the key store and the limiter that go with a store setting: files, or Redis."""

from __future__ import annotations

from pathlib import Path

from qwen_proxy.keys.limits import MemoryLimiter, RateLimiter
from qwen_proxy.keys.store import KeyStore

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def open_key_store(store: str, *, data_dir: Path, redis_prefix: str) -> KeyStore:
    """Redis when the conversation store is Redis (instances share keys), else the data dir."""
    if store.startswith(REDIS_SCHEMES):
        from qwen_proxy.keys.redis import RedisKeyStore

        return RedisKeyStore(store, prefix=redis_prefix)
    from qwen_proxy.keys.file import FileKeyStore

    return FileKeyStore(data_dir)


def open_limiter(store: str, *, redis_prefix: str) -> RateLimiter:
    """Counters in Redis when the store is Redis (limits hold across instances), else here."""
    if store.startswith(REDIS_SCHEMES):
        from qwen_proxy.keys.redis_limits import RedisLimiter

        return RedisLimiter(store, prefix=redis_prefix)
    return MemoryLimiter()
