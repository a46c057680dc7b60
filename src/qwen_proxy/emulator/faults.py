"""Faults: what to break, for whom, on which route, how many times.

A fault is switched on three ways:

* globally at start (``--fault NAME[:k=v,...]``, ``EmulatorConfig.faults``);
* at run time through ``POST /__emulator__/faults`` (``EmulatorHandle.set_fault``), optionally
  scoped to an ``account`` (email), a ``chat_id``, a ``route`` (comma-separated route names, or
  ``any``) and limited to the next ``times`` matching requests;
* for one completion request by magic words anywhere in its last user message:
  ``[[fault:NAME]]`` or ``[[fault:NAME k=v k=v]]`` (values are ints, floats or bare words;
  several magic words may appear; they are removed before the model reads the text).

Route names: ``new_chat``, ``completions``, ``models``, ``auth_verify``, ``signin``,
``chat_list``, ``chat_detail``, ``delete_chat``, ``delete_all``, ``sts_token``,
``files_parse``, ``settings_update``, and on the auth host ``auth_signin`` and ``refresh``.
Each fault has a default route set (``DEFAULT_ROUTES``, mostly ``completions``).

Faults and their parameters:

* replace the answer: ``waf_html``, ``waf_json``, ``capacity``, ``expired_token``
  (``form=detail|unauthorized``), ``rate_limited`` (``num``, default 6), ``http_5xx``
  (``status``, default 500), ``bad_request_internal``, ``missing_user_agent_waf`` (fires only
  when the request has no User-Agent), ``reset`` (RST before any byte), ``stall``
  (``seconds``: no byte for that long, then the normal answer), ``challenge`` (the risk
  engine's ``FAIL_SYS_USER_VALIDATE``/``RGV587`` JSON with a punish URL, in a 200),
  ``slider`` (the firewall's slider page, HTML in a 200);
* shape the stream: ``cut_after`` (``n`` events, then EOF), ``trickle`` (``delay`` seconds
  between events), ``malformed_line`` (``at``: a ``data: {not json`` line inserted before event
  ``at``, default 1), ``error_midstream`` (``after`` answer deltas, default 1; ``envelope``
  ``error|success|bare``, the last being ``{"error": "Internal error!"}``; ``code``
  ``data_inspection_failed|internal_error``), ``challenge_midstream`` (the challenge JSON as
  an event after ``after`` answer deltas, default 1, then the stream ends), ``empty_stream``,
  ``think_then_stop``, ``cumulative``.
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass, field
from typing import Any

ROUTES = frozenset(
    {
        "new_chat",
        "completions",
        "models",
        "auth_verify",
        "signin",
        "chat_list",
        "chat_detail",
        "delete_chat",
        "delete_all",
        "sts_token",
        "files_parse",
        "settings_update",
        "auth_signin",
        "refresh",
    }
)
#: faults that answer in place of the route's normal answer
REPLACING = frozenset(
    {
        "waf_html",
        "waf_json",
        "capacity",
        "expired_token",
        "rate_limited",
        "http_5xx",
        "bad_request_internal",
        "missing_user_agent_waf",
        "reset",
        "stall",
        "challenge",
        "slider",
    }
)
#: faults that change the completion stream
SHAPING = frozenset(
    {
        "cut_after",
        "trickle",
        "malformed_line",
        "error_midstream",
        "challenge_midstream",
        "empty_stream",
        "think_then_stop",
        "cumulative",
    }
)
KNOWN = REPLACING | SHAPING
DEFAULT_ROUTES: dict[str, frozenset[str]] = {name: frozenset({"completions"}) for name in KNOWN}

MAGIC = re.compile(r"\[\[fault:([a-z0-9_]+)((?:\s+[a-z_]+=[^\s\]]+)*)\s*\]\]", re.IGNORECASE)


class UnknownFault(ValueError):
    """A fault name or route the emulator does not know."""


def parse_value(text: str) -> Any:
    """``3`` → 3, ``0.5`` → 0.5, anything else stays a string."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


@dataclass
class Fault:
    """One switched-on fault and its scope."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    account: str | None = None
    chat_id: str | None = None
    routes: frozenset[str] = frozenset()
    times: int | None = None
    id: str = ""

    def __post_init__(self) -> None:
        if self.name not in KNOWN:
            raise UnknownFault(f"unknown fault {self.name!r}")
        if not self.routes:
            self.routes = DEFAULT_ROUTES[self.name]
        unknown = self.routes - ROUTES - {"any"}
        if unknown:
            raise UnknownFault(f"unknown route(s) {sorted(unknown)}")

    def matches(self, route: str, account: str | None, chat_id: str | None) -> bool:
        """Whether this fault applies to a request on ``route`` by ``account`` for ``chat_id``."""
        if "any" not in self.routes and route not in self.routes:
            return False
        if self.account is not None and self.account != account:
            return False
        return self.chat_id is None or self.chat_id == chat_id

    def to_json(self) -> dict[str, Any]:
        """The admin route's view of this fault."""
        return {
            "id": self.id,
            "name": self.name,
            "params": self.params,
            "account": self.account,
            "chat_id": self.chat_id,
            "routes": sorted(self.routes),
            "times": self.times,
        }


def parse_routes(value: str | list[str] | None) -> frozenset[str]:
    """``"a,b"`` or ``["a", "b"]`` → a route set (empty = the fault's default)."""
    if value is None:
        return frozenset()
    items = value.split(",") if isinstance(value, str) else value
    return frozenset(item.strip() for item in items if item.strip())


def parse_cli_fault(text: str) -> Fault:
    """``NAME[:k=v,...]`` (the CLI form); ``account``/``chat_id``/``route``/``times`` scope it."""
    name, _, rest = text.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise UnknownFault(f"expected k=v in {text!r}")
        params[key.strip()] = parse_value(value.strip())
    return fault_from_params(name.strip(), params)


def fault_from_params(name: str, params: dict[str, Any]) -> Fault:
    """A fault whose scope keys (account, chat_id, route, times) are mixed into ``params``."""
    params = dict(params)
    account = params.pop("account", None)
    chat_id = params.pop("chat_id", None)
    routes = parse_routes(params.pop("route", None))
    times = params.pop("times", None)
    return Fault(
        name,
        params,
        account=account,
        chat_id=chat_id,
        routes=routes,
        times=int(times) if times is not None else None,
    )


def magic_faults(text: str) -> list[Fault]:
    """The faults named by magic words in ``text`` (unknown names are ignored)."""
    found: list[Fault] = []
    for match in MAGIC.finditer(text):
        name = match.group(1).lower()
        if name not in KNOWN:
            continue
        params = {}
        for pair in match.group(2).split():
            key, _, value = pair.partition("=")
            params[key.lower()] = parse_value(value)
        found.append(Fault(name, params, routes=frozenset({"any"})))
    return found


class FaultBoard:
    """The switched-on faults; thread-safe because the admin side may run in another thread."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> str:
        """Switch ``fault`` on; returns its id."""
        with self._lock:
            fault.id = f"f{next(self._ids)}"
            self._faults.append(fault)
        return fault.id

    def remove(self, fault_id: str) -> bool:
        """Switch one fault off."""
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if f.id != fault_id]
            return len(self._faults) != before

    def clear(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        """The faults now on."""
        with self._lock:
            return list(self._faults)

    def take(
        self, route: str, account: str | None, chat_id: str | None, *, has_user_agent: bool = True
    ) -> list[Fault]:
        """The faults that apply to this request, using up one of each one's ``times``."""
        taken: list[Fault] = []
        with self._lock:
            for fault in self._faults:
                if not fault.matches(route, account, chat_id):
                    continue
                if fault.name == "missing_user_agent_waf" and has_user_agent:
                    continue
                taken.append(fault)
                if fault.times is not None:
                    fault.times -= 1
            self._faults = [f for f in self._faults if f.times is None or f.times > 0]
        return taken
