"""Named client keys: who may call the gateway, with which limits, and what each has used.

A key is stored only as its SHA-256 digest, beside a name and its limits: in ``keys.json`` in
the data directory, or in Redis when the conversation store is Redis (then every instance sees
the same keys and shares the same limit counters).
"""

from qwen_proxy.keys.factory import open_key_store, open_limiter
from qwen_proxy.keys.limits import Admission, MemoryLimiter, RateLimiter
from qwen_proxy.keys.manage import add_key, key_rows, parse_expiry, parse_models, revoke_key
from qwen_proxy.keys.model import (
    ClientKey,
    KeyError_,
    KeyUsage,
    UsageDelta,
    hash_key,
    new_key,
)
from qwen_proxy.keys.registry import KeyRegistry
from qwen_proxy.keys.store import KeyStore

__all__ = [
    "Admission",
    "ClientKey",
    "KeyError_",
    "KeyRegistry",
    "KeyStore",
    "KeyUsage",
    "MemoryLimiter",
    "RateLimiter",
    "UsageDelta",
    "add_key",
    "hash_key",
    "key_rows",
    "new_key",
    "open_key_store",
    "open_limiter",
    "parse_expiry",
    "parse_models",
    "revoke_key",
]
