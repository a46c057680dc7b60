"""What one real browser session sends besides its token and cookies (pure data).

Since autumn 2026 the upstream's firewall answers write calls with a captcha unless they carry
the anti-bot values a real browser computed (``bx-ua``, ``bx-umidtoken``, ``bx-v``), and the
gateway looks least like a bot when every other browser header it sends (User-Agent, client
hints, language, time zone, app version) is the one that same browser sent. A
``BrowserProfile`` holds those values as captured; any of them may be missing, and then the
gateway's setting (or a value derived from the User-Agent) takes its place.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

#: the fields that identify a device; never shown in full (repr, logs, CLI output)
SECRET_FIELDS = frozenset({"bx_ua", "bx_umidtoken"})


@dataclass(frozen=True)
class BrowserProfile:
    """Headers captured from one browser session; None means "not captured"."""

    user_agent: str | None = None
    sec_ch_ua: str | None = None
    sec_ch_ua_mobile: str | None = None
    sec_ch_ua_platform: str | None = None
    accept_language: str | None = None
    #: the part of the ``timezone`` header after the clock time, e.g. ``GMT+0800 (China
    #: Standard Time)``: the browser's offset and zone name, replayed with the current time
    timezone: str | None = None
    bx_ua: str | None = None
    bx_umidtoken: str | None = None
    bx_v: str | None = None
    #: the web app's ``version`` header
    web_version: str | None = None

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.name in SECRET_FIELDS:
                value = f"<redacted {len(value)} chars>"
            shown.append(f"{f.name}={value!r}")
        return f"BrowserProfile({', '.join(shown)})"

    @property
    def is_empty(self) -> bool:
        """True when nothing was captured."""
        return all(getattr(self, f.name) is None for f in fields(self))

    @property
    def has_anti_bot_values(self) -> bool:
        """True when both per-device anti-bot values were captured (write calls need them)."""
        return bool(self.bx_ua and self.bx_umidtoken)

    def to_dict(self) -> dict[str, str]:
        """The captured values by field name (missing ones left out)."""
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BrowserProfile:
        """The inverse of ``to_dict``; unknown keys are ignored, empty strings are missing."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known and isinstance(v, str) and v}
        return cls(**values)


def profile_field_names() -> tuple[str, ...]:
    """Every field of ``BrowserProfile``, in declaration order."""
    return tuple(f.name for f in fields(BrowserProfile))
