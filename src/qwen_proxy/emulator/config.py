"""Settings of one emulator instance: accounts, seed, timing knobs and switches.

The only place the emulator's defaults live; the CLI and the test handle build one of these.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Literal

#: how auth failures are answered (clients report both): 401 ``{"detail"}`` or 200 ``Unauthorized``
AuthErrorForm = Literal["detail", "unauthorized"]

DEFAULT_SECRET = "qwen-proxy-emulator-secret"
THIRTY_DAYS = 30 * 24 * 3600


@dataclass
class Account:
    """A Qwen web account the emulator knows. ``token`` is minted when the emulator starts."""

    email: str
    password: str
    user_id: str = ""
    name: str = ""
    token: str = ""
    last_password_change: int = 1_780_000_000

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

    @classmethod
    def default(cls) -> EmulatorConfig:
        """One sample account ``demo@example.com`` / ``demo-password``, everything else default."""
        return cls(accounts=[Account("demo@example.com", "demo-password", name="Demo")])

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
