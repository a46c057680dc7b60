"""The headers of every upstream call: the whole set a browser running the web app sends."""

from __future__ import annotations

import pytest

from qwen_proxy.config import DEFAULT_BX_V, DEFAULT_USER_AGENT, DEFAULT_WEB_VERSION
from qwen_proxy.qwen.browser import BrowserProfile
from qwen_proxy.qwen.headers import auth_headers, browser_headers, js_date, parse_offset

pytestmark = pytest.mark.unit

NOW = 1_795_770_150.0  # Fri Nov 27 2026 09:02:30 UTC
CHROME_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36"
)
FIREFOX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0"
CHROME = BrowserProfile(
    user_agent=CHROME_UA,
    sec_ch_ua='"Chromium";v="142", "Google Chrome";v="142", "Not_A Brand";v="99"',
    sec_ch_ua_mobile="?0",
    sec_ch_ua_platform='"macOS"',
    accept_language="zh-CN,zh;q=0.9,en;q=0.8",
    timezone="GMT+0800 (China Standard Time)",
    bx_ua="231!captured-fingerprint",
    bx_umidtoken="T2gAcaptured-device",
    bx_v="2.5.31",
    web_version="0.3.11",
)


def sent(browser: BrowserProfile | None = None, **overrides: object) -> dict[str, str]:
    args: dict[str, object] = {
        "token": "access-token",
        "cookies": "cna=c1; acw_tc=w1; refresh_token=r1; token=old",
        "web_version": DEFAULT_WEB_VERSION,
        "bx_v": DEFAULT_BX_V,
        "user_agent": DEFAULT_USER_AGENT,
        "chat_id": "chat-1",
        "request_id": "req-1",
        "browser": browser,
        "now": NOW,
    }
    args.update(overrides)
    return browser_headers(**args)  # type: ignore[arg-type]


def test_a_write_call_carries_every_header_of_the_web_app() -> None:
    headers = sent(CHROME)

    assert headers == {
        "Accept": "text/event-stream",
        "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8",
        "Content-Type": "application/json",
        "User-Agent": CHROME_UA,
        "Origin": "https://chat.qwen.ai",
        "Referer": "https://chat.qwen.ai/c/chat-1",
        "Connection": "keep-alive",
        "source": "web",
        "version": "0.3.11",
        "bx-v": "2.5.31",
        "bx-ua": "231!captured-fingerprint",
        "bx-umidtoken": "T2gAcaptured-device",
        "x-request-id": "req-1",
        "X-Accel-Buffering": "no",
        "sec-fetch-dest": "empty",
        "sec-fetch-mode": "cors",
        "sec-fetch-site": "same-origin",
        "sec-ch-ua": '"Chromium";v="142", "Google Chrome";v="142", "Not_A Brand";v="99"',
        "sec-ch-ua-mobile": "?0",
        "sec-ch-ua-platform": '"macOS"',
        "timezone": "Fri Nov 27 2026 17:02:30 GMT+0800 (China Standard Time)",
        "Authorization": "Bearer access-token",
        "Cookie": "cna=c1; acw_tc=w1; refresh_token=r1; token=access-token",
    }


def test_the_whole_cookie_jar_goes_with_the_bearer_token_in_its_order() -> None:
    headers = sent(CHROME, cookies="cna=c1; token=old; acw_tc=w1; token=dup; refresh_token=r1")
    bare = sent(CHROME, cookies="cna=c1")

    assert headers["Authorization"] == "Bearer access-token"
    assert headers["Cookie"] == "cna=c1; token=access-token; acw_tc=w1; refresh_token=r1"
    assert bare["Cookie"] == "cna=c1; token=access-token"


@pytest.mark.parametrize(
    ("field", "header", "setting"),
    [
        ("web_version", "version", DEFAULT_WEB_VERSION),
        ("bx_v", "bx-v", DEFAULT_BX_V),
        ("user_agent", "User-Agent", DEFAULT_USER_AGENT),
        ("accept_language", "Accept-Language", "en-US,en;q=0.9"),
    ],
)
def test_the_browser_sessions_own_value_wins_over_the_setting(
    field: str, header: str, setting: str
) -> None:
    captured = BrowserProfile(**{field: "captured-value"})

    assert sent(captured)[header] == "captured-value"
    assert sent(BrowserProfile())[header] == setting
    assert sent(None)[header] == setting


def test_a_token_only_account_sends_no_anti_bot_values_it_does_not_have() -> None:
    headers = sent(None)

    assert "bx-ua" not in headers
    assert "bx-umidtoken" not in headers
    assert headers["bx-v"] == DEFAULT_BX_V


def test_a_firefox_session_sends_no_chrome_client_hints() -> None:
    firefox = BrowserProfile(user_agent=FIREFOX_UA, bx_ua="b", bx_umidtoken="u")

    headers = sent(firefox)

    assert headers["User-Agent"] == FIREFOX_UA
    assert not [name for name in headers if name.startswith("sec-ch-ua")]
    assert headers["sec-fetch-mode"] == "cors"


def test_client_hints_follow_the_user_agent_when_the_browser_sent_none() -> None:
    headers = sent(BrowserProfile(user_agent=CHROME_UA))

    assert '"Google Chrome";v="142"' in headers["sec-ch-ua"]
    assert headers["sec-ch-ua-platform"] == '"macOS"'


def test_timezone_is_the_browsers_zone_at_the_current_time() -> None:
    assert js_date(NOW, "GMT+0800 (China Standard Time)") == (
        "Fri Nov 27 2026 17:02:30 GMT+0800 (China Standard Time)"
    )
    assert js_date(NOW, "GMT-0330") == "Fri Nov 27 2026 05:32:30 GMT-0330"
    assert parse_offset("GMT-0330 (Newfoundland Standard Time)") == -(3 * 3600 + 30 * 60)


def test_without_a_browser_zone_the_machines_offset_is_written_in_javascript_form() -> None:
    written = js_date(NOW)

    _day, month, _date, year, clock, zone = written.split(" ")
    assert (month, year) == ("Nov", "2026")
    assert len(clock) == 8
    assert zone.startswith("GMT")
    assert len(zone) == len("GMT+0000")


def test_each_call_names_its_own_chat_in_the_referer() -> None:
    assert sent(chat_id="c-9")["Referer"] == "https://chat.qwen.ai/c/c-9"
    assert sent(chat_id=None)["Referer"] == "https://chat.qwen.ai/"


def test_auth_host_calls_carry_the_jar_and_the_auth_apps_version_without_a_bearer() -> None:
    headers = auth_headers(
        cookies="acw_tc=w1; refresh_token=r1",
        auth_version="0.3.12",
        bx_v=DEFAULT_BX_V,
        user_agent=DEFAULT_USER_AGENT,
        request_id="req-2",
        browser=CHROME,
    )

    assert headers["version"] == "0.3.12"
    assert headers["sec-fetch-site"] == "same-site"
    assert headers["Cookie"] == "acw_tc=w1; refresh_token=r1"
    assert "Authorization" not in headers
    assert headers["bx-ua"] == CHROME.bx_ua
    assert headers["User-Agent"] == CHROME_UA


def test_a_browser_profile_never_shows_its_anti_bot_values() -> None:
    shown = repr(CHROME)

    assert "captured-fingerprint" not in shown
    assert "captured-device" not in shown
    assert CHROME_UA in shown
