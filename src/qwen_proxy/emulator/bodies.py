"""The non-stream answers of the service: app errors, auth errors, firewall pages, challenges.

In the 2026-10 era an error answered with HTTP 200 names its real status in the
``x-actual-status-code`` header: the answers here note it in a private header
(``ACTUAL_STATUS``) that the app's middleware turns into that one, for that era only.
"""

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

#: where an answer notes its real status until the middleware reads it (never sent)
ACTUAL_STATUS = "X-Emulator-Actual-Status"
#: the real status of each app error code, as ``x-actual-status-code`` reports it
CODE_STATUS = {
    "Bad_Request": 400,
    "Unauthorized": 401,
    "Not_Found": 404,
    "CHAT_IN_PROGRESS": 409,
    "RateLimited": 429,
}
#: the emulator's choice for challenges (no source records the real value)
CHALLENGE_STATUS = 403
CHALLENGE_MESSAGE = "RGV587_ERROR::SM::哎哟喂,被挤爆啦,请稍后重试"

# The firewall's slider page, about 16 KB like the real one, with every marker a client may
# look for: a body starting "<!doctype", aliyun_waf, punish, x5sec, baxia, nc_1_n1z, 人机验证,
# captcha.
SLIDER_HTML_HEAD = (
    '<!doctype html><html><head><meta charset="utf-8"><title>人机验证</title>\n'
    '<meta name="aliyun_waf_aa" content="slider">\n'
    '<script src="https://g.alicdn.com/AWSC/AWSC/awsc.js"></script>\n'
    '<script src="https://g.alicdn.com/sd/baxia-entry/index.js"></script>\n'
    "</head><body>\n"
    '<div id="nc_1_n1z" class="nc_iconfont btn_slide">请按住滑块，拖动到最右边 / '
    "Please slide to verify (captcha)</div>\n"
    '<script>window._config_ = {"action": "captcha", "x5secdata": "SLIDER", '
    '"punish_url": "/_____tmd_____/punish?x5secdata=SLIDER&x5step=1"};</script>\n'
)
SLIDER_PADDING = (
    "<script>/* baxia runtime, elided */var _x5sec_pad='" + "0" * 15_000 + "';</script>"
)


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer (Python-style separators do not matter outside the stream)."""
    return web.json_response(data, status=status)


def with_actual_status(response: web.Response, status: int) -> web.Response:
    """``response`` noted as carrying an error whose real status is ``status``."""
    response.headers[ACTUAL_STATUS] = str(status)
    return response


def app_error(request_id: str, code: str, details: str, **extra: Any) -> web.Response:
    """The business-error envelope on HTTP 200: ``{"success": false, ..., "data": {code,...}}``."""
    response = json_response(
        {
            "success": False,
            "request_id": request_id,
            "data": {"code": code, "details": details, **extra},
        }
    )
    return with_actual_status(response, CODE_STATUS.get(code, 400))


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
    response = json_response(
        {
            "ret": ["FAIL_SYS_USER_VALIDATE", "Please complete the verification"],
            "data": {"url": "https://chat.qwen.ai/punish?x5secdata=emulator"},
        },
        status=status,
    )
    return with_actual_status(response, CHALLENGE_STATUS)


def capacity(status: int = 200) -> web.Response:
    """The capacity WAF answer (RGV587)."""
    response = json_response(
        {"ret": ["RGV587_ERROR::SM::the system is crowded, try again later"], "data": {}},
        status=status,
    )
    return with_actual_status(response, CHALLENGE_STATUS)


def challenge_object(path: str, token: str) -> dict[str, Any]:
    """The risk engine's challenge: ``FAIL_SYS_USER_VALIDATE`` with ``RGV587`` and the punish
    URL of the route it stopped (``token`` makes each URL distinct)."""
    return {
        "ret": ["FAIL_SYS_USER_VALIDATE", CHALLENGE_MESSAGE],
        "data": {
            "url": f"https://chat.qwen.ai:443/{path}/_____tmd_____/punish"
            f"?x5secdata={token}&x5step=1&action=captcha&pureCaptcha="
        },
    }


def challenge(path: str, token: str) -> web.Response:
    """The challenge as a whole answer, in a 200."""
    response = json_response(challenge_object(path, token))
    return with_actual_status(response, CHALLENGE_STATUS)


def slider_page() -> web.Response:
    """The firewall's slider page (HTML in a 200): what a client without a browser's
    anti-bot values, or with another session's cookies, gets from a write route."""
    return web.Response(
        text=SLIDER_HTML_HEAD + SLIDER_PADDING + "\n</body></html>\n",
        content_type="text/html",
        charset="utf-8",
    )


def server_error(status: int) -> web.Response:
    """A gateway-style 5xx page, as a load balancer in front of the service would send."""
    reason = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
    text = (
        f"<html><body><h1>{status} {reason.get(status, 'Internal Server Error')}</h1></body></html>"
    )
    return web.Response(text=text, status=status, content_type="text/html")
