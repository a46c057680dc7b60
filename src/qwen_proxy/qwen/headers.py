"""The headers of an upstream call, as the web app in a desktop browser sends them.

Qwen's firewall answers clients that do not look like its web app with a captcha, so every call
carries the whole set a browser sends: the app's own headers (``source``, ``version``,
``x-request-id``, ``timezone``), the browser's (User-Agent, client hints, ``Sec-Fetch-*``,
language), the anti-bot values (``bx-*``), and both forms of authentication (the cookie jar
with ``token=`` and ``Authorization: Bearer``). Values captured from the account's own browser
session win over the gateway's settings, so one session always presents one browser.
"""

from __future__ import annotations

import re
import time

from qwen_proxy.qwen.browser import BrowserProfile

ORIGIN = "https://chat.qwen.ai"
DEFAULT_ACCEPT_LANGUAGE = "en-US,en;q=0.9"

_CHROME_RE = re.compile(r"Chrome/(\d+)")
_OFFSET_RE = re.compile(r"GMT([+-])(\d{2})(\d{2})")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def browser_headers(
    *,
    token: str,
    cookies: str | None,
    web_version: str,
    bx_v: str,
    user_agent: str,
    chat_id: str | None,
    request_id: str,
    accept: str = "text/event-stream",
    timezone: str | None = None,
    browser: BrowserProfile | None = None,
    now: float | None = None,
) -> dict[str, str]:
    """Headers for one call to the chat host.

    ``web_version``, ``bx_v`` and ``user_agent`` are the gateway's settings: the account's
    ``browser`` profile overrides each one it captured. ``timezone`` is sent as given; else,
    when ``now`` is given, it is the browser's time zone (or this machine's) at ``now``.
    """
    b = browser or BrowserProfile()
    agent = b.user_agent or user_agent
    headers = {
        "Accept": accept,
        "Accept-Language": b.accept_language or DEFAULT_ACCEPT_LANGUAGE,
        "Content-Type": "application/json",
        "User-Agent": agent,
        "Origin": ORIGIN,
        "Referer": f"{ORIGIN}/c/{chat_id}" if chat_id else f"{ORIGIN}/",
        "Connection": "keep-alive",
        "source": "web",
        "version": b.web_version or web_version,
        "bx-v": b.bx_v or bx_v,
        "x-request-id": request_id,
        "X-Accel-Buffering": "no",
        "sec-fetch-dest": "empty",
        "sec-fetch-mode": "cors",
        "sec-fetch-site": "same-origin",
    }
    if b.bx_ua:
        headers["bx-ua"] = b.bx_ua
    if b.bx_umidtoken:
        headers["bx-umidtoken"] = b.bx_umidtoken
    headers.update(client_hints(agent, b))
    if timezone is None and now is not None:
        timezone = js_date(now, b.timezone)
    if timezone:
        headers["timezone"] = timezone
    if token:
        headers["Authorization"] = f"Bearer {token}"
    cookie = merge_token_cookie(cookies, token)
    if cookie:
        headers["Cookie"] = cookie
    return headers


def auth_headers(
    *,
    cookies: str | None,
    auth_version: str,
    bx_v: str,
    user_agent: str,
    request_id: str,
    browser: BrowserProfile | None = None,
) -> dict[str, str]:
    """Headers for the auth host (sign-in, token refresh), called from the chat page.

    The auth app has its own ``version``; the call is same-site, not same-origin; the cookie
    jar (holding the refresh token) goes as it is, without an access token.
    """
    b = browser or BrowserProfile()
    agent = b.user_agent or user_agent
    headers = {
        "Accept": "application/json, text/plain, */*",
        "Accept-Language": b.accept_language or DEFAULT_ACCEPT_LANGUAGE,
        "Content-Type": "application/json",
        "User-Agent": agent,
        "Origin": ORIGIN,
        "Referer": f"{ORIGIN}/",
        "Connection": "keep-alive",
        "source": "web",
        "version": auth_version,
        "bx-v": b.bx_v or bx_v,
        "x-request-id": request_id,
        "sec-fetch-dest": "empty",
        "sec-fetch-mode": "cors",
        "sec-fetch-site": "same-site",
    }
    if b.bx_ua:
        headers["bx-ua"] = b.bx_ua
    if b.bx_umidtoken:
        headers["bx-umidtoken"] = b.bx_umidtoken
    headers.update(client_hints(agent, b))
    if cookies:
        headers["Cookie"] = cookies
    return headers


def merge_token_cookie(cookies: str | None, token: str) -> str:
    """``cookies`` with ``token=<token>`` set exactly once, where the browser had it (a stale
    token cookie is replaced in place; a jar without one gets it at the end).

    The web app writes its current access token into the ``token`` cookie, so the jar a
    browser sends always agrees with its bearer header.
    """
    pairs = [part.strip() for part in (cookies or "").split(";")]
    merged: list[str] = []
    placed = False
    for pair in pairs:
        if not pair:
            continue
        if pair.split("=", 1)[0].strip() != "token":
            merged.append(pair)
        elif token and not placed:
            merged.append(f"token={token}")
            placed = True
    if token and not placed:
        merged.append(f"token={token}")
    return "; ".join(merged)


def client_hints(user_agent: str, browser: BrowserProfile | None = None) -> dict[str, str]:
    """``sec-ch-ua*``: the browser's own when captured, else agreeing with a Chromium UA.

    A browser that sends none (Firefox, Safari) gets none: hints contradicting the
    User-Agent look fake.
    """
    if browser is not None and browser.sec_ch_ua:
        hints = {"sec-ch-ua": browser.sec_ch_ua}
        if browser.sec_ch_ua_mobile:
            hints["sec-ch-ua-mobile"] = browser.sec_ch_ua_mobile
        if browser.sec_ch_ua_platform:
            hints["sec-ch-ua-platform"] = browser.sec_ch_ua_platform
        return hints
    match = _CHROME_RE.search(user_agent)
    if match is None:
        return {}
    major = match.group(1)
    if "Windows" in user_agent:
        platform = "Windows"
    elif "Mac OS X" in user_agent:
        platform = "macOS"
    else:
        platform = "Linux"
    return {
        "sec-ch-ua": (f'"Chromium";v="{major}", "Google Chrome";v="{major}", "Not/A)Brand";v="24"'),
        "sec-ch-ua-mobile": "?0",
        "sec-ch-ua-platform": f'"{platform}"',
    }


def js_date(now: float, zone: str | None = None) -> str:
    """``now`` as JavaScript's ``Date.toString()`` writes it: ``Fri Nov 27 2026 19:02:30
    GMT+0800 (China Standard Time)``.

    ``zone`` is the part after the clock time as a browser wrote it; without one, this
    machine's UTC offset is used, with no zone name.
    """
    if zone is None or _OFFSET_RE.search(zone) is None:
        zone = "GMT" + format_offset(time.localtime(now).tm_gmtoff)
    offset = parse_offset(zone)
    t = time.gmtime(now + offset)
    return (
        f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {zone}"
    )


def parse_offset(zone: str) -> int:
    """Seconds east of UTC named by ``GMT+hhmm`` in ``zone`` (0 when there is none)."""
    match = _OFFSET_RE.search(zone)
    if match is None:
        return 0
    sign, hours, minutes = match.groups()
    seconds = int(hours) * 3600 + int(minutes) * 60
    return -seconds if sign == "-" else seconds


def format_offset(seconds: int) -> str:
    """``+0800`` for 28,800 seconds east of UTC."""
    sign = "-" if seconds < 0 else "+"
    minutes = abs(seconds) // 60
    return f"{sign}{minutes // 60:02d}{minutes % 60:02d}"
