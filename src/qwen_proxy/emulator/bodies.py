"""The non-stream answers of the service: app errors, auth errors, WAF pages."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from qwen_proxy.emulator.config import AuthErrorForm

WAF_HTML = (
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>安全验证</title>\n'
    '<script src="//g.alicdn.com/AWSC/AWSC/awsc.js"></script></head>\n'
    '<body><div id="nc_1_n1z" class="aliyun_waf_aa">请完成验证 / Please complete the security '
    "verification (captcha)</div>\n"
    '<script>var punish_url="/punish?x5secdata=xxx";</script></body></html>\n'
)
EXPIRED_DETAIL = "Your session has expired or the token is invalid. Please sign in again."
RATE_LIMIT_DETAILS = "You've reached the upper limit for today's usage."


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer (Python-style separators do not matter outside the stream)."""
    return web.json_response(data, status=status)


def app_error(request_id: str, code: str, details: str, **extra: Any) -> web.Response:
    """The business-error envelope on HTTP 200: ``{"success": false, ..., "data": {code,...}}``."""
    return json_response(
        {
            "success": False,
            "request_id": request_id,
            "data": {"code": code, "details": details, **extra},
        }
    )


def auth_error(request_id: str, form: AuthErrorForm, detail: str = EXPIRED_DETAIL) -> web.Response:
    """An expired or unknown token, in the selected form."""
    if form == "unauthorized":
        return app_error(request_id, "Unauthorized", detail)
    return json_response({"detail": detail}, status=401)


def waf_html(status: int = 200) -> web.Response:
    """The Alibaba WAF challenge page in place of JSON."""
    return web.Response(text=WAF_HTML, status=status, content_type="text/html", charset="utf-8")


def waf_json(status: int = 200) -> web.Response:
    """The mtop-style CAPTCHA answer with a punish URL."""
    return json_response(
        {
            "ret": ["FAIL_SYS_USER_VALIDATE", "Please complete the verification"],
            "data": {"url": "https://chat.qwen.ai/punish?x5secdata=emulator"},
        },
        status=status,
    )


def capacity(status: int = 200) -> web.Response:
    """The capacity WAF answer (RGV587)."""
    return json_response(
        {"ret": ["RGV587_ERROR::SM::the system is crowded, try again later"], "data": {}},
        status=status,
    )


def server_error(status: int) -> web.Response:
    """A gateway-style 5xx page, as a load balancer in front of the service would send."""
    reason = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
    text = (
        f"<html><body><h1>{status} {reason.get(status, 'Internal Server Error')}</h1></body></html>"
    )
    return web.Response(text=text, status=status, content_type="text/html")
