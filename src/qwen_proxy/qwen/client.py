"""The upstream client: one pooled aiohttp session, one attempt per call.

This is the only module that does upstream I/O. It turns transport failures and non-SSE answers
into the classified errors of ``qwen.errors``; deciding whether to retry, and on which account,
is the caller's job (``completions``), since only it knows whether the client got bytes yet.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import aiohttp
import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from qwen_proxy.config import Settings
from qwen_proxy.qwen.classify import classify_answer, is_success_json
from qwen_proxy.qwen.errors import (
    UpstreamConnectionError,
    UpstreamError,
    UpstreamMalformed,
    UpstreamTimeout,
)
from qwen_proxy.qwen.events import Event
from qwen_proxy.qwen.headers import browser_headers
from qwen_proxy.qwen.payloads import completion_url, new_chat_body
from qwen_proxy.qwen.stream import QwenStreamParser

_NO_HEADERS: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())


def _travel_light(response: aiohttp.ClientResponse) -> None:
    """Drop the headers of an open stream's request and response (~5 KB per open stream).

    Both are checked before this is called, and aiohttp would keep them until the reply ends:
    the request's copy (in ``request_info``) also holds the account's token and cookies.
    These are aiohttp's private attributes: if they are renamed, only the saving is lost.
    """
    info = response.request_info
    if hasattr(response, "_request_info"):
        response._request_info = aiohttp.RequestInfo(
            info.url, info.method, _NO_HEADERS, info.real_url
        )
    if hasattr(response, "_headers"):
        response._headers = _NO_HEADERS
    if hasattr(response, "_raw_headers"):
        response._raw_headers = ()
    cache = getattr(response, "_cache", None)
    if isinstance(cache, dict):
        cache.clear()  # aiohttp caches its properties here, the headers among them


class UpstreamCredential(Protocol):
    """What the client needs of an account: its secrets and optional proxy."""

    @property
    def token(self) -> str: ...
    @property
    def cookies(self) -> str | None: ...
    @property
    def proxy(self) -> str | None: ...


class UpstreamStream:
    """An open completion stream: await ``next_batch()``; ``parser`` holds usage and ids."""

    __slots__ = ("_response", "parser")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.parser = QwenStreamParser()

    def close(self) -> None:
        """Give the connection back (or drop it when the reply was not read to its end)."""
        self._response.release()

    async def next_batch(self) -> list[Event] | None:
        """The next events as bytes arrive; None once the answer finished or at EOF.

        A plain coroutine, not an async generator: an open stream keeps no suspended
        generator (its frame, its asend object, the loop's weak reference to it).
        """
        parser = self.parser
        read = self._response.content.readany
        try:
            while not parser.done:
                data = await read()
                if not data:  # EOF
                    return parser.close() or None
                batch = parser.feed(data)
                if batch:
                    return batch
            return None
        except TimeoutError:
            raise UpstreamTimeout(
                "The upstream stopped sending in the middle of the reply (idle timeout)."
            ) from None
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(
                f"The connection to the upstream broke during the reply ({type(exc).__name__})."
            ) from None


class QwenClient:
    """Async client for chat.qwen.ai's API v2 (or the emulator: only the base URL differs)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._base = settings.upstream_base
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the pooled session (call once, inside the event loop)."""
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
            timeout = aiohttp.ClientTimeout(
                total=None,
                sock_connect=self._settings.connect_timeout,
                sock_read=self._settings.idle_timeout,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                json_serialize=lambda obj: orjson.dumps(obj).decode(),
                auto_decompress=True,
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    async def close(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The pooled session; ``start()`` must have been awaited."""
        if self._session is None:
            raise RuntimeError("QwenClient.start() was not awaited")
        return self._session

    def _headers(
        self, cred: UpstreamCredential, chat_id: str | None, accept: str
    ) -> dict[str, str]:
        s = self._settings
        return browser_headers(
            token=cred.token,
            cookies=cred.cookies,
            web_version=s.web_version,
            bx_v=s.bx_v,
            user_agent=s.user_agent,
            chat_id=chat_id,
            request_id=str(uuid.uuid4()),
            accept=accept,
        )

    @asynccontextmanager
    async def _request(
        self,
        method: str,
        path: str,
        cred: UpstreamCredential | None,
        *,
        body: dict[str, Any] | None = None,
        chat_id: str | None = None,
        accept: str = "application/json, text/plain, */*",
        extra_headers: dict[str, str] | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        response = await self._send(
            method,
            path,
            cred,
            body=body,
            chat_id=chat_id,
            accept=accept,
            extra_headers=extra_headers,
        )
        try:
            yield response
        finally:
            response.release()

    async def _send(
        self,
        method: str,
        path: str,
        cred: UpstreamCredential | None,
        *,
        body: dict[str, Any] | None = None,
        chat_id: str | None = None,
        accept: str = "application/json, text/plain, */*",
        extra_headers: dict[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        # a plain call, not a context manager: nothing of the request (its body is ~8 KiB of
        # orjson buffer, its headers carry secrets) outlives it in a suspended frame
        headers = self._headers(cred, chat_id, accept) if cred is not None else {}
        if cred is None:
            headers = {"User-Agent": self._settings.user_agent, "Accept": accept}
        if extra_headers:
            headers.update(extra_headers)
        data = orjson.dumps(body) if body is not None else None
        if data is not None:
            headers["Content-Type"] = "application/json"
        proxy = cred.proxy if cred is not None else None
        try:
            async with asyncio.timeout(self._settings.first_byte_timeout):
                response = await self.session.request(
                    method, self._base + path, data=data, headers=headers, proxy=proxy
                )
        except TimeoutError:
            raise UpstreamTimeout(
                "The upstream did not answer in time "
                f"({self._settings.first_byte_timeout:g} s before the first byte)."
            ) from None
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(
                f"Could not reach the upstream ({type(exc).__name__})."
            ) from None
        return response

    async def _read_json(self, response: aiohttp.ClientResponse) -> Any:
        try:
            body = await response.read()
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(
                f"The connection to the upstream broke ({type(exc).__name__})."
            ) from None
        content_type = response.headers.get("Content-Type", "")
        if response.status != 200 or "json" not in content_type:
            raise classify_answer(response.status, content_type, body)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise classify_answer(response.status, content_type, body) from None
        if isinstance(payload, dict) and not is_success_json(body):
            # app errors and the WAF's JSON captcha both come back as 200 application/json
            raise classify_answer(response.status, content_type, body)
        return payload

    async def create_chat(
        self, cred: UpstreamCredential, model: str, *, chat_type: str = "t2t"
    ) -> str:
        """Open a new chat for ``model`` and return its id."""
        body = new_chat_body(model, chat_type=chat_type, now_ms=int(time.time() * 1000))
        async with self._request("POST", "/api/v2/chats/new", cred, body=body) as response:
            payload = await self._read_json(response)
        try:
            chat_id = payload["data"]["id"]
        except (KeyError, TypeError):
            chat_id = None
        if not isinstance(chat_id, str) or not chat_id:
            raise UpstreamMalformed("The upstream created a chat but returned no chat id.")
        return chat_id

    async def list_models(self, cred: UpstreamCredential) -> list[dict[str, Any]]:
        """The upstream's model list (raw items, §5 of the protocol notes)."""
        async with self._request("GET", "/api/models", cred) as response:
            payload = await self._read_json(response)
        data = payload.get("data") if isinstance(payload, dict) else None
        if isinstance(data, dict):  # the v2 path nests it once more
            data = data.get("data")
        if not isinstance(data, list):
            raise UpstreamMalformed("The upstream's model list has an unexpected shape.")
        return [item for item in data if isinstance(item, dict) and isinstance(item.get("id"), str)]

    async def verify(self, cred: UpstreamCredential) -> dict[str, Any]:
        """Ask the upstream who this token belongs to (raises on an invalid token)."""
        async with self._request("GET", "/api/v1/auths/", cred) as response:
            payload = await self._read_json(response)
        if not isinstance(payload, dict):
            raise UpstreamMalformed("The upstream's auth check returned an unexpected shape.")
        return payload

    async def sign_in(self, email: str, password_sha256: str) -> str:
        """Password sign-in; returns a fresh JWT."""
        body = {"email": email, "password": password_sha256}
        async with self._request("POST", "/api/v1/auths/signin", None, body=body) as response:
            payload = await self._read_json(response)
        token = payload.get("token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            raise UpstreamMalformed("The upstream's sign-in answer carries no token.")
        return token

    async def delete_chat(self, cred: UpstreamCredential, chat_id: str) -> None:
        """Delete one chat (best effort: 404 counts as deleted)."""
        async with self._request("DELETE", f"/api/v2/chats/{chat_id}", cred) as response:
            if response.status in (200, 204, 404):
                return
            await self._read_json(response)

    async def open_completion(
        self, cred: UpstreamCredential, chat_id: str, body: dict[str, Any]
    ) -> UpstreamStream:
        """POST a completion and return the open stream (non-SSE answers raise, classified).

        The caller owns the stream: ``close()`` it once done with (a plain object rather than a
        context manager, so an open stream holds no suspended generator frames).
        """
        path = completion_url("", chat_id)
        response = await self._send(
            "POST", path, cred, body=body, chat_id=chat_id, accept="text/event-stream"
        )
        try:
            content_type = response.headers.get("Content-Type", "")
            if response.status != 200 or "text/event-stream" not in content_type:
                try:
                    raw = await response.read()
                except aiohttp.ClientError:
                    raw = b""
                error: UpstreamError = classify_answer(response.status, content_type, raw)
                raise error
        except BaseException:
            response.release()
            raise
        _travel_light(response)
        return UpstreamStream(response)
