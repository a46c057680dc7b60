"""Browser-like request headers for chat.qwen.ai.

Qwen's firewall answers clients that do not look like its web app with a captcha page, so every
call carries the headers a desktop Chrome running the web app sends.
"""

from __future__ import annotations

import re

ORIGIN = "https://chat.qwen.ai"

_CHROME_RE = re.compile(r"Chrome/(\d+)")


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
) -> dict[str, str]:
    """Headers for one upstream call: auth (Bearer and ``token`` cookie), app and browser hints."""
    headers = {
        "Accept": accept,
        "Accept-Language": "en-US,en;q=0.9",
        "Content-Type": "application/json",
        "User-Agent": user_agent,
        "Origin": ORIGIN,
        "Referer": f"{ORIGIN}/c/{chat_id}" if chat_id else f"{ORIGIN}/",
        "source": "web",
        "version": web_version,
        "bx-v": bx_v,
        "x-request-id": request_id,
        "X-Accel-Buffering": "no",
        "sec-fetch-dest": "empty",
        "sec-fetch-mode": "cors",
        "sec-fetch-site": "same-origin",
    }
    headers.update(_client_hints(user_agent))
    if timezone:
        headers["timezone"] = timezone
    if token:
        headers["Authorization"] = f"Bearer {token}"
    cookie = merge_token_cookie(cookies, token)
    if cookie:
        headers["Cookie"] = cookie
    return headers


def merge_token_cookie(cookies: str | None, token: str) -> str:
    """``cookies`` with ``token=<token>`` set exactly once (a stale token cookie is replaced)."""
    pairs = [part.strip() for part in (cookies or "").split(";")]
    kept = [pair for pair in pairs if pair and pair.split("=", 1)[0].strip() != "token"]
    if token:
        kept.append(f"token={token}")
    return "; ".join(kept)


def _client_hints(user_agent: str) -> dict[str, str]:
    """``sec-ch-ua*`` agreeing with the User-Agent: a self-contradicting browser looks fake."""
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
