"""Run an emulator in a background thread for tests, and drive any emulator over its admin routes.

``with running_emulator() as emu:`` starts one on a free port (its own event loop, a real
socket) and yields an ``EmulatorHandle``; ``EmulatorHandle.connect(url)`` drives one that runs
in another process. The handle talks plain HTTP (stdlib ``urllib``), so it works from sync and
async tests alike.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from qwen_proxy.emulator.admin import PREFIX
from qwen_proxy.emulator.app import create_app
from qwen_proxy.emulator.config import EmulatorConfig
from qwen_proxy.emulator.records import RecordedRequest

# admin calls go to a local socket; an http_proxy in the environment must not catch them
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class AdminError(RuntimeError):
    """An admin route refused the call."""


#: the web app version a test browser sends (any non-empty value passes the gate)
TEST_WEB_VERSION = "0.3.11"


def session_headers(
    token: str, cookies: str, bx_ua: str, bx_umidtoken: str, bx_v: str
) -> dict[str, str]:
    """The credentials a browser of one session sends on a write call (2026-10 era)."""
    return {
        "Authorization": f"Bearer {token}",
        "Cookie": cookies,
        "bx-ua": bx_ua,
        "bx-umidtoken": bx_umidtoken,
        "bx-v": bx_v,
        "version": TEST_WEB_VERSION,
    }


@dataclass(frozen=True)
class EmulatedAccount:
    """An account as the emulator knows it (test data); in the 2026-10 era also the sample
    browser session it was handed at start (its jar and anti-bot values)."""

    email: str
    password: str
    user_id: str
    name: str
    token: str
    cookies: str = ""
    bx_ua: str = ""
    bx_umidtoken: str = ""
    bx_v: str = ""

    def browser_headers(self) -> dict[str, str]:
        """What a browser signed in as this account sends on a write call."""
        return session_headers(self.token, self.cookies, self.bx_ua, self.bx_umidtoken, self.bx_v)


@dataclass(frozen=True)
class EmulatedSession:
    """A signed-in browser the emulator opened for a test (test data)."""

    sid: str
    token: str
    refresh_token: str
    cookies: str
    bx_ua: str
    bx_umidtoken: str
    bx_v: str

    def browser_headers(self) -> dict[str, str]:
        """What this browser sends on a write call."""
        return session_headers(self.token, self.cookies, self.bx_ua, self.bx_umidtoken, self.bx_v)


class EmulatorHandle:
    """The test hook of one running emulator."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    @classmethod
    def connect(cls, url: str) -> EmulatorHandle:
        """A handle on an emulator already running at ``url`` (e.g. in another process)."""
        handle = cls(url)
        handle._call("GET", "/health")
        return handle

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + PREFIX + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with _OPENER.open(request, timeout=10) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise AdminError(f"{method} {path}: {exc.code} {exc.read()!r}") from exc

    @property
    def era(self) -> str:
        """The era the emulator speaks (``2026-06`` or ``2026-10``)."""
        return str(self._call("GET", "/health")["auth_era"])

    @property
    def auth_url(self) -> str:
        """The base URL of the emulated auth host (2026-10 era)."""
        return self.url + str(self._call("GET", "/health")["auth_prefix"])

    def open_session(self, email: str, cookies: str | None = None) -> EmulatedSession:
        """A new signed-in browser for ``email``; with ``cookies`` (a ``Cookie`` header, e.g.
        from a copied request), that jar is adopted: its ``acw_tc`` binds the session."""
        body = {"email": email, "cookies": cookies}
        return EmulatedSession(**self._call("POST", "/sessions", body))

    def settings(self, email: str) -> dict[str, Any]:
        """The account's settings as the settings route left them (memory, tools, ...)."""
        query = urllib.parse.urlencode({"account": email})
        return dict(self._call("GET", f"/settings?{query}"))

    @property
    def accounts(self) -> list[EmulatedAccount]:
        """Every account with its current token."""
        return [EmulatedAccount(**item) for item in self._call("GET", "/accounts")]

    @property
    def token(self) -> str:
        """The first account's current token."""
        return self.accounts[0].token

    def account(self, email: str) -> EmulatedAccount:
        """One account by email."""
        return next(a for a in self.accounts if a.email == email)

    def add_account(
        self, email: str, password: str = "password", name: str = ""
    ) -> EmulatedAccount:
        """Create an account; returns it with a fresh token."""
        body = {"email": email, "password": password, "name": name}
        return EmulatedAccount(**self._call("POST", "/accounts", body))

    def expire_token(self, email: str) -> str:
        """Make that account's current token answer as expired; returns a new valid token."""
        return str(self._call("POST", "/accounts/expire", {"email": email})["token"])

    def mint_token(self, email: str, exp: int | None = None) -> str:
        """A token for ``email`` expiring at ``exp`` (Unix seconds; past = expired)."""
        return str(self._call("POST", "/tokens", {"email": email, "exp": exp})["token"])

    def set_fault(
        self,
        name: str,
        *,
        account: str | None = None,
        chat_id: str | None = None,
        times: int | None = None,
        route: str | None = None,
        **params: Any,
    ) -> str:
        """Switch a fault on (see ``faults``); returns its id."""
        body = {
            "name": name,
            "params": params,
            "account": account,
            "chat_id": chat_id,
            "times": times,
            "route": route,
        }
        return str(self._call("POST", "/faults", body)["id"])

    def faults(self) -> list[dict[str, Any]]:
        """The faults now on."""
        return list(self._call("GET", "/faults"))

    def clear_fault(self, fault_id: str) -> None:
        """Switch one fault off."""
        self._call("DELETE", f"/faults/{fault_id}")

    def clear_faults(self) -> None:
        """Switch every fault off."""
        self._call("DELETE", "/faults")

    def requests(self, path_contains: str | None = None) -> list[RecordedRequest]:
        """The recorded requests, oldest first."""
        query = ""
        if path_contains is not None:
            query = "?" + urllib.parse.urlencode({"path_contains": path_contains})
        return [RecordedRequest.from_json(item) for item in self._call("GET", "/requests" + query)]

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        self._call("DELETE", "/requests")

    def chats(self, account_email: str | None = None) -> list[dict[str, Any]]:
        """Every chat of an account (default: the first), as chat-detail ``data`` objects."""
        email = account_email or self.accounts[0].email
        query = urllib.parse.urlencode({"account": email})
        return list(self._call("GET", f"/chats?{query}"))

    def deletions(self) -> list[dict[str, Any]]:
        """Every delete call so far: ``{account, chat_id, deleted}``; ``chat_id`` None is the
        delete-all route."""
        return list(self._call("GET", "/deletions"))

    def set_knobs(self, **knobs: Any) -> dict[str, Any]:
        """Change knobs (ttfb, event_delay, delta_min, delta_max, answer_length, fragment,
        record); returns them all."""
        return dict(self._call("POST", "/knobs", knobs))

    def reset(self) -> None:
        """No faults, no records, no chats, the configured knobs."""
        self._call("POST", "/reset", {})


class _Server:
    """An emulator app served from a thread with its own event loop."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.error: BaseException | None = None
        self.runner: web.AppRunner | None = None
        self.thread = threading.Thread(target=self._run, name="qwen-emulator", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except BaseException as exc:
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._stop())
        self.loop.close()

    async def _start(self) -> None:
        self.runner = web.AppRunner(create_app(self.config), access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.config.host, self.config.port)
        await site.start()
        self.port = int(self.runner.addresses[0][1])

    async def _stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def start(self) -> str:
        self.thread.start()
        self.ready.wait(10)
        if self.error is not None:
            raise RuntimeError("emulator failed to start") from self.error
        return f"http://{self.config.host}:{self.port}"

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@contextmanager
def running_emulator(config: EmulatorConfig | None = None) -> Iterator[EmulatorHandle]:
    """An emulator on a free port over a real socket for the ``with`` block."""
    server = _Server(config or EmulatorConfig.default())
    url = server.start()
    try:
        yield EmulatorHandle(url)
    finally:
        server.stop()
