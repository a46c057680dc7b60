"""One test per row of the README's error table: each upstream fault, as the client sees it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway_support import MODEL, running_gateway, session_settings
from qwen_proxy.emulator.model import UNICODE_ANSWER

pytestmark = pytest.mark.integration

CHAT = "/v1/chat/completions"


def post(gateway: Any, content: str = "echo: hello there", **extra: Any) -> httpx.Response:
    body = {"model": MODEL, "messages": [{"role": "user", "content": content}], **extra}
    return httpx.post(gateway.url + CHAT, json=body, timeout=30)


def error_of(response: httpx.Response) -> dict[str, Any]:
    payload = response.json()
    assert set(payload) == {"error"}
    error: dict[str, Any] = payload["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


@pytest.mark.parametrize(
    ("fault", "params", "status", "type_", "code"),
    [
        ("waf_html", {}, 503, "upstream_error", "upstream_captcha"),
        ("waf_json", {}, 503, "upstream_error", "upstream_captcha"),
        ("capacity", {}, 503, "upstream_error", "upstream_captcha"),
        ("challenge", {}, 503, "upstream_error", "upstream_captcha"),
        ("slider", {}, 503, "upstream_error", "upstream_captcha"),
        ("expired_token", {}, 503, "upstream_error", "upstream_auth_failed"),
        ("expired_token", {"form": "unauthorized"}, 503, "upstream_error", "upstream_auth_failed"),
        ("rate_limited", {"num": 6}, 429, "rate_limit_error", "upstream_rate_limited"),
        ("http_5xx", {"status": 500}, 502, "upstream_error", "upstream_server_error"),
        ("reset", {}, 502, "upstream_error", "upstream_connection_error"),
        ("empty_stream", {}, 502, "upstream_error", "upstream_empty_reply"),
        ("bad_request_internal", {}, 502, "upstream_error", "upstream_bad_request"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_fault_before_the_stream_is_an_openai_error(
    emulator: Any,
    gateway: Any,
    fault: str,
    params: dict[str, Any],
    status: int,
    type_: str,
    code: str,
    stream: bool,
) -> None:
    emulator.set_fault(fault, **params)
    response = post(gateway, stream=stream)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = error_of(response)
    assert (error["type"], error["code"]) == (type_, code)
    assert emulator.token not in response.text


@pytest.mark.parametrize(
    ("fault", "params", "reason"),
    [
        ("waf_html", {}, "captcha"),
        ("rate_limited", {"num": 2}, "rate-limited"),
    ],
)
def test_account_out_of_service_then_503_saying_why(
    emulator: Any, gateway: Any, fault: str, params: dict[str, Any], reason: str
) -> None:
    emulator.set_fault(fault, times=1, **params)
    post(gateway)
    response = post(gateway)
    assert response.status_code == 503
    error = error_of(response)
    assert error["code"] == "no_account_available"
    assert reason in error["message"]


@pytest.mark.parametrize("form", ["detail", "unauthorized"])
def test_a_rejected_token_is_renewed_and_the_request_served(
    emulator: Any, gateway: Any, form: str
) -> None:
    # "unauthorized", as a 401 or inside a 200: renew the token, then try once more
    emulator.set_fault("expired_token", times=1, form=form)
    response = post(gateway, content="echo: renewed")
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "renewed"
    assert len(emulator.requests("/auths/refresh")) >= 1


def test_a_token_whose_renewal_is_refused_puts_the_account_out_of_service_saying_why(
    emulator: Any, gateway: Any
) -> None:
    emulator.set_fault("expired_token")
    emulator.set_fault("expired_token", route="refresh")
    first = post(gateway)
    second = post(gateway)
    assert first.status_code == 503
    assert error_of(first)["code"] == "upstream_auth_failed"
    assert second.status_code == 503
    error = error_of(second)
    assert error["code"] == "no_account_available"
    assert "need a new browser session" in error["message"]
    assert second.headers["x-should-retry"] == "false"


def test_rate_limit_tells_how_long_and_not_to_retry_soon(emulator: Any, gateway: Any) -> None:
    emulator.set_fault("rate_limited", num=6)
    response = post(gateway)
    assert response.status_code == 429
    assert response.headers["retry-after"] == str(6 * 3600)
    assert response.headers["x-should-retry"] == "false"


@pytest.mark.parametrize("fault", ["capacity", "challenge", "slider"])
def test_a_challenge_is_never_retried_on_the_same_account(
    emulator: Any, gateway: Any, fault: str
) -> None:
    # "crowded, try later" (RGV587) included: a retry would deepen the mark
    emulator.set_fault(fault)
    response = post(gateway)
    assert response.status_code == 503
    assert error_of(response)["code"] == "upstream_captcha"
    assert response.headers["x-should-retry"] == "false"  # no account comes back by itself
    assert len(emulator.requests("/chat/completions")) == 1


@pytest.mark.parametrize(
    ("fault", "params"),
    [
        ("http_5xx", {"status": 502}),
        ("reset", {}),
        ("bad_request_internal", {}),
        ("empty_stream", {}),
        ("cut_after", {"n": 1}),
    ],
)
def test_one_transient_failure_is_retried_transparently(
    emulator: Any, gateway: Any, fault: str, params: dict[str, Any]
) -> None:
    emulator.set_fault(fault, times=1, **params)
    response = post(gateway, content="echo: survived")
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "survived"


@pytest.mark.slow
def test_stall_before_first_byte_is_a_504(emulator: Any, slow_gateway: Any) -> None:
    emulator.set_fault("stall", seconds=3)
    response = post(slow_gateway)
    assert response.status_code == 504
    assert error_of(response)["code"] == "upstream_timeout"


def test_a_timeout_after_retries_says_how_long_the_client_waited_in_all(
    emulator: Any, tmp_path: Path
) -> None:
    settings = session_settings(emulator, tmp_path, first_byte_timeout=0.3, retries=2)
    emulator.set_fault("stall", seconds=3)
    with running_gateway(settings) as gateway:
        response = post(gateway)
    assert response.status_code == 504
    message = error_of(response)["message"]
    assert "0.3 s before the first byte" in message  # one attempt's figure ...
    assert re.search(r"Gave up after 3 attempts over (\d+\.\d) s\.", message), message
    total = float(re.findall(r"over (\d+\.\d) s", message)[0])
    assert total >= 0.9  # ... and the whole wait


@pytest.mark.parametrize(
    ("fault", "params"),
    [("trickle", {"delay": 0.01}), ("malformed_line", {"at": 2}), ("cumulative", {})],
)
def test_stream_oddities_still_give_the_exact_answer(
    emulator: Any, client: openai.OpenAI, fault: str, params: dict[str, Any]
) -> None:
    emulator.set_fault(fault, **params)
    stream = client.chat.completions.create(
        model=MODEL, stream=True, messages=[{"role": "user", "content": "unicode"}]
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == UNICODE_ANSWER


@pytest.mark.parametrize(
    "prompt",
    ["echo: hello there", "echo: hi", "echo: x", "my name is Ada", "unicode", "echo: ok ok"],
)
def test_cumulative_upstream_deltas_give_the_exact_answer_streamed_and_whole(
    emulator: Any, client: openai.OpenAI, prompt: str
) -> None:
    messages: Any = [{"role": "user", "content": prompt}]
    expected = client.chat.completions.create(model=MODEL, messages=messages)
    emulator.set_fault("cumulative")
    whole = client.chat.completions.create(model=MODEL, messages=messages)
    stream = client.chat.completions.create(model=MODEL, stream=True, messages=messages)
    streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert whole.choices[0].message.content == expected.choices[0].message.content
    assert streamed == expected.choices[0].message.content


def test_stream_cut_midway_ends_with_an_error_event(emulator: Any, client: openai.OpenAI) -> None:
    emulator.set_fault("cut_after", n=4)
    stream = client.chat.completions.create(
        model=MODEL, stream=True, messages=[{"role": "user", "content": "long answer 400"}]
    )
    received: list[Any] = []
    with pytest.raises(openai.APIError) as caught:
        received.extend(stream)
    assert received, "content before the cut reaches the client"
    assert "finished" in str(caught.value.message) or "closed" in str(caught.value.message)


def test_stream_cut_midway_non_streamed_is_502(emulator: Any, gateway: Any) -> None:
    emulator.set_fault("cut_after", n=4)
    response = post(gateway, content="long answer 400")
    assert response.status_code == 502
    error = error_of(response)
    assert error["code"] == "upstream_stream_cut"
    # a whole reply that failed shows no text: the message must not speak of one
    assert "partial" not in error["message"]
    assert "above" not in error["message"]


def test_quota_error_midstream_arrives_as_error_event(emulator: Any, client: openai.OpenAI) -> None:
    emulator.set_fault("error_midstream", after=40, code="internal_error", envelope="success")
    emulator.set_fault("trickle", delay=0.002)
    stream = client.chat.completions.create(
        model=MODEL, stream=True, messages=[{"role": "user", "content": "long answer 3000"}]
    )
    with pytest.raises(openai.APIError):
        list(stream)


def test_content_filter_midstream_keeps_partial_answer(
    emulator: Any, client: openai.OpenAI
) -> None:
    emulator.set_fault("error_midstream", after=2, code="data_inspection_failed")
    emulator.set_fault("trickle", delay=0.002)
    chunks = list(
        client.chat.completions.create(
            model=MODEL, stream=True, messages=[{"role": "user", "content": "long answer 300"}]
        )
    )
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@pytest.mark.parametrize(
    "fault", ["expired_token", "waf_html", "waf_json", "rate_limited", "http_5xx"]
)
def test_no_token_in_any_error(emulator: Any, gateway: Any, fault: str) -> None:
    # a fresh gateway per fault: the first fault would otherwise bench the only account
    emulator.set_fault(fault)
    emulator.clear_requests()
    response = post(gateway)
    assert response.status_code >= 400
    assert emulator.requests("/api/v2/"), "the fault never reached the emulator"
    assert emulator.token not in response.text


def test_content_filter_early_non_streamed_keeps_partial_answer(
    emulator: Any, gateway: Any
) -> None:
    emulator.set_fault("error_midstream", after=1, code="data_inspection_failed")
    response = post(gateway, content="long answer 300")
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    assert choice["message"]["content"]


@pytest.mark.parametrize(
    ("code", "status", "error_code"),
    [
        ("data_inspection_failed", 400, "content_filter"),
        ("internal_error", 429, "upstream_quota_exceeded"),
    ],
)
def test_error_envelope_before_any_text_is_an_http_error(
    emulator: Any, gateway: Any, code: str, status: int, error_code: str
) -> None:
    emulator.set_fault("error_midstream", after=0, code=code)
    response = post(gateway)
    assert response.status_code == status, response.text
    assert error_of(response)["code"] == error_code


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("waf_json", "upstream_captcha"),
        ("waf_html", "upstream_captcha"),
        ("expired_token", "upstream_auth_failed"),
        ("rate_limited", "upstream_rate_limited"),
    ],
)
def test_fault_when_creating_the_chat_is_classified_too(
    emulator: Any, gateway: Any, fault: str, code: str
) -> None:
    emulator.set_fault(fault, route="new_chat")
    response = post(gateway)
    assert error_of(response)["code"] == code


def test_after_the_gateway_retried_it_tells_clients_not_to_retry(
    emulator: Any, gateway: Any
) -> None:
    emulator.set_fault("http_5xx", status=503)
    response = post(gateway)
    assert response.status_code == 502
    assert response.headers["x-should-retry"] == "false"
    # the gateway itself tried 1 + QWEN_PROXY_RETRIES (2) times
    assert len([r for r in emulator.requests("/api/v2/chats/new") if r.method == "POST"]) == 3
