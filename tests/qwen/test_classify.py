"""Classification of upstream answers that are not a stream: app errors, WAF pages and JSON
challenges, auth failures, and the one test of what an error envelope is."""

from __future__ import annotations

import contextlib

import orjson
import pytest

from qwen_proxy.errors import GatewayError, GatewayTimeout
from qwen_proxy.qwen import classify
from qwen_proxy.qwen import errors as qe
from qwen_proxy.qwen.classify import (
    classify_answer,
    classify_error_object,
    envelope_error,
    json_payload,
)
from qwen_proxy.qwen.stream import QwenStreamParser

pytestmark = pytest.mark.unit

JSON = "application/json"
HTML = "text/html; charset=utf-8"

WAF_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>安全验证</title>
<script src="//g.alicdn.com/AWSC/AWSC/awsc.js"></script></head>
<body><div id="nc_1_n1z" class="aliyun_waf_aa">请完成验证 / Please complete the security
verification (captcha)</div>
<script>var punish_url="/punish?x5secdata=xxx";</script></body></html>""".encode()


def app_error(code: str, details: str, **extra: object) -> bytes:
    return orjson.dumps(
        {
            "success": False,
            "request_id": "0e1f",
            "data": {"code": code, "details": details, **extra},
        }
    )


def test_daily_limit_is_rate_limited_with_the_hours_qwen_gave() -> None:
    body = app_error("RateLimited", "You've reached the upper limit for today's usage.", num=6)
    err = classify_answer(200, JSON, body)
    assert isinstance(err, qe.UpstreamRateLimited)
    assert (err.status, err.type, err.code) == (429, "rate_limit_error", "upstream_rate_limited")
    assert err.retry_after == 6 * 3600
    assert err.account_fault == "rate_limit"
    assert "6 hour" in err.message


def test_rate_limit_without_hours_has_no_retry_after() -> None:
    err = classify_answer(200, JSON, app_error("RateLimited", "upper limit"))
    assert isinstance(err, qe.UpstreamRateLimited)
    assert err.retry_after is None


def test_busy_chat_is_a_conflict() -> None:
    err = classify_answer(200, JSON, app_error("CHAT_IN_PROGRESS", "The chat is in progress!"))
    assert isinstance(err, qe.ChatInProgress)
    assert err.status == 409
    assert err.code == "chat_in_progress"


def test_unknown_parent_is_parent_not_found() -> None:
    details = "Invalid input chat parent_id 11111111-2222-4333-8444-555555555555 is not exist."
    err = classify_answer(200, JSON, app_error("Bad_Request", details))
    assert isinstance(err, qe.ParentNotFound)
    assert (err.status, err.code) == (502, "upstream_parent_not_found")


def test_generic_internal_error_is_a_retryable_bad_request() -> None:
    err = classify_answer(200, JSON, app_error("Bad_Request", "Internal error"))
    assert isinstance(err, qe.UpstreamBadRequest)
    assert err.retryable
    assert (err.status, err.code) == (502, "upstream_bad_request")


def test_other_bad_request_is_not_retryable() -> None:
    err = classify_answer(200, JSON, app_error("Bad_Request", "stream must be true"))
    assert isinstance(err, qe.UpstreamBadRequest)
    assert not err.retryable
    assert "stream must be true" in err.message


def test_expired_token_detail_on_401_is_auth_failure() -> None:
    body = b'{"detail":"Your session has expired or the token is invalid. Please sign in again."}'
    err = classify_answer(401, JSON, body)
    assert isinstance(err, qe.UpstreamAuthFailed)
    assert (err.status, err.code) == (503, "upstream_auth_failed")
    assert err.account_fault == "auth"


def test_unauthorized_code_on_200_is_auth_failure() -> None:
    err = classify_answer(200, JSON, app_error("Unauthorized", "Token has expired"))
    assert isinstance(err, qe.UpstreamAuthFailed)


def test_waf_json_captcha_keeps_the_verification_url() -> None:
    url = "https://chat.qwen.ai/punish?x5secdata=abc"
    body = orjson.dumps(
        {
            "ret": ["FAIL_SYS_USER_VALIDATE", "Please complete the verification"],
            "data": {"url": url},
        }
    )
    err = classify_answer(200, JSON, body)
    assert isinstance(err, qe.UpstreamCaptcha)
    assert err.verify_url == url
    assert url not in err.message
    assert (err.status, err.code) == (503, "upstream_captcha")


def test_waf_json_crowded_is_a_challenge_not_overload() -> None:
    body = b'{"ret":["RGV587_ERROR::SM::the system is crowded, try again later"],"data":{}}'
    err = classify_answer(200, JSON, body)
    assert isinstance(err, qe.UpstreamCaptcha)
    assert (err.status, err.code, err.account_fault) == (503, "upstream_captcha", "captcha")
    assert not hasattr(qe, "UpstreamOverloaded")


CHALLENGE = {
    "ret": ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM::哎哟喂,被挤爆啦,请稍后重试"],
    "data": {
        "url": "https://chat.qwen.ai:443//api/v2/chat/completions/_____tmd_____/punish"
        "?x5secdata=abc&x5step=1&action=captcha&pureCaptcha="
    },
}


@pytest.mark.parametrize("actual", [0, 200, 403, 429])
def test_the_risk_engines_challenge_is_a_captcha_with_its_punish_url(actual: int) -> None:
    err = classify_answer(200, JSON, orjson.dumps(CHALLENGE), actual)
    assert isinstance(err, qe.UpstreamCaptcha)
    assert err.verify_url == CHALLENGE["data"]["url"]  # type: ignore[index]
    assert "x5secdata" not in err.message


SLIDER = (
    '<!doctype html><html><head><meta charset="utf-8"><title>人机验证</title></head><body>'
    '<script>window._config_ = {"action": "captcha", '
    '"punish_url": "/_____tmd_____/punish?x5secdata=SLIDER&amp;x5step=1"};</script></body></html>'
).encode()


def test_the_slider_page_is_a_captcha_that_keeps_its_verification_url() -> None:
    err = classify_answer(200, HTML, SLIDER)
    assert isinstance(err, qe.UpstreamCaptcha)
    assert err.verify_url == "/_____tmd_____/punish?x5secdata=SLIDER&x5step=1"


@pytest.mark.parametrize(
    "marker",
    ["aliyun_waf", "punish", "x5sec", "baxia", "nc_1_n1z", "人机验证", "captcha", "<!doctype"],
)
def test_every_marker_of_the_slider_page_alone_makes_a_captcha(marker: str) -> None:
    page = f"<!-- page --><html><body>{marker}</body></html>"
    if marker == "<!doctype":
        page = "<!DOCTYPE html><html><body>please wait</body></html>"
    err = classify_answer(200, HTML, page.encode())
    assert isinstance(err, qe.UpstreamCaptcha)


def test_an_html_error_page_of_a_server_failure_is_no_captcha() -> None:
    page = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"
    assert isinstance(classify_answer(502, HTML, page), qe.UpstreamServerError)
    assert isinstance(classify_answer(200, HTML, page, 502), qe.UpstreamServerError)


@pytest.mark.parametrize(
    ("actual", "body", "error"),
    [
        (401, b'{"detail":"Not authenticated"}', qe.UpstreamAuthFailed),
        (429, b'{"success":false,"data":{"code":"x","details":"y"}}', qe.UpstreamRateLimited),
        (500, b'{"success":false}', qe.UpstreamServerError),
        (403, orjson.dumps(CHALLENGE), qe.UpstreamCaptcha),
    ],
)
def test_a_200_naming_its_real_status_is_classified_by_that_status(
    actual: int, body: bytes, error: type[qe.UpstreamError]
) -> None:
    assert isinstance(classify_answer(200, JSON, body, actual), error)
    with pytest.raises(error):
        json_payload(200, JSON, body, actual)


def test_a_200_that_names_another_status_is_an_error_even_when_it_looks_like_data() -> None:
    with pytest.raises(qe.UpstreamAuthFailed):
        json_payload(200, JSON, b'{"success":true,"data":{}}', 401)
    assert json_payload(200, JSON, b'{"success":true,"data":{}}', 200) == {
        "success": True,
        "data": {},
    }


@pytest.mark.parametrize("status", [200, 403, 405])
def test_waf_html_page_is_a_captcha(status: int) -> None:
    err = classify_answer(status, HTML, WAF_PAGE)
    assert isinstance(err, qe.UpstreamCaptcha)
    assert err.account_fault == "captcha"


def test_waf_page_served_with_a_wrong_content_type_is_still_a_captcha() -> None:
    assert isinstance(classify_answer(200, "text/plain", WAF_PAGE), qe.UpstreamCaptcha)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable(status: int) -> None:
    err = classify_answer(status, "text/plain", b"Bad Gateway")
    assert isinstance(err, qe.UpstreamServerError)
    assert err.retryable
    assert str(status) in err.message


def test_unknown_json_is_malformed() -> None:
    err = classify_answer(200, JSON, b'{"hello": "world"}')
    assert isinstance(err, qe.UpstreamMalformed)
    assert (err.status, err.code) == (502, "upstream_malformed")


def test_empty_body_is_malformed() -> None:
    assert isinstance(classify_answer(200, JSON, b""), qe.UpstreamMalformed)


def test_json_reply_quoting_waf_words_is_not_mistaken_for_a_captcha() -> None:
    body = b'{"success": true, "data": {"text": "no punishment, no captcha"}}'
    assert isinstance(classify_answer(200, JSON, body), qe.UpstreamMalformed)


def test_content_filter_envelope_is_an_invalid_request_for_the_client() -> None:
    obj = {"error": {"code": "data_inspection_failed", "details": "Output data may contain..."}}
    err = classify_error_object(obj)
    assert isinstance(err, qe.ContentFiltered)
    assert (err.status, err.type, err.code) == (400, "invalid_request_error", "content_filter")


def test_quota_envelope_is_quota_exceeded_and_retryable_elsewhere() -> None:
    obj = {
        "success": False,
        "data": {"code": "internal_error", "details": "Allocated quota exceeded, please increase"},
    }
    err = classify_error_object(obj)
    assert isinstance(err, qe.QuotaExceeded)
    assert (err.status, err.code) == (429, "upstream_quota_exceeded")
    assert err.retryable


def test_plain_internal_error_envelope_is_a_server_error() -> None:
    err = classify_error_object({"error": {"code": "internal_error", "message": "boom"}})
    assert isinstance(err, qe.UpstreamServerError)


def test_unknown_model_is_model_not_found() -> None:
    err = classify_answer(200, JSON, app_error("Not_Found", "Model not found: qwen-nope"))
    assert isinstance(err, qe.UpstreamModelNotFound)
    assert (err.status, err.code) == (404, "model_not_found")


def test_upstream_text_never_leaks_a_token_into_the_message() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6IjEyMzQ1Njc4OTAifQ.c2lnbmF0dXJlc2lnbmF0dXJl"
    err = classify_answer(200, JSON, app_error("Bad_Request", f"bad header token={jwt}"))
    assert jwt not in err.message
    assert "eyJ" not in err.message


def test_every_upstream_error_is_a_gateway_error_and_an_upstream_error() -> None:
    timeout = qe.UpstreamTimeout()
    assert isinstance(timeout, GatewayTimeout)
    assert isinstance(timeout, qe.UpstreamError)
    assert (timeout.status, timeout.code) == (504, "upstream_timeout")
    for cls in qe.UpstreamError.__subclasses__():
        err = cls()
        assert isinstance(err, GatewayError)
        assert err.message
        assert err.to_dict()["code"] == cls.code


def test_success_json_is_recognised() -> None:
    success = b'{"success":true,"request_id":"1","data":{"id":"chat"}}'
    assert json_payload(200, JSON, success) == orjson.loads(success)
    assert envelope_error(orjson.loads(success)) is None
    with pytest.raises(qe.UpstreamRateLimited):
        json_payload(200, JSON, app_error("RateLimited", "x"))
    with pytest.raises(qe.UpstreamMalformed):
        json_payload(200, JSON, b"<html></html>")


ENVELOPES = [
    ({"success": False, "data": {"code": "RateLimited", "details": "x"}}, qe.UpstreamRateLimited),
    ({"error": {"code": "data_inspection_failed", "details": "x"}}, qe.ContentFiltered),
    ({"data": {"error": {"code": "Unauthorized", "details": "x"}}}, qe.UpstreamAuthFailed),
    (
        {"data": {"code": "CHAT_IN_PROGRESS", "details": "The chat is in progress!"}},
        qe.ChatInProgress,
    ),
    (
        {"ret": ["FAIL_SYS_USER_VALIDATE", "verify"], "data": {"url": "https://x/punish"}},
        qe.UpstreamCaptcha,
    ),
    ({"ret": ["RGV587_ERROR::SM::crowded"], "data": {}}, qe.UpstreamCaptcha),
    ({"detail": "Your session has expired or the token is invalid."}, qe.UpstreamAuthFailed),
    ({"error": "Internal error!"}, qe.UpstreamBadRequest),
]
DATA = [
    {"success": True, "request_id": "1", "data": {"id": "chat"}},
    {"success": True, "data": {"status": True}, "error": None},
    {"token": "jwt", "id": "user"},
    {"data": [{"id": "qwen3-max"}]},
]


@pytest.mark.parametrize(("envelope", "error"), ENVELOPES)
def test_short_answers_and_stream_events_agree_on_an_error_envelope(
    envelope: dict[str, object], error: type[qe.UpstreamError]
) -> None:
    raw = orjson.dumps(envelope)
    with pytest.raises(error):
        json_payload(200, JSON, raw)
    assert isinstance(classify_answer(200, JSON, raw), error)
    parser = QwenStreamParser()
    parser.feed(b"data: " + raw + b"\n\n")
    assert isinstance(parser.error, error)


@pytest.mark.parametrize("payload", DATA)
def test_short_answers_and_stream_events_agree_on_data(payload: dict[str, object]) -> None:
    raw = orjson.dumps(payload)
    assert json_payload(200, JSON, raw) == payload
    parser = QwenStreamParser()
    assert parser.feed(b"data: " + raw + b"\n\n") == []
    assert parser.error is None


@pytest.mark.parametrize(
    "body",
    [
        b'{"success":true,"data":{"id":"chat"}}',
        app_error("RateLimited", "x"),
        b"{not json",
        b"<html>captcha</html>",
    ],
)
def test_a_short_answer_is_parsed_once(body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []

    def counting(data: bytes) -> object:
        calls.append(data)
        return orjson.loads(data)

    monkeypatch.setattr(classify, "_loads", counting)
    with contextlib.suppress(qe.UpstreamError):
        json_payload(200, JSON, body)
    assert len(calls) == 1
