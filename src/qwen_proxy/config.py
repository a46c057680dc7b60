"""Settings: every ``QWEN_PROXY_*`` variable, its type, its default and its validation.

The only module that reads the environment. Everything else receives a ``Settings``, which
checks itself when it is built, however it is built (``from_env``, the CLI, tests).
"""

from __future__ import annotations

import json
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

#: what the upstream's web app sends today; all of these change over time, so each is a
#: setting (an account imported from a browser sends that browser's own values instead)
DEFAULT_WEB_VERSION = "0.2.68"
#: the sign-in host runs its own app, with its own version
DEFAULT_AUTH_VERSION = "0.3.12"
DEFAULT_BX_V = "2.5.36"
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/146.0.0.0 Safari/537.36"
)
#: Claude model names (globs, first match wins) -> Qwen models: the dedicated coder model for
#: the strong families, and for the fast family the hybrid flagship with thinking off (a model
#: every account has, answering without a reasoning pass)
DEFAULT_ANTHROPIC_MODEL_MAP = (
    "claude-*opus*=qwen3-coder-plus,"
    "claude-*sonnet*=qwen3-coder-plus,"
    "claude-*haiku*=qwen3.7-plus-fast"
)
#: the prefix of every Redis key; instances sharing one prefix act as one gateway
DEFAULT_REDIS_PREFIX = "qwen-proxy:"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

#: where reasoning goes in OpenAI replies: ``delta.reasoning_content`` or ``<think>`` in content
ReasoningOutput = Literal["field", "think_tags"]
ContinueFrom = Literal["response_id", "parent_id"]
ThinkingFormat = Literal["summary", "detail"]
LogLevel = Literal["debug", "info", "warning", "error"]


class SettingsError(ValueError):
    """A setting has a value the gateway cannot run with; the message names the variable."""


class StartupError(RuntimeError):
    """The gateway cannot start here (port taken, data directory unusable); says what to do."""


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "qwen-proxy"


@dataclass(frozen=True)
class Settings:
    """The gateway's configuration. Field ``x`` is read from ``QWEN_PROXY_X``."""

    host: str = "127.0.0.1"
    port: int = 8787
    upstream_url: str = "https://chat.qwen.ai"
    #: where accounts sign in and renew their short-lived access tokens
    auth_url: str = "https://auth.qwen.ai"
    #: one account's JWT (accounts.json in the data directory holds pools)
    token: str | None = field(default=None, repr=False)
    cookies: str | None = field(default=None, repr=False)
    #: client keys; empty means no client auth (then only loopback binding is allowed)
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    admin_key: str | None = field(default=None, repr=False)
    data_dir: Path = field(default_factory=_default_data_dir)
    #: "sqlite" (default), "memory", or a redis:// URL
    store: str = "sqlite"
    #: key prefix in Redis: instances that share one prefix share conversations and accounts
    redis_prefix: str = DEFAULT_REDIS_PREFIX
    conversation_ttl: float = 30 * 24 * 3600.0
    conversation_max_nodes: int = 1_000_000
    #: which id of the reply continues a chat: "response_id" (default) or "parent_id"
    continue_from: ContinueFrom = "response_id"
    max_body_bytes: int = 20 * 1024 * 1024
    #: the largest request body sent upstream: past about 128 KB the upstream answers with a
    #: challenge, so a longer history sends its older part as an attached text file
    max_upstream_body: int = 120_000
    #: replaces the scheme and host of upload PUTs (a local object store: the emulator's
    #: ``<url>/oss``); unset, uploads go to the bucket's own host
    oss_url: str | None = None
    #: fetch image URLs that resolve to private, loopback or link-local addresses too
    fetch_private: bool = False
    #: seconds to fetch one image URL a client sent, redirects included
    fetch_timeout: float = 20.0
    #: the ``version`` header of calls to the chat host
    web_version: str = DEFAULT_WEB_VERSION
    #: the ``version`` header of calls to the auth host
    auth_version: str = DEFAULT_AUTH_VERSION
    bx_v: str = DEFAULT_BX_V
    user_agent: str = DEFAULT_USER_AGENT
    connect_timeout: float = 10.0
    #: until the upstream's first byte
    first_byte_timeout: float = 60.0
    #: between two reads once the stream runs (thinking can pause for long)
    idle_timeout: float = 120.0
    #: from the request to the reply's first content (text, reasoning or sources), all
    #: attempts together: keep-alive comments or empty events do not stretch it
    first_content_timeout: float = 180.0
    retries: int = 2
    backoff_base: float = 0.25
    backoff_max: float = 4.0
    models_ttl: float = 300.0
    #: "field" (delta.reasoning_content) or "think_tags" (<think>...</think> in content)
    reasoning_output: ReasoningOutput = "field"
    #: what the upstream sends as thinking: "summary" (the web app's default, cumulative summary
    #: arrays) or "detail" (the incremental ``think`` phase)
    thinking_format: ThinkingFormat = "summary"
    account_max_concurrent: int = 4
    account_min_interval: float = 0.0
    #: at most one password sign-in per this many seconds, across all accounts (the upstream
    #: walls off an address that signs in often; renewals from the cookie jar are not paced)
    signin_interval: float = 45.0
    keep_alive: int = 75
    log_level: LogLevel = "info"
    #: Claude model names the Anthropic face maps to Qwen models: ``glob=model`` pairs,
    #: comma-separated, or a JSON object; first match wins (see ``parse_model_map``)
    anthropic_model_map: str = DEFAULT_ANTHROPIC_MODEL_MAP
    #: seconds of silence after which an Anthropic stream sends a ``ping`` event
    ping_interval: float = 10.0
    #: seconds between two passes deleting the upstream chats the gateway created and no live
    #: conversation uses any more (0 turns the cleanup off)
    cleanup_interval: float = 3600.0
    #: seconds between two chat deletions on one account (the cleanup never hurries an account)
    cleanup_pace: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_type(f.name, getattr(self, f.name), _hints()[f.name])
        self._check_values()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``QWEN_PROXY_*`` variables, then apply explicit overrides."""
        env = os.environ if env is None else env
        hints = _hints()
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(variable(f.name))
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, raw, hints[f.name])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def _check_values(self) -> None:
        """Raise SettingsError for values the gateway cannot run with."""
        if not self.api_keys and self.host not in LOOPBACK_HOSTS:
            raise SettingsError(
                f"refusing to listen on {self.host} without client keys: anyone who can reach "
                "it could use your Qwen accounts. Set QWEN_PROXY_API_KEYS (comma-separated) "
                "or bind to 127.0.0.1."
            )
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"QWEN_PROXY_PORT must be 0-65535, got {self.port}")
        if not self.upstream_url.startswith(("http://", "https://")):
            raise SettingsError("QWEN_PROXY_UPSTREAM_URL must start with http:// or https://")
        if not self.auth_url.startswith(("http://", "https://")):
            raise SettingsError("QWEN_PROXY_AUTH_URL must start with http:// or https://")
        if self.store not in ("sqlite", "memory") and not self.store.startswith(REDIS_SCHEMES):
            raise SettingsError(
                f"QWEN_PROXY_STORE must be sqlite, memory or a redis:// URL, got {self.store!r}"
            )
        if self.max_body_bytes < 1024:
            raise SettingsError("QWEN_PROXY_MAX_BODY_BYTES must be at least 1024")
        if self.max_upstream_body < 16_384:
            raise SettingsError("QWEN_PROXY_MAX_UPSTREAM_BODY must be at least 16384")
        if self.oss_url is not None and not self.oss_url.startswith(("http://", "https://")):
            raise SettingsError("QWEN_PROXY_OSS_URL must start with http:// or https://")
        for name in (
            "retries",
            "account_min_interval",
            "backoff_base",
            "backoff_max",
            "cleanup_interval",
            "cleanup_pace",
            "signin_interval",
        ):
            if getattr(self, name) < 0:
                raise SettingsError(f"{variable(name)} must be 0 or more")
        for name in (
            "conversation_ttl",
            "conversation_max_nodes",
            "connect_timeout",
            "first_byte_timeout",
            "first_content_timeout",
            "idle_timeout",
            "account_max_concurrent",
            "keep_alive",
            "ping_interval",
            "fetch_timeout",
        ):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{variable(name)} must be more than 0")

        parse_model_map(self.anthropic_model_map)

    @property
    def anthropic_models(self) -> tuple[tuple[str, str], ...]:
        """The Anthropic model map as (glob, Qwen model) pairs, in order."""
        return parse_model_map(self.anthropic_model_map)

    @property
    def uses_redis(self) -> bool:
        """True when the store is a Redis URL (then account state is shared through it too)."""
        return self.store.startswith(REDIS_SCHEMES)

    def to_env(self) -> dict[str, str]:
        """Every setting as ``QWEN_PROXY_*`` variables (worker processes rebuild from them)."""
        env = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, tuple):
                value = ",".join(value)
            elif isinstance(value, bool):
                value = "1" if value else "0"
            env[variable(f.name)] = str(value)
        return env

    @property
    def upstream_base(self) -> str:
        """The upstream URL without a trailing slash."""
        return self.upstream_url.rstrip("/")

    @property
    def auth_base(self) -> str:
        """The auth host's URL without a trailing slash."""
        return self.auth_url.rstrip("/")


def parse_model_map(text: str) -> tuple[tuple[str, str], ...]:
    """``"claude-sonnet-*=qwen3-coder-plus,..."`` or ``{"claude-sonnet-*": "..."}`` as
    (glob, model) pairs; SettingsError names the variable for anything else."""
    name = variable("anthropic_model_map")
    text = text.strip()
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except ValueError:
            raise SettingsError(f"{name} is not valid JSON") from None
        if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
            raise SettingsError(f"{name} must map model names to model names")
        pairs = [(str(k).strip(), v.strip()) for k, v in loaded.items()]
    else:
        pairs = []
        for item in text.split(","):
            if not item.strip():
                continue
            pattern, sep, model = item.partition("=")
            if not sep:
                raise SettingsError(f"{name}: {item.strip()!r} is not 'pattern=model'")
            pairs.append((pattern.strip(), model.strip()))
    for pattern, model in pairs:
        if not pattern or not model:
            raise SettingsError(f"{name}: every entry needs a pattern and a model")
    return tuple(pairs)


def variable(name: str) -> str:
    """The environment variable of the setting ``name``."""
    return "QWEN_PROXY_" + name.upper()


def _hints() -> dict[str, Any]:
    # resolved once: the annotations are strings under ``from __future__ import annotations``
    global _HINTS
    if _HINTS is None:
        _HINTS = typing.get_type_hints(Settings)
    return _HINTS


_HINTS: dict[str, Any] | None = None


def _convert(name: str, raw: str, kind: Any) -> Any:
    """The value of variable ``name`` given as text, as the setting's type wants it."""
    kind = next(option for option in _options(kind) if option is not type(None))
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{variable(name)} must be 1 or 0 (true or false), got {raw!r}")
    try:
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
    except ValueError:
        raise SettingsError(f"{variable(name)} must be a number, got {raw!r}") from None
    if kind is Path:
        return Path(raw).expanduser()
    if get_origin(kind) is tuple:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if get_origin(kind) is Literal:
        return raw.strip().lower()
    return raw


def _options(kind: Any) -> tuple[Any, ...]:
    """The types an annotation allows (``str | None`` -> str, NoneType)."""
    if get_origin(kind) in (typing.Union, types.UnionType):
        return get_args(kind)
    return (kind,)


def _check_type(name: str, value: Any, kind: Any) -> None:
    """Raise SettingsError unless ``value`` fits the annotation (Literals by their values)."""
    for option in _options(kind):
        if option is type(None) and value is None:
            return
        if get_origin(option) is Literal:
            if value in get_args(option):
                return
            choices = ", ".join(get_args(option))
            raise SettingsError(f"{variable(name)} must be one of {choices}, got {value!r}")
        if get_origin(option) is tuple:
            if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
                return
            continue
        if option is bool and isinstance(value, bool):
            return
        if option is float and isinstance(value, int) and not isinstance(value, bool):
            return
        if isinstance(option, type) and isinstance(value, option) and not isinstance(value, bool):
            return
    raise SettingsError(f"{variable(name)} has the wrong type: {type(value).__name__}")
