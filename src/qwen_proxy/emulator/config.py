"""Settings of one emulator instance: accounts, seed, timing knobs, switches and the era.

The only place the emulator's defaults live; the CLI and the test handle build one of these.

The era says which upstream is emulated. ``2026-06``: a long-lived JWT alone (Bearer or the
``token`` cookie) opens every route. ``2026-10`` (the default, the upstream since the end of
September 2026): access tokens live 15 minutes and are renewed from a refresh-token cookie at
the auth host (this server under ``auth_prefix``); write routes answer the firewall's slider
page unless they carry the browser's ``bx-*`` values and the cookie jar of the session that
minted the token; the ``version`` header is required; errors come in 200s with the real status
in ``x-actual-status-code``; bodies over ``max_request_body`` get the challenge.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

#: how auth failures are answered (clients report both): 401 ``{"detail"}`` or 200 ``Unauthorized``
AuthErrorForm = Literal["detail", "unauthorized"]
#: which upstream is emulated (see the module docstring)
AuthEra = Literal["2026-06", "2026-10"]
AUTH_ERAS: tuple[AuthEra, ...] = ("2026-06", "2026-10")

DEFAULT_SECRET = "qwen-proxy-emulator-secret"
THIRTY_DAYS = 30 * 24 * 3600
FIFTEEN_MINUTES = 15 * 60
#: the request body size over which the upstream answers a write call with a challenge
BODY_CAP = 128 * 1024


def default_settings() -> dict[str, Any]:
    """A fresh account's settings: memory and the built-in tools on, as the web app ships."""
    return {
        "memory": {"enable_memory": True, "enable_history_memory": True},
        "tools_enabled": {
            "web_search": True,
            "image_gen_tool": True,
            "code_interpreter": True,
            "web_extractor": True,
        },
        "mcp": {},
    }


@dataclass
class Account:
    """A Qwen web account the emulator knows. ``token`` is minted when the emulator starts."""

    email: str
    password: str
    user_id: str = ""
    name: str = ""
    token: str = ""
    last_password_change: int = 1_780_000_000
    #: the browser session the account was handed at start (2026-10 era), see ``sessions``
    sample_session: str = ""
    #: the account's own settings (memory, built-in tools), as the settings route left them
    settings: dict[str, Any] = field(default_factory=default_settings)

    def __post_init__(self) -> None:
        if not self.user_id:
            # stable per email, so restarts with the same accounts keep the same ids
            self.user_id = str(
                uuid.UUID(bytes=hashlib.md5(self.email.encode()).digest(), version=4)
            )
        if not self.name:
            self.name = self.email.split("@", 1)[0]


@dataclass
class Knobs:
    """Timing and shape knobs that can change while the emulator runs."""

    #: seconds before the first byte of a completion
    ttfb: float = 0.0
    #: seconds between two events of a stream
    event_delay: float = 0.0
    #: answer deltas carry between ``delta_min`` and ``delta_max`` characters (seeded)
    delta_min: int = 1
    delta_max: int = 6
    #: when set, the default answer is replaced by a deterministic text of this many characters
    answer_length: int | None = None
    #: cut writes at seeded arbitrary byte positions
    fragment: bool = True
    #: keep a record of every request
    record: bool = True
    #: the v2 upload-grant route exists (off: it answers 404, as older deployments did)
    sts_v2: bool = True
    #: seconds an uploaded document takes to parse
    parse_delay: float = 0.0
    #: images each account may make a day (``t2i`` and ``image_edit`` turns)
    image_quota: int = 50


@dataclass
class EmulatorConfig:
    """Everything one emulator instance needs; pass it to ``create_app`` or ``running_emulator``."""

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 0
    accounts: list[Account] = field(default_factory=list)
    fragment: bool = True
    ttfb: float = 0.0
    event_delay: float = 0.0
    record: bool = True
    delta_min: int = 1
    delta_max: int = 6
    answer_length: int | None = None
    #: how many requests the record buffer keeps
    record_limit: int = 2000
    #: HS256 key for the JWTs
    secret: str = DEFAULT_SECRET
    token_ttl: int = THIRTY_DAYS
    auth_error_form: AuthErrorForm = "detail"
    #: when set, every ``timestamp`` in replies uses this value (byte-exact comparisons)
    fixed_time: int | None = None
    #: largest accepted upload, bytes
    max_upload: int = 20 * 1024 * 1024
    #: global faults as ``NAME[:k=v,...]`` strings (the CLI's ``--fault``)
    faults: list[str] = field(default_factory=list)
    #: which upstream to be (``2026-10``: browser sessions, short tokens, firewall gates)
    auth_era: AuthEra = "2026-10"
    #: 2026-10: seconds an access token lives (tests use a few)
    access_token_ttl: int = FIFTEEN_MINUTES
    #: 2026-10: seconds a refresh token lives
    refresh_token_ttl: int = THIRTY_DAYS
    #: 2026-10: whether a refresh hands out a new refresh token (the old one then stops working)
    rotate_refresh_token: bool = False
    #: 2026-10: the auth host is this same server under this path prefix
    auth_prefix: str = "/auth"
    #: 2026-10: write calls with a bigger body get the challenge
    max_request_body: int = BODY_CAP
    #: the ``Domain`` of the auth cookies (None: host-only, as a local server must set them)
    cookie_domain: str | None = None

    def __post_init__(self) -> None:
        if self.auth_era not in AUTH_ERAS:
            raise ValueError(f"unknown auth era {self.auth_era!r}; use one of {AUTH_ERAS}")
        if not self.auth_prefix.startswith("/") or self.auth_prefix.rstrip("/") == "":
            raise ValueError("auth_prefix must be a path such as /auth")

    @classmethod
    def default(cls, **overrides: Any) -> EmulatorConfig:
        """One sample account ``demo@example.com`` / ``demo-password``; ``overrides`` set
        any other field (e.g. ``auth_era="2026-06"``)."""
        return cls(
            accounts=[Account("demo@example.com", "demo-password", name="Demo")], **overrides
        )

    @property
    def browser_sessions(self) -> bool:
        """True in the 2026-10 era: accounts are browser sessions behind the firewall's gates."""
        return self.auth_era == "2026-10"

    def knobs(self) -> Knobs:
        """The initial knobs of this config."""
        return Knobs(
            ttfb=self.ttfb,
            event_delay=self.event_delay,
            delta_min=self.delta_min,
            delta_max=self.delta_max,
            answer_length=self.answer_length,
            fragment=self.fragment,
            record=self.record,
        )
