"""QwenClient against an in-memory transport: the requests it builds, the streams it reads (in
any split), and the errors it raises for answers that are not what it asked for."""

from __future__ import annotations

import asyncio
import itertools
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_proxy.config import Settings
from qwen_proxy.qwen.client import QwenClient, UpstreamStream
from qwen_proxy.qwen.errors import (
    UpstreamAuthFailed,
    UpstreamCaptcha,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamMalformed,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
)
from qwen_proxy.qwen.events import AnswerDelta, Event, Finished
from qwen_proxy.qwen.transport.mock import MockRequest, MockResponse, MockTransport

pytestmark = pytest.mark.unit

PLAIN = (Path(__file__).parent / "fixtures" / "plain_answer.sse").read_bytes()
SSE = "text/event-stream; charset=utf-8"
RATE_LIMITED = {
    "success": False,
    "request_id": "r1",
    "data": {"code": "RateLimited", "details": "You've reached the upper limit", "num": 2},
}
WAF_PAGE = b"<!doctype html><html><body><div id='nc_1_n1z'>captcha</div></body></html>"


@dataclass(frozen=True)
class Account:
    """What QwenClient needs of an account."""

    token: str = "secret-token"
    name: str = "acc"
    cookies: str | None = None
    proxy: str | None = field(default=None, repr=False)
    #: no captured browser session: the settings' header values apply
    browser: None = None


def client_for(
    answer: Any, *, url: str = "http://upstream.test", **overrides: Any
) -> tuple[QwenClient, MockTransport]:
    """A client whose every call is answered by ``answer`` (a handler or one response)."""
    handler = answer if callable(answer) else (lambda request: answer)
    transport = MockTransport(handler)
    values: dict[str, Any] = {"upstream_url": url, "first_byte_timeout": 5.0} | overrides
    return QwenClient(Settings(**values), transport=transport), transport


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at ``cuts`` (empty pieces kept: a transport may hand any size)."""
    points = [0, *sorted(cut % (len(data) + 1) for cut in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


async def drain(stream: UpstreamStream) -> list[Event]:
    events: list[Event] = []
    while (batch := await stream.next_batch()) is not None:
        events.extend(batch)
    return events


# -- requests -----------------------------------------------------------------------------------


async def test_create_chat_posts_the_new_chat_body_with_the_accounts_token() -> None:
    seen: list[MockRequest] = []

    def upstream(request: MockRequest) -> MockResponse:
        seen.append(request)
        return MockResponse(json={"success": True, "request_id": "r", "data": {"id": "chat-1"}})

    client, transport = client_for(upstream, url="http://upstream.test:8080/base/")
    assert await client.create_chat(Account(), "qwen3-max") == "chat-1"
    (request,) = seen
    assert (request.method, request.path) == ("POST", "/base/api/v2/chats/new")
    assert request.headers["host"] == "upstream.test:8080"
    assert request.headers["authorization"] == "Bearer secret-token"
    assert request.headers["content-type"] == "application/json"
    assert request.json()["models"] == ["qwen3-max"]
    assert transport.unreleased == []


async def test_sign_in_sends_no_account_headers_and_returns_the_token() -> None:
    seen: list[MockRequest] = []

    def upstream(request: MockRequest) -> MockResponse:
        seen.append(request)
        return MockResponse(json={"token": "jwt", "id": "u1"})

    client, _ = client_for(upstream)
    assert await client.sign_in("a@b.c", "0" * 64) == "jwt"
    (request,) = seen
    assert request.path == "/api/v1/auths/signin"
    assert "authorization" not in request.headers
    assert request.json() == {"email": "a@b.c", "password": "0" * 64}


async def test_a_call_for_an_account_with_a_proxy_goes_to_that_proxy() -> None:
    client, transport = client_for(MockResponse(json={"id": "u1"}))
    await client.verify(Account(proxy="http://proxy.test:3128"))
    (request,) = transport.requests
    assert (request.endpoint.proxy_host, request.endpoint.proxy_port) == ("proxy.test", 3128)
    assert request.path == "http://upstream.test/api/v1/auths/"  # absolute form via the proxy


async def test_the_model_list_is_read_from_either_nesting() -> None:
    items = [{"id": "qwen3-max"}, {"id": 7}, "junk"]
    for payload in ({"data": items}, {"success": True, "data": {"data": items}}):
        client, _ = client_for(MockResponse(json=payload))
        assert await client.list_models(Account()) == [{"id": "qwen3-max"}]


async def test_a_model_list_of_another_shape_is_malformed() -> None:
    client, _ = client_for(MockResponse(json={"data": "nope"}))
    with pytest.raises(UpstreamMalformed):
        await client.list_models(Account())


async def test_a_created_chat_without_an_id_is_malformed() -> None:
    client, _ = client_for(MockResponse(json={"success": True, "data": {}}))
    with pytest.raises(UpstreamMalformed, match="no chat id"):
        await client.create_chat(Account(), "qwen3-max")


@pytest.mark.parametrize("status", [200, 204, 404])
async def test_deleting_a_chat_that_is_gone_counts_as_deleted(status: int) -> None:
    client, transport = client_for(MockResponse(status))
    await client.delete_chat(Account(), "chat/1")
    assert transport.requests[0].method == "DELETE"
    assert transport.requests[0].path == "/api/v2/chats/chat%2F1"


async def test_deleting_a_chat_the_upstream_fails_on_raises() -> None:
    client, _ = client_for(MockResponse(502, content_type="text/plain", body=b"Bad Gateway"))
    with pytest.raises(UpstreamServerError):
        await client.delete_chat(Account(), "chat-1")


# -- error answers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (MockResponse(json=RATE_LIMITED), UpstreamRateLimited),
        (
            MockResponse(json={"error": {"code": "Unauthorized", "details": "x"}}),
            UpstreamAuthFailed,
        ),
        (MockResponse(content_type="text/html", body=WAF_PAGE), UpstreamCaptcha),
        (MockResponse(401, json={"detail": "Not authenticated"}), UpstreamAuthFailed),
        (MockResponse(json={"ret": ["FAIL_SYS_USER_VALIDATE"], "data": {}}), UpstreamCaptcha),
        (MockResponse(content_type="application/json", body=b"{not json"), UpstreamMalformed),
        (MockResponse(503, content_type="text/plain", body=b"busy"), UpstreamServerError),
    ],
    ids=["app-error", "error-object", "waf-page", "detail-401", "waf-json", "bad-json", "503"],
)
async def test_a_short_call_answered_with_an_error_raises_it_classified(
    answer: MockResponse, error: type[UpstreamError]
) -> None:
    client, transport = client_for(answer)
    with pytest.raises(error):
        await client.create_chat(Account(), "qwen3-max")
    assert transport.unreleased == []


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (MockResponse(json=RATE_LIMITED), UpstreamRateLimited),
        (MockResponse(content_type="text/html", body=WAF_PAGE), UpstreamCaptcha),
        (MockResponse(500, content_type="text/plain", body=b"oops"), UpstreamServerError),
    ],
    ids=["app-error-json", "waf-page", "500"],
)
async def test_a_completion_answered_without_a_stream_raises_it_classified(
    answer: MockResponse, error: type[UpstreamError]
) -> None:
    client, transport = client_for(answer)
    with pytest.raises(error):
        await client.open_completion(Account(), "chat-1", {"stream": True})
    assert transport.unreleased == []


async def test_a_transport_that_fails_before_answering_raises_its_error() -> None:
    def refused(request: MockRequest) -> MockResponse:
        raise UpstreamConnectionError(
            "Could not reach the upstream at test: the connection was refused."
        )

    client, _ = client_for(refused)
    with pytest.raises(UpstreamConnectionError, match="Could not reach"):
        await client.verify(Account())


async def test_an_upstream_that_never_answers_times_out_before_the_first_byte() -> None:
    async def silent(request: MockRequest) -> MockResponse:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    client, _ = client_for(silent, first_byte_timeout=0.01)
    with pytest.raises(UpstreamTimeout, match="before the first byte"):
        await client.verify(Account())


# -- streams ------------------------------------------------------------------------------------


async def test_a_completion_posts_to_the_chat_and_streams_its_answer() -> None:
    client, transport = client_for(MockResponse(content_type=SSE, body=PLAIN))
    stream = await client.open_completion(Account(), "chat-1", {"stream": True, "model": "m"})
    request = transport.requests[0]
    assert request.path == "/api/v2/chat/completions?chat_id=chat-1"
    assert request.headers["accept"] == "text/event-stream"
    assert request.json() == {"stream": True, "model": "m"}
    events = await drain(stream)
    assert stream.parser.answer_text == "Paris is the capital of France."
    assert isinstance(events[-1], Finished)
    assert not transport.unreleased[0].released
    stream.close()
    assert transport.unreleased == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(PLAIN)), max_size=20))
def test_a_streamed_completion_reads_the_same_in_any_split(cuts: list[int]) -> None:
    async def run() -> tuple[str, list[Event]]:
        body = split(PLAIN, cuts)
        client, _ = client_for(MockResponse(content_type=SSE, body=body))
        stream = await client.open_completion(Account(), "chat-1", {"stream": True})
        try:
            return stream.parser.answer_text, await drain(stream)
        finally:
            stream.close()

    _, events = asyncio.run(run())
    text = "".join(event.text for event in events if isinstance(event, AnswerDelta))
    assert text == "Paris is the capital of France."
    assert isinstance(events[-1], Finished)


async def test_a_connection_cut_mid_stream_reaches_the_reader() -> None:
    def cut() -> Iterator[bytes]:
        yield PLAIN[: len(PLAIN) // 2]
        raise UpstreamConnectionError("The connection to the upstream broke during the reply.")

    client, _ = client_for(MockResponse(content_type=SSE, body=cut()))
    stream = await client.open_completion(Account(), "chat-1", {"stream": True})
    with pytest.raises(UpstreamConnectionError, match="broke"):
        await drain(stream)
    stream.close()


async def test_a_stream_that_ends_early_says_so_at_eof() -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield PLAIN[: PLAIN.index(b"of France")]

    client, _ = client_for(MockResponse(content_type=SSE, body=parts()))
    stream = await client.open_completion(Account(), "chat-1", {"stream": True})
    await drain(stream)
    assert not stream.parser.finished
    assert stream.parser.eof_error() is not None
    stream.close()


async def test_an_error_event_inside_the_stream_ends_it() -> None:
    body = b"data: " + orjson.dumps(RATE_LIMITED) + b"\n\n"
    client, _ = client_for(MockResponse(content_type=SSE, body=body))
    stream = await client.open_completion(Account(), "chat-1", {"stream": True})
    await drain(stream)
    assert isinstance(stream.parser.error, UpstreamRateLimited)
    stream.close()


def test_a_custom_transport_and_a_tls_context_together_are_refused() -> None:
    with pytest.raises(TypeError, match="ssl_context"):
        QwenClient(
            Settings(),
            transport=MockTransport(lambda request: MockResponse()),
            ssl_context=ssl.create_default_context(),
        )


async def test_two_accounts_never_share_a_connection() -> None:
    def answer(request: MockRequest) -> MockResponse:
        return MockResponse(json={"success": True, "data": {"id": "chat"}})

    client, transport = client_for(answer)
    endpoints = []
    real = transport.request

    async def recording(endpoint: Any, message: bytes) -> Any:
        endpoints.append(endpoint)
        return await real(endpoint, message)

    transport.request = recording  # type: ignore[method-assign]
    for name in ("alice", "bob", "alice"):
        await client.create_chat(Account(name=name), "qwen3-max")
    assert endpoints[0] == endpoints[2]
    assert endpoints[0] != endpoints[1]
    assert endpoints[0].host == endpoints[1].host


# -- errors in 200s ------------------------------------------------------------------------------

CHALLENGE = {
    "ret": ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM::crowded"],
    "data": {"url": "https://chat.qwen.ai:443//api/v2/chat/completions/_____tmd_____/punish?a=1"},
}
SLIDER = (
    b'<!doctype html><html><body><div id="nc_1_n1z">captcha</div><script>var c = '
    b'{"punish_url": "/_____tmd_____/punish?x5secdata=S&x5step=1"};</script></body></html>'
)


async def test_a_stream_labelled_200_whose_real_status_is_an_error_raises_it() -> None:
    answer = MockResponse(
        content_type=SSE, body=b'{"detail":"Not authenticated"}', actual_status=401
    )
    client, transport = client_for(answer)
    with pytest.raises(UpstreamAuthFailed):
        await client.open_completion(Account(), "chat-1", {"stream": True})
    assert transport.unreleased == []


@pytest.mark.parametrize(
    ("answer", "url"),
    [
        (MockResponse(json=CHALLENGE, actual_status=403), CHALLENGE["data"]["url"]),  # type: ignore[index]
        (
            MockResponse(content_type="text/html; charset=utf-8", body=SLIDER),
            "http://upstream.test/_____tmd_____/punish?x5secdata=S&x5step=1",
        ),
    ],
    ids=["challenge-json", "slider-page"],
)
async def test_a_challenge_before_the_stream_is_a_captcha_with_an_absolute_url(
    answer: MockResponse, url: str
) -> None:
    client, _ = client_for(answer)
    with pytest.raises(UpstreamCaptcha) as caught:
        await client.open_completion(Account(), "chat-1", {"stream": True})
    assert caught.value.verify_url == url


async def test_a_challenge_as_the_whole_body_of_a_stream_is_a_captcha_not_an_empty_reply() -> None:
    client, _ = client_for(MockResponse(content_type=SSE, body=orjson.dumps(CHALLENGE)))
    stream = await client.open_completion(Account(), "chat-1", {"stream": True})
    await drain(stream)
    error = stream.parser.eof_error()
    assert isinstance(error, UpstreamCaptcha)
    assert error.verify_url == CHALLENGE["data"]["url"]  # type: ignore[index]
    stream.close()


# -- the auth host and the account's settings -------------------------------------------------


async def test_a_renewal_goes_to_the_auth_host_with_the_jar_and_reads_what_it_answers() -> None:
    def auth(request: MockRequest) -> MockResponse:
        return MockResponse(
            json={"success": True, "data": {"access_token": "new-at", "refresh_token": "rt2"}},
            set_cookies=("token=new-at; Path=/", "refresh_token=rt2; HttpOnly"),
        )

    client, transport = client_for(auth, auth_url="http://auth.test/prefix")
    account = Account(token="old-at", cookies="acw_tc=w; token=old-at; refresh_token=rt1")
    answer = await client.refresh_session(account)
    (request,) = transport.requests
    assert (request.method, request.path) == ("GET", "/prefix/api/v2/auths/refresh")
    assert request.headers["host"] == "auth.test"
    assert request.headers["cookie"] == "acw_tc=w; token=old-at; refresh_token=rt1"
    assert request.headers["sec-fetch-site"] == "same-site"
    assert request.headers["version"] == Settings().auth_version
    assert "authorization" not in request.headers
    assert (answer.access_token, answer.refresh_token) == ("new-at", "rt2")
    assert answer.set_cookies == ("token=new-at; Path=/", "refresh_token=rt2; HttpOnly")
    assert "new-at" not in repr(answer)


async def test_a_refused_renewal_inside_a_200_is_an_auth_failure() -> None:
    refused = MockResponse(
        json={"success": False, "data": {"code": "Unauthorized", "details": "expired"}},
        actual_status=401,
    )
    client, _ = client_for(refused)
    with pytest.raises(UpstreamAuthFailed):
        await client.refresh_session(Account(cookies="refresh_token=dead"))


async def test_a_sign_in_at_the_auth_host_sends_the_password_digest_and_the_browser() -> None:
    client, transport = client_for(
        MockResponse(json={"success": True, "data": {"access_token": "at", "id": "u"}}),
        auth_url="http://auth.test",
    )
    answer = await client.sign_in_session(Account(token="", cookies="acw_tc=w"), "a@b.c", "f" * 64)
    (request,) = transport.requests
    assert (request.method, request.path) == ("POST", "/api/v2/auths/signin")
    assert request.json() == {"email": "a@b.c", "password": "f" * 64}
    assert request.headers["cookie"] == "acw_tc=w"
    assert answer.access_token == "at"


async def test_switching_settings_posts_them_to_the_accounts_settings_route() -> None:
    client, transport = client_for(MockResponse(json={"success": True, "data": {}}))
    await client.update_settings(Account(), {"memory": {"enable_memory": False}})
    (request,) = transport.requests
    assert (request.method, request.path) == ("POST", "/api/v2/users/user/settings/update")
    assert request.headers["authorization"] == "Bearer secret-token"
    assert request.json() == {"memory": {"enable_memory": False}}
