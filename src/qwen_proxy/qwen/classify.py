"""Turn any upstream answer that is not a healthy stream into one of ``qwen.errors``' classes.

Pure functions over status, content type and bytes, or a JSON object already parsed (a stream
event). This module is the only place in the gateway that reads Qwen's error strings; everything
else matches on the classes.

Since autumn 2026 many failures come as HTTP 200 with the real status in the
``x-actual-status-code`` header: callers pass it as ``actual_status`` and it counts as the
answer's status. The firewall's slider page (HTML in a 200) and the risk engine's challenge
JSON (``FAIL_SYS_USER_VALIDATE`` / ``RGV587`` with a punish URL) are both a captcha, with the
verification URL kept when the answer names one.
"""

from __future__ import annotations

import html
import re
from typing import Any

import orjson

from qwen_proxy.qwen.errors import (
    ChatInProgress,
    ContentFiltered,
    ParentNotFound,
    QuotaExceeded,
    UpstreamAuthFailed,
    UpstreamBadRequest,
    UpstreamCaptcha,
    UpstreamError,
    UpstreamMalformed,
    UpstreamModelNotFound,
    UpstreamRateLimited,
    UpstreamServerError,
)

# Markers of Alibaba's WAF / captcha (slider) page, matched case-insensitively.
_WAF_MARKERS = (
    "安全验证",
    "人机验证",
    "awsc",
    "aliyun_waf",
    "punish",
    "x5sec",
    "baxia",
    "nc_1_n1z",
    "captcha",
    "fail_sys_user_validate",
)
_AUTH_MARKERS = (
    "unauthorized",
    "token has expired",
    "token expired",
    "token is invalid",
    "invalid token",
    "not authenticated",
    "sign in again",
    "session has expired",
)
# Upstream text is echoed into client-facing messages; never let a credential ride along.
_SECRET_RE = re.compile(
    r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*|(?i:(?:token|key|x5secdata|cookie)=)[^\s&\"';,]+"
)
_MAX_DETAIL = 300
#: where a slider page names its verification page (absolute, protocol-relative or a path)
_PUNISH_URL_RE = re.compile(
    r"""(?:https?:)?//[^\s"'<>]*punish[^\s"'<>]*|/[^\s"'<>]*punish\?[^\s"'<>]*"""
)
_loads = orjson.loads
#: what ``_parse`` returns for a body that is not JSON (``None`` is JSON's null)
_NOT_JSON: Any = object()


def effective_status(status: int, actual_status: int = 0) -> int:
    """The status an answer really has: the one ``x-actual-status-code`` names in a 200."""
    return actual_status if status == 200 and actual_status else status


def classify_answer(
    status: int, content_type: str, body: bytes, actual_status: int = 0
) -> UpstreamError:
    """Classify an upstream answer that is not an SSE stream (JSON error, WAF page, 5xx...);
    ``actual_status`` is the ``x-actual-status-code`` header's (0 when absent)."""
    return _classify(effective_status(status, actual_status), content_type, body, _parse(body))


def json_payload(status: int, content_type: str, body: bytes, actual_status: int = 0) -> Any:
    """The data of a short JSON answer that reports success; anything else raises, classified.

    The body is parsed once: that value is both checked for an error envelope and classified.
    A 200 whose ``x-actual-status-code`` (``actual_status``) names another status is an error.
    """
    status = effective_status(status, actual_status)
    if status != 200 or "json" not in content_type:
        raise classify_answer(status, content_type, body)
    obj = _parse(body)
    if obj is _NOT_JSON:
        raise _classify(status, content_type, body, obj)
    # app errors and the WAF's JSON challenge both come back as 200 application/json
    error = envelope_error(obj, status) if isinstance(obj, dict) else None
    if error is not None:
        raise error
    return obj


def envelope_error(obj: dict[str, Any], status: int = 200) -> UpstreamError | None:
    """The error a JSON object from the upstream reports, or None when it carries data.

    The one test of "is this an error envelope", for short answers and stream events alike:
    the WAF's ``ret`` list, Open-WebUI's ``detail``, ``success: false``, an ``error`` (at the
    top or inside ``data``) or a ``code`` inside ``data``.
    """
    ret = obj.get("ret")
    if ret:
        return _classify_ret(ret if isinstance(ret, list) else [ret], obj.get("data"))
    detail = obj.get("detail")
    if detail is not None:
        return _classify_detail(status, detail)
    data = obj.get("data")
    if (
        obj.get("error")
        or obj.get("success") is False
        or (type(data) is dict and (data.get("error") or data.get("code")))
    ):
        return classify_error_object(obj)
    return None


def classify_error_object(obj: dict[str, Any]) -> UpstreamError:
    """Classify an error object known to be one: ``{"error":...}``, ``{"data":{"error":...}}``,
    ``{"success":false,"data":{"code":...}}`` or a bare ``{"code","details"}`` object."""
    code, details, num = _error_fields(obj)
    return _classify_code(code, details, num)


def _parse(body: bytes) -> Any:
    """``body`` as JSON, or ``_NOT_JSON``."""
    try:
        return _loads(body)
    except orjson.JSONDecodeError:
        return _NOT_JSON


def _classify(status: int, content_type: str, body: bytes, obj: Any) -> UpstreamError:
    text = body.decode("utf-8", "replace")
    if "html" in content_type.lower() or text.lstrip().startswith("<"):
        return _classify_html(status, text)
    if isinstance(obj, dict):
        found = envelope_error(obj, status)
        if found is not None:
            if type(found) is UpstreamBadRequest and _status_says_more(status):
                # an envelope whose code says nothing known: its real status tells what it is
                return _classify_status(status, obj, text)
            return found
    # Only free text is searched for WAF markers: a JSON reply may quote such words harmlessly.
    if obj is _NOT_JSON and _looks_like_waf(text):
        return UpstreamCaptcha(verify_url=captcha_url(text))
    return _classify_status(status, obj, text)


def _status_says_more(status: int) -> bool:
    return status in (401, 403, 429) or status >= 500


def _classify_html(status: int, text: str) -> UpstreamError:
    # a whole HTML document where data was asked for, with no other status: the slider page
    page = status == 200 and text.lstrip()[:9].lower() == "<!doctype"
    if page or _looks_like_waf(text):
        return UpstreamCaptcha(verify_url=captcha_url(text))
    if status >= 500:
        return UpstreamServerError(f"Qwen failed with HTTP {status} (an HTML error page). Retry.")
    if status in (401, 403):
        return UpstreamAuthFailed()
    return UpstreamMalformed(
        f"Qwen answered with an unexpected HTML page (HTTP {status}) instead of data."
    )


def _looks_like_waf(text: str) -> bool:
    lowered = text[:65536].lower()
    return any(marker in lowered for marker in _WAF_MARKERS)


def captcha_url(text: str) -> str | None:
    """The verification ("punish") URL a slider page names, as written (maybe a bare path)."""
    match = _PUNISH_URL_RE.search(text[:65536])
    if match is None:
        return None
    return html.unescape(match.group(0).replace("\\/", "/"))


def _classify_ret(ret: list[Any], data: Any) -> UpstreamError:
    joined = " ".join(str(item) for item in ret)
    url = data.get("url") if isinstance(data, dict) else None
    url = url if isinstance(url, str) and url else None
    # RGV587 reads "crowded, try later" but is a challenge: a retry deepens the mark
    if "USER_VALIDATE" in joined or "RGV587" in joined or url is not None:
        return UpstreamCaptcha(verify_url=url)
    return UpstreamMalformed(f"Qwen's gateway answered {_safe(joined)!r} instead of a reply.")


def _classify_detail(status: int, detail: Any) -> UpstreamError:
    text = detail if isinstance(detail, str) else str(detail)
    lowered = text.lower()
    if status in (401, 403) or any(marker in lowered for marker in _AUTH_MARKERS):
        return UpstreamAuthFailed()
    if status == 404 and "model" in lowered:
        return UpstreamModelNotFound()
    return _classify_code("", text, None) if status < 500 else _server_error(status, text)


def _classify_status(status: int, obj: Any, text: str) -> UpstreamError:
    if status in (401, 403):
        return UpstreamAuthFailed()
    if status == 429:
        return UpstreamRateLimited()
    if status >= 500:
        return _server_error(status, text)
    if not text.strip():
        return UpstreamMalformed(f"Qwen answered HTTP {status} with an empty body.")
    kind = "JSON" if obj is not _NOT_JSON else "text"
    return UpstreamMalformed(
        f"Qwen answered HTTP {status} with unexpected {kind} instead of a reply: {_safe(text)!r}"
    )


def _server_error(status: int, text: str) -> UpstreamError:
    return UpstreamServerError(f"Qwen failed with HTTP {status}{_suffix(text)}. Retry in a moment.")


def _error_fields(obj: dict[str, Any]) -> tuple[str, str, Any]:
    """Dig (code, details, num) out of whichever envelope ``obj`` is."""
    inner: Any = obj
    if obj.get("error"):
        inner = obj["error"]
    else:
        data = obj.get("data")
        if isinstance(data, dict):
            inner = data["error"] if data.get("error") else data
    if isinstance(inner, str):
        return "", inner, None
    if not isinstance(inner, dict):
        return "", str(inner), None
    code = inner.get("code")
    details = inner.get("details") or inner.get("message") or inner.get("msg") or ""
    return (
        code if isinstance(code, str) else str(code or ""),
        details if isinstance(details, str) else str(details),
        inner.get("num"),
    )


def _classify_code(code: str, details: str, num: Any) -> UpstreamError:
    lowered = details.lower()
    code_l = code.lower()
    both = f"{code_l} {lowered}"
    where = _suffix(f"{code}: {details}" if code else details)
    if code_l == "ratelimited" or "upper limit" in lowered or "rate limit" in lowered:
        return _rate_limited(num, details)
    if code_l == "chat_in_progress" or "chat is in progress" in lowered:
        return ChatInProgress()
    if "data_inspection_failed" in both or "inappropriate content" in lowered:
        return ContentFiltered()
    if "quota" in lowered:
        return QuotaExceeded()
    if code_l == "unauthorized" or any(marker in lowered for marker in _AUTH_MARKERS):
        return UpstreamAuthFailed()
    if (
        "rgv587" in both
        or "fail_sys_user_validate" in both
        or code_l == "humanverificationrequired"
    ):
        return UpstreamCaptcha()
    if "parent_id" in lowered and ("not exist" in lowered or "not found" in lowered):
        return ParentNotFound()
    if "model" in lowered and ("not exist" in lowered or "not found" in lowered):
        return UpstreamModelNotFound()
    if code_l == "not_found":
        return ParentNotFound(f"Qwen could not find the chat this request continues{where}.")
    if code_l == "internal_error" or (code_l == "bad_request" and "internal error" in lowered):
        if code_l == "bad_request":
            return UpstreamBadRequest(
                f"Qwen rejected the request with an internal error{where}. Retry.",
                retryable=True,
            )
        return UpstreamServerError(f"Qwen had an internal error{where}. Retry in a moment.")
    return UpstreamBadRequest(f"Qwen rejected the request{where}.")


def _rate_limited(num: Any, details: str) -> UpstreamRateLimited:
    hours = num if isinstance(num, int | float) and not isinstance(num, bool) and num > 0 else None
    if hours is None:
        return UpstreamRateLimited(
            f"The Qwen account reached its usage limit{_suffix(details)}. "
            "Wait before retrying, or add another account."
        )
    return UpstreamRateLimited(
        f"The Qwen account reached its usage limit{_suffix(details)}; "
        f"Qwen asks to wait {hours:g} hour(s). Retry later, or add another account.",
        retry_after=float(hours) * 3600.0,
    )


def _safe(text: str) -> str:
    """Upstream text fit for a client message: short, one line, no credentials."""
    cleaned = _SECRET_RE.sub("[redacted]", " ".join(text.split()))
    if len(cleaned) > _MAX_DETAIL:
        cleaned = cleaned[:_MAX_DETAIL] + "..."
    return cleaned


def _suffix(text: str) -> str:
    cleaned = _safe(text)
    return f" ({cleaned})" if cleaned else ""
