"""The upstream client: every call to chat.qwen.ai, one attempt each, over a transport.

It builds each request (URL, browser headers, JSON body) and hands its bytes to a
``Transport``: the pooled sockets of ``qwen.transport.wire`` by default, an in-memory
``MockTransport`` in tests. Transport failures and answers that are not what was asked for come
out as the classified errors of ``qwen.errors``; deciding whether to retry, and on which account,
is the caller's job (``service.completion``), since only it knows whether its client got bytes yet.

Two hosts are called: the chat host (``Settings.upstream_url``) and, for sign-in and token
renewal, the auth host (``Settings.auth_url``). A 200 whose ``x-actual-status-code`` names an
error is classified by that status, and a verification URL given as a bare path is made
absolute on the host that answered.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import uuid
from typing import Any, Protocol
from urllib.parse import quote, urljoin, urlsplit

import orjson

from qwen_proxy.config import Settings
from qwen_proxy.qwen.auth import (
    LEGACY_SIGNIN_PATH,
    REFRESH_PATH,
    SETTINGS_PATH,
    SIGNIN_PATH,
    SessionAnswer,
    session_answer,
)
from qwen_proxy.qwen.browser import BrowserProfile
from qwen_proxy.qwen.classify import classify_answer, effective_status, json_payload
from qwen_proxy.qwen.errors import (
    ParentNotFound,
    UploadRejected,
    UpstreamCaptcha,
    UpstreamError,
    UpstreamMalformed,
    UpstreamTimeout,
)
from qwen_proxy.qwen.events import Event
from qwen_proxy.qwen.files import (
    PARSE_PATH,
    PARSE_STATUS_PATH,
    ParseState,
    UploadGrant,
    parse_body,
    parse_grant,
    parse_state,
)
from qwen_proxy.qwen.headers import auth_headers, browser_headers, merge_token_cookie
from qwen_proxy.qwen.oss import error_code
from qwen_proxy.qwen.payloads import completion_url, new_chat_body
from qwen_proxy.qwen.stream import QwenStreamParser
from qwen_proxy.qwen.transport.base import Transport, UpstreamResponse
from qwen_proxy.qwen.transport.endpoint import Endpoint, parse_endpoint, request_head
from qwen_proxy.qwen.transport.wire import WirePool

log = logging.getLogger("qwen_proxy.upstream")

JSON_ACCEPT = "application/json, text/plain, */*"
#: the largest JSON answer read (the model list is the biggest, well under this)
MAX_JSON_BYTES = 32 * 1024 * 1024


class UpstreamCredential(Protocol):
    """What the client needs of an account: its secrets, browser profile and optional proxy."""

    @property
    def token(self) -> str: ...
    @property
    def cookies(self) -> str | None: ...
    @property
    def proxy(self) -> str | None: ...
    @property
    def browser(self) -> BrowserProfile | None: ...
    @property
    def name(self) -> str: ...


class UpstreamStream:
    """An open completion stream: await ``next_batch()``; ``parser`` holds usage and ids."""

    __slots__ = ("_response", "parser")

    def __init__(self, response: UpstreamResponse) -> None:
        self._response = response
        self.parser = QwenStreamParser()

    def close(self) -> None:
        """Give the connection back (or drop it when the reply was not read to its end)."""
        self._response.release()

    async def next_batch(self) -> list[Event] | None:
        """The next events as bytes arrive; None once the answer finished or at EOF.

        A plain coroutine, not an async generator: an open stream keeps no suspended
        generator (its frame, its asend object, the loop's weak reference to it).
        The transport raises the classified errors: ``UpstreamTimeout`` when the upstream goes
        quiet, ``UpstreamConnectionError`` when the connection breaks.
        """
        parser = self.parser
        read = self._response.read
        while not parser.done:
            data = await read()
            if not data:  # EOF
                return parser.close() or None
            batch = parser.feed(data)
            if batch:
                return batch
        return None


class QwenClient:
    """Async client for chat.qwen.ai's API v2 (or the emulator: only the base URL differs).

    ``transport`` defaults to a ``WirePool`` built from the settings (``ssl_context`` is for
    that one); tests pass a ``MockTransport``.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: Transport | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if transport is None:
            transport = WirePool(
                connect_timeout=settings.connect_timeout,
                idle_timeout=settings.idle_timeout,
                ssl_context=ssl_context,
            )
        elif ssl_context is not None:
            raise TypeError("ssl_context configures the default transport: pass one or the other")
        self._settings = settings
        self._base = settings.upstream_base
        self._auth_base = settings.auth_base
        self._transport = transport
        self._endpoints: dict[tuple[str, str, str | None], Endpoint] = {}

    async def start(self) -> None:
        """Nothing to open ahead of time: the transport connects on first use."""

    async def close(self) -> None:
        """Close the transport's idle connections (the client stays usable)."""
        self._transport.close()

    def _endpoint(self, base: str, cred: UpstreamCredential | None) -> Endpoint:
        """Where the call goes; each account has its own endpoint, so its own idle connections:
        no connection ever carries two accounts' requests, even one a hostile upstream left
        out of step."""
        name, proxy = ("", None) if cred is None else (cred.name, cred.proxy)
        key = (base, name, proxy)
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            endpoint = parse_endpoint(base, proxy, pool_key=name)
            self._endpoints[key] = endpoint
        return endpoint

    def _headers(
        self, cred: UpstreamCredential | None, chat_id: str | None, accept: str, base: str
    ) -> dict[str, str]:
        s = self._settings
        if base == self._auth_base and base != self._base:
            # the auth host: its own version, the jar as the browser holds it
            return auth_headers(
                cookies=merge_token_cookie(cred.cookies, cred.token) if cred else None,
                auth_version=s.auth_version,
                bx_v=s.bx_v,
                user_agent=s.user_agent,
                request_id=str(uuid.uuid4()),
                browser=cred.browser if cred else None,
            )
        if cred is None:  # the old sign-in: no account yet
            return {"User-Agent": s.user_agent, "Accept": accept}
        return browser_headers(
            token=cred.token,
            cookies=cred.cookies,
            web_version=s.web_version,
            bx_v=s.bx_v,
            user_agent=s.user_agent,
            chat_id=chat_id,
            request_id=str(uuid.uuid4()),
            accept=accept,
            browser=cred.browser,
            now=time.time(),
        )

    async def _open(
        self,
        method: str,
        path: str,
        cred: UpstreamCredential | None,
        *,
        body: dict[str, Any] | None = None,
        chat_id: str | None = None,
        accept: str = JSON_ACCEPT,
        base: str | None = None,
    ) -> UpstreamResponse:
        """Send one call and return its response once the headers are in; ``base`` is the
        host's URL (the chat host unless given).

        A plain coroutine: nothing of the request (its body is ~8 KiB of orjson buffer, its
        headers carry secrets) outlives it in a suspended frame of an open stream.
        """
        transport = self._transport
        # the line carries the request id of the client request this call serves (logs.py)
        log.debug("upstream %s %s", method, path)
        base = base or self._base
        endpoint = self._endpoint(base, cred)
        headers = self._headers(cred, chat_id, accept, base)
        data = orjson.dumps(body) if body is not None else None
        if data is not None:
            headers["Content-Type"] = "application/json"
        prefix = urlsplit(base).path.rstrip("/")
        head = request_head(
            endpoint, method, prefix + path, headers, len(data) if data is not None else None
        )
        # orjson's result keeps its whole ~8 KiB working buffer however short the JSON is:
        # copied into the exact-size message now, it is freed before the first await, so a
        # burst of calls waiting on the upstream does not leave 8 KiB holes per call behind
        # (measured: 7.9 KiB of glibc free space per held stream after 1,000 concurrent opens)
        message = head + data if data is not None else head
        del headers, data, head
        try:
            async with asyncio.timeout(self._settings.first_byte_timeout):
                return await transport.request(endpoint, message)
        except TimeoutError:
            raise UpstreamTimeout(
                "The upstream did not answer in time "
                f"({self._settings.first_byte_timeout:g} s before the first byte)."
            ) from None

    async def _call(
        self,
        method: str,
        path: str,
        cred: UpstreamCredential | None,
        *,
        body: dict[str, Any] | None = None,
        base: str | None = None,
    ) -> tuple[int, str, bytes, tuple[str, ...]]:
        """One short call: its status (the real one when a 200 names another), content type,
        whole body and the cookies it set."""
        response = await self._open(method, path, cred, body=body, base=base)
        try:
            raw = await response.read_all(MAX_JSON_BYTES)
        finally:
            response.release()
        status = effective_status(response.status, response.actual_status)
        return status, response.content_type, raw, response.set_cookies

    async def _call_json(
        self,
        method: str,
        path: str,
        cred: UpstreamCredential | None,
        *,
        body: dict[str, Any] | None = None,
        base: str | None = None,
    ) -> tuple[Any, tuple[str, ...]]:
        """A short call whose success is JSON: the payload and the cookies set; anything
        else raises, classified."""
        status, content_type, raw, cookies = await self._call(
            method, path, cred, body=body, base=base
        )
        try:
            return json_payload(status, content_type, raw), cookies
        except UpstreamCaptcha as error:
            raise self._located(error, base or self._base) from None

    def _located(self, error: UpstreamCaptcha, base: str) -> UpstreamCaptcha:
        """``error`` with its verification URL absolute (a slider page names a bare path)."""
        url = error.verify_url
        if url and not url.startswith(("http://", "https://")):
            error.verify_url = urljoin(base + "/", url)
        return error

    async def create_chat(
        self, cred: UpstreamCredential, model: str, *, chat_type: str = "t2t"
    ) -> str:
        """Open a new chat for ``model`` and return its id."""
        body = new_chat_body(model, chat_type=chat_type, now_ms=int(time.time() * 1000))
        payload, _ = await self._call_json("POST", "/api/v2/chats/new", cred, body=body)
        try:
            chat_id = payload["data"]["id"]
        except (KeyError, TypeError):
            chat_id = None
        if not isinstance(chat_id, str) or not chat_id:
            raise UpstreamMalformed("The upstream created a chat but returned no chat id.")
        return chat_id

    async def list_models(self, cred: UpstreamCredential) -> list[dict[str, Any]]:
        """The upstream's model list: its raw items (those with a string ``id``)."""
        payload, _ = await self._call_json("GET", "/api/models", cred)
        data = payload.get("data") if isinstance(payload, dict) else None
        if isinstance(data, dict):  # the v2 path nests it once more
            data = data.get("data")
        if not isinstance(data, list):
            raise UpstreamMalformed("The upstream's model list has an unexpected shape.")
        return [item for item in data if isinstance(item, dict) and isinstance(item.get("id"), str)]

    async def verify(self, cred: UpstreamCredential) -> dict[str, Any]:
        """Ask the upstream who this token belongs to (raises on an invalid token)."""
        payload, _ = await self._call_json("GET", "/api/v1/auths/", cred)
        if not isinstance(payload, dict):
            raise UpstreamMalformed("The upstream's auth check returned an unexpected shape.")
        return payload

    async def sign_in(self, email: str, password_sha256: str) -> str:
        """The chat host's old password sign-in (before the auth host); a fresh JWT."""
        body = {"email": email, "password": password_sha256}
        payload, cookies = await self._call_json("POST", LEGACY_SIGNIN_PATH, None, body=body)
        return _session(payload, cookies, "sign-in").access_token

    async def sign_in_session(
        self, cred: UpstreamCredential, email: str, password_sha256: str
    ) -> SessionAnswer:
        """Password sign-in at the auth host, as the browser of ``cred`` (its anti-bot values
        and cookie jar): a new access token and the cookies of the new session."""
        body = {"email": email, "password": password_sha256}
        payload, cookies = await self._call_json(
            "POST", SIGNIN_PATH, cred, body=body, base=self._auth_base
        )
        return _session(payload, cookies, "sign-in")

    async def refresh_session(self, cred: UpstreamCredential) -> SessionAnswer:
        """A new access token for the browser session of ``cred`` (its cookie jar holds the
        refresh token): no password, no slider."""
        payload, cookies = await self._call_json("GET", REFRESH_PATH, cred, base=self._auth_base)
        return _session(payload, cookies, "token renewal")

    async def update_settings(self, cred: UpstreamCredential, settings: dict[str, Any]) -> None:
        """Change the account's own settings (memory, built-in tools...) as given."""
        await self._call_json("POST", SETTINGS_PATH, cred, body=settings)

    async def delete_chat(self, cred: UpstreamCredential, chat_id: str) -> None:
        """Delete one chat; a chat already gone (404, or ``Not_Found``) counts as deleted.

        Errors the upstream answers inside a 200 (an expired token, a firewall page) raise,
        classified, so a failed deletion is never taken for a done one.
        """
        status, content_type, raw, _ = await self._call(
            "DELETE", f"/api/v2/chats/{quote(chat_id, safe='')}", cred
        )
        if status in (204, 404) or (status == 200 and not raw.strip()):
            return
        try:
            json_payload(status, content_type, raw)
        except ParentNotFound:
            return  # "Not_Found": the chat is gone already

    async def upload_grant(
        self, cred: UpstreamCredential, path: str, body: dict[str, Any]
    ) -> UploadGrant:
        """Ask one grant route (``qwen.files.STS_PATHS``) for an upload slot."""
        payload, _ = await self._call_json("POST", path, cred, body=body)
        grant = parse_grant(payload)
        if grant is None:
            raise UpstreamMalformed("The upstream's upload grant lacks the keys or the object.")
        return grant

    async def put_object(
        self, cred: UpstreamCredential, url: str, headers: dict[str, str], data: bytes
    ) -> None:
        """PUT ``data`` to the storage at ``url`` with the signed ``headers``.

        Only the browser's User-Agent goes along: the chat host's cookies and token never
        leave for the storage host.
        """
        agent = (cred.browser.user_agent if cred.browser else None) or self._settings.user_agent
        response = await self._request_url(
            "PUT", url, cred.proxy, {"User-Agent": agent, **headers}, data
        )
        try:
            raw = await response.read_all()
        finally:
            response.release()
        if response.status not in (200, 201, 204):
            code = error_code(raw) or f"HTTP {response.status}"
            raise UploadRejected(f"Qwen's file storage refused the upload ({code}).")

    async def download(
        self, url: str, *, proxy: str | None = None, limit: int = MAX_JSON_BYTES
    ) -> tuple[str, bytes]:
        """GET a file the upstream serves (a generated image): its content type and bytes."""
        headers = {"User-Agent": self._settings.user_agent, "Accept": "*/*"}
        response = await self._request_url("GET", url, proxy, headers, None)
        try:
            raw = await response.read_all(limit + 1)
        finally:
            response.release()
        if response.status != 200:
            raise classify_answer(response.status, response.content_type, raw)
        if len(raw) > limit:
            raise UpstreamMalformed(f"The upstream's file is over {limit} bytes.")
        return response.content_type, raw

    async def parse_file(self, cred: UpstreamCredential, file_id: str) -> ParseState:
        """Ask the upstream to parse an uploaded document; where its parsing stands."""
        payload, _ = await self._call_json("POST", PARSE_PATH, cred, body=parse_body(file_id))
        return parse_state(payload)

    async def parse_status(self, cred: UpstreamCredential, file_id: str) -> ParseState:
        """Where the parsing of an uploaded document stands."""
        payload, _ = await self._call_json(
            "POST", PARSE_STATUS_PATH, cred, body=parse_body(file_id)
        )
        return parse_state(payload)

    async def _request_url(
        self,
        method: str,
        url: str,
        proxy: str | None,
        headers: dict[str, str],
        data: bytes | None,
    ) -> UpstreamResponse:
        """One call to an absolute URL off the chat host (storage, generated files)."""
        parts = urlsplit(url)
        endpoint = parse_endpoint(f"{parts.scheme}://{parts.netloc}", proxy)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        head = request_head(
            endpoint, method, target, headers, len(data) if data is not None else None
        )
        message = head + data if data is not None else head
        try:
            async with asyncio.timeout(self._settings.first_byte_timeout):
                return await self._transport.request(endpoint, message)
        except TimeoutError:
            raise UpstreamTimeout(
                "The upstream's storage did not answer in time "
                f"({self._settings.first_byte_timeout:g} s before the first byte)."
            ) from None

    async def open_completion(
        self, cred: UpstreamCredential, chat_id: str, body: dict[str, Any]
    ) -> UpstreamStream:
        """POST a completion and return the open stream (non-SSE answers raise, classified).

        The caller owns the stream: ``close()`` it once done with (a plain object rather than a
        context manager, so an open stream holds no suspended generator frames).
        """
        path = completion_url("", chat_id)
        response = await self._open(
            "POST", path, cred, body=body, chat_id=chat_id, accept="text/event-stream"
        )
        status = effective_status(response.status, response.actual_status)
        if status != 200 or "text/event-stream" not in response.content_type:
            try:
                raw = await response.read_all()
            except UpstreamError:
                raw = b""
            finally:
                response.release()
            error = classify_answer(status, response.content_type, raw)
            if isinstance(error, UpstreamCaptcha):
                error = self._located(error, self._base)
            raise error
        return UpstreamStream(response)


def _session(payload: Any, cookies: tuple[str, ...], what: str) -> SessionAnswer:
    answer = session_answer(payload, cookies)
    if answer is None:
        raise UpstreamMalformed(f"The upstream's {what} answer carries no token.")
    return answer
