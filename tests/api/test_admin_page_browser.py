"""The admin page in a real browser: headless Chromium, driven by Playwright, against a gateway
in front of the emulator. Every test fails on a console error or an uncaught exception, and
leaves screenshots in the artifacts folder (its path is printed; see ``browser_support``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openai
import pytest

import qwen_proxy.api.admin_routes
from accounts_support import ADMIN_KEY, admin, ask, pooled_gateway
from browser_support import ARTIFACTS, ConsoleWatch, chromium_path, screenshot, unavailable
from gateway_support import MODEL
from keys_contract_support import KeysContract
from qwen_proxy.accounts.curl_import import import_curl, read_copied_request
from qwen_proxy.emulator.testing import EmulatorHandle
from qwen_proxy.errors import NotFound
from qwen_proxy.server.run import BackgroundGateway
from session_support import EXPECTED, adopted_copy

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EMAIL = "demo@example.com"
#: the requests bars' colour in the light scheme (app.css --chart-requests)
REQUESTS_RGB = (0x5B, 0x3F, 0xD4)
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module (each test gets its own context)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed: pip install -e '.[dev]'")
    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="module", autouse=True)
def say_where_the_screenshots_are(request: pytest.FixtureRequest) -> Iterator[None]:
    """Name the screenshots' folder in the test run's output, once the module is done."""
    yield
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None and ARTIFACTS.is_dir():
        with capture.global_and_fixture_disabled():
            print(f"\nadmin page screenshots: {ARTIFACTS}")


@pytest.fixture
def console() -> ConsoleWatch:
    return ConsoleWatch()


def open_page(browser: Browser, console: ConsoleWatch, viewport: dict[str, int]) -> Page:
    context = browser.new_context(
        viewport=viewport,  # type: ignore[arg-type]
        permissions=["clipboard-read", "clipboard-write"],
        color_scheme="light",
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    console.attach(page)
    return page


@pytest.fixture
def page(browser: Browser, console: ConsoleWatch) -> Iterator[Page]:
    """A desktop-sized page; the test fails if it logged an error."""
    opened = open_page(browser, console, DESKTOP)
    yield opened
    opened.context.close()
    assert console.unexpected() == []


@pytest.fixture
def phone(browser: Browser, console: ConsoleWatch) -> Iterator[Page]:
    """A phone-sized page; the test fails if it logged an error."""
    opened = open_page(browser, console, PHONE)
    yield opened
    opened.context.close()
    assert console.unexpected() == []


@pytest.fixture
def gateway(emulator_now: EmulatorHandle, tmp_path: Path) -> Iterator[BackgroundGateway]:
    """A gateway with admin routes on and no account yet, against today's upstream."""
    with pooled_gateway(emulator_now, tmp_path, retries=0) as running:
        yield running


@pytest.fixture
def client(gateway: BackgroundGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)


def add_account(gateway: BackgroundGateway, emulator: EmulatorHandle, name: str = "fx") -> str:
    """Add an account through the admin route from a browser copy; returns the copy."""
    text = adopted_copy(emulator, "firefox_cmd", EMAIL)
    added = admin(gateway, "POST", "/admin/accounts", json={"name": name, "curl": text})
    assert added.status_code == 201, added.text
    return text


def sign_in(page: Page, gateway: BackgroundGateway, section: str = "") -> None:
    page.goto(gateway.url + "/admin" + (f"#{section}" if section else ""))
    page.fill("#admin-key", ADMIN_KEY)
    page.press("#admin-key", "Enter")
    page.wait_for_selector(f"#{section or 'accounts'}:not([hidden])")


def row(page: Page, name: str) -> Any:
    return page.locator(f"tr[data-account='{name}']")


def test_signing_in_keeps_the_key_in_the_tab_and_sends_it_as_a_bearer_header(
    page: Page, gateway: BackgroundGateway, console: ConsoleWatch
) -> None:
    sent: list[tuple[str, str | None]] = []
    page.on("request", lambda r: sent.append((r.url, r.headers.get("authorization"))))
    page.goto(gateway.url + "/admin")
    assert page.evaluate("document.activeElement.id") == "admin-key"
    assert page.is_hidden("#tabs")
    assert page.is_hidden("#sign-out")
    screenshot(page, "login")

    console.expect("401")
    page.fill("#admin-key", "not-the-key")
    page.press("#admin-key", "Enter")
    page.wait_for_selector("#login-error:has-text('not this gateway')")
    page.fill("#admin-key", ADMIN_KEY)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#accounts:not([hidden])")

    assert page.evaluate("sessionStorage.getItem('qwen-proxy.admin-key')") == ADMIN_KEY
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    assert page.context.cookies() == []
    assert page.input_value("#admin-key") == ""
    data_calls = [(url, auth) for url, auth in sent if "/admin/" in url and "/assets/" not in url]
    assert data_calls
    assert all(ADMIN_KEY not in url for url, _ in sent)
    assert [auth for _, auth in data_calls if auth != "Bearer not-the-key"] == [
        f"Bearer {ADMIN_KEY}"
    ] * (len(data_calls) - 1)

    page.reload()
    page.wait_for_selector("#accounts:not([hidden])")
    assert page.is_hidden("#login")

    page.click("#sign-out")
    page.wait_for_selector("#login:not([hidden])")
    assert page.evaluate("sessionStorage.length") == 0
    assert page.is_hidden("#accounts")
    assert page.is_hidden("#tabs")


def test_an_account_added_from_a_copied_request_is_usable_at_once(
    page: Page, gateway: BackgroundGateway, emulator_now: EmulatorHandle, client: openai.OpenAI
) -> None:
    text = adopted_copy(emulator_now, "firefox_cmd", EMAIL)
    sign_in(page, gateway)
    assert page.is_visible("#accounts-empty")

    page.fill("#account-name", "fx")
    page.fill("#account-curl", text)
    page.click("#add-account-form button[type=submit]")

    row(page, "fx").wait_for()
    assert row(page, "fx").locator(".badge").first.inner_text() == "Usable"
    result = page.inner_text("#add-account-result")
    assert "Firefox" in result
    assert "refresh_token" in result
    assert page.input_value("#account-curl") == ""
    html = page.content()
    for secret in (import_curl(text).token, EXPECTED["firefox"]["bx_ua"]):
        assert secret not in html
    screenshot(page, "accounts")
    assert ask(client, "echo: added in the browser") == "added in the browser"


def test_a_captcha_shows_its_link_and_clears_after_fresh_cookies(
    page: Page, gateway: BackgroundGateway, emulator_now: EmulatorHandle, client: openai.OpenAI
) -> None:
    text = add_account(gateway, emulator_now)
    emulator_now.set_fault("waf_json", times=1)
    with pytest.raises(openai.APIStatusError):
        ask(client, "meets the captcha")

    sign_in(page, gateway)
    captcha = row(page, "fx")
    captcha.and_(page.locator("[data-state=quarantined]")).wait_for()
    assert captcha.locator(".badge").first.inner_text() == "Captcha"
    link = captcha.get_by_role("link", name="Verify in the browser")
    assert re.match(r"https://.+/punish", link.get_attribute("href") or "")
    assert link.get_attribute("rel") == "noopener noreferrer"
    screenshot(page, "accounts-captcha")

    fresh = emulator_now.open_session(EMAIL, read_copied_request(text).cookies)
    page.get_by_role("button", name="Paste fresh cookies for account fx").click()
    page.wait_for_selector("#cookies-dialog[open]")
    assert page.evaluate("document.activeElement.id") == "cookies-text"
    page.fill("#cookies-text", f"token={fresh.token}; {fresh.cookies}")
    screenshot(page, "cookies-dialog")
    page.click("#cookies-form button[type=submit]")

    row(page, "fx").and_(page.locator("[data-state=active]")).wait_for()
    assert page.is_hidden("#cookies-dialog")
    assert page.input_value("#cookies-text") == ""
    assert ask(client, "echo: back after the captcha") == "back after the captcha"


def create_and_revoke_a_key(page: Page, gateway: BackgroundGateway) -> str:
    """Create key "alice" on the Keys screen, check it is shown once and listed, revoke it;
    returns the key the page showed."""
    sign_in(page, gateway, "keys")
    page.wait_for_selector("#keys-body:not([hidden])")
    page.fill("#key-name", "alice")
    page.fill("#key-rpm", "60")
    page.fill("#key-concurrency", "2")
    page.fill("#key-models", MODEL)
    page.click("#add-key-form button[type=submit]")
    page.wait_for_selector("#new-key:not([hidden])")
    key = page.input_value("#new-key-value")
    assert key
    page.locator("tr[data-key=alice]").wait_for()
    listed = page.locator("tr[data-key=alice]").inner_text()
    assert "60 req/min" in listed
    assert "2 at once" in listed
    assert key not in page.locator("#keys-table").inner_html()
    page.click("#new-key-copy")
    assert page.evaluate("navigator.clipboard.readText()") == key
    screenshot(page, "keys")

    page.click("#new-key-done")
    assert page.is_hidden("#new-key")
    assert page.input_value("#new-key-value") == ""
    page.get_by_role("button", name="Revoke key alice").click()
    page.wait_for_selector("#confirm-dialog[open]")
    page.click("#confirm-yes")
    # gone from the list, or listed as revoked (a gateway keeps a revoked key's usage)
    page.wait_for_function(
        "() => { const row = document.querySelector('tr[data-key=alice]');"
        " return !row || row.dataset.state === 'revoked'; }"
    )
    assert page.get_by_role("button", name="Revoke key alice").count() == 0
    return key


def test_a_key_is_created_shown_once_and_revoked_through_the_contract(
    page: Page, gateway: BackgroundGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    contract = KeysContract()
    monkeypatch.setitem(qwen_proxy.api.admin_routes.ROUTES, "keys", contract.handle)

    shown = create_and_revoke_a_key(page, gateway)

    assert shown.startswith("sk-qp-")
    assert contract.rows == {}


def test_a_key_is_created_and_revoked_on_this_gateways_own_routes(
    page: Page, gateway: BackgroundGateway
) -> None:
    if "keys" not in qwen_proxy.api.admin_routes.ROUTES:
        pytest.skip(
            "this gateway has no /admin/keys routes yet (named client keys come on their own "
            "branch); the Keys screen is tested against their contract by the test above"
        )

    create_and_revoke_a_key(page, gateway)

    rows = admin(gateway, "GET", "/admin/keys").json()["data"]
    assert [(row["name"], row["state"]) for row in rows] == [("alice", "revoked")]


def test_the_keys_screen_says_when_the_gateway_has_no_keys_routes(
    page: Page, gateway: BackgroundGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(qwen_proxy.api.admin_routes.ROUTES, "keys", raising=False)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))

    sign_in(page, gateway, "keys")

    page.wait_for_selector("#keys-unavailable:not([hidden])")
    assert "not available on this gateway" in page.inner_text("#keys-unavailable")
    assert page.is_hidden("#add-key-form")
    assert not [url for url in asked if url.endswith("/admin/keys")]
    screenshot(page, "keys-unavailable")


def test_the_keys_screen_reads_a_404_from_the_keys_route_as_not_available(
    page: Page, gateway: BackgroundGateway, monkeypatch: pytest.MonkeyPatch, console: ConsoleWatch
) -> None:
    async def missing(*_: object) -> None:
        raise NotFound("Unknown admin route: GET /admin/keys.")

    monkeypatch.setitem(qwen_proxy.api.admin_routes.ROUTES, "keys", missing)
    console.expect("404")  # the browser logs the 404 it was given

    sign_in(page, gateway, "keys")

    page.wait_for_selector("#keys-unavailable:not([hidden])")
    assert page.is_hidden("#add-key-form")


def test_conversations_show_the_newest_and_one_can_be_purged(
    page: Page, gateway: BackgroundGateway, emulator_now: EmulatorHandle, client: openai.OpenAI
) -> None:
    add_account(gateway, emulator_now)
    ask(client, "the older conversation")
    ask(client, "the newer conversation")
    newest, older = admin(gateway, "GET", "/admin/conversations").json()["data"]

    sign_in(page, gateway, "conversations")

    rows = page.locator("#conversations-table tbody tr")
    rows.nth(1).wait_for()
    assert rows.count() == 2
    assert rows.nth(0).get_attribute("data-chat") == newest["chat_id"]
    assert "fx" in rows.nth(0).inner_text()
    screenshot(page, "conversations")

    page.get_by_role("button", name=f"Purge conversation {newest['chat_id']}").click()
    page.click("#confirm-yes")
    page.locator(f"tr[data-chat='{newest['chat_id']}']").wait_for(state="detached")

    assert rows.count() == 1
    (left,) = admin(gateway, "GET", "/admin/conversations").json()["data"]
    assert left["chat_id"] == older["chat_id"]


def test_live_numbers_move_after_traffic(
    page: Page, gateway: BackgroundGateway, emulator_now: EmulatorHandle, client: openai.OpenAI
) -> None:
    add_account(gateway, emulator_now)
    sign_in(page, gateway, "live")
    page.wait_for_selector("#stat-requests:has-text('0')")
    assert page.inner_text("#stat-rps") == "0.00"
    assert page.inner_text("#stat-p50") == "–"

    for n in range(5):
        ask(client, f"traffic {n}")
    for _ in client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "a stream"}], stream=True
    ):
        pass
    emulator_now.set_fault("http_5xx", times=1)
    with pytest.raises(openai.APIStatusError):
        ask(client, "an upstream failure")

    page.wait_for_selector("#stat-requests:text-is('7')")
    assert float(page.inner_text("#stat-rps")) > 0
    assert re.fullmatch(r"\d+ ms|\d+\.\d+ s", page.inner_text("#stat-p50"))
    assert re.fullmatch(r"\d+ ms|\d+\.\d+ s", page.inner_text("#stat-p95"))
    assert page.inner_text("#stat-open") == "0"
    assert "upstream_server_error" in page.inner_text("#errors-table")
    painted = page.evaluate(
        """([r, g, b]) => {
            const canvas = document.getElementById("live-chart");
            const whole = [0, 0, canvas.width, canvas.height];
            const data = canvas.getContext("2d").getImageData(...whole).data;
            let count = 0;
            for (let i = 0; i < data.length; i += 4) {
                if (data[i] === r && data[i + 1] === g && data[i + 2] === b) count++;
            }
            return count;
        }""",
        list(REQUESTS_RGB),
    )
    assert painted > 0
    assert "peak" in page.inner_text("#chart-summary")
    screenshot(page, "live")


def test_the_page_fits_a_phone_screen(
    phone: Page, gateway: BackgroundGateway, emulator_now: EmulatorHandle
) -> None:
    add_account(gateway, emulator_now)
    sign_in(phone, gateway)
    row(phone, "fx").wait_for()

    for section in ("accounts", "keys", "conversations", "live"):
        phone.click(f"a[href='#{section}']")
        phone.wait_for_selector(f"#{section}:not([hidden])")
        # wide tables scroll inside their frame; the page itself never scrolls sideways
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), section
        assert phone.locator(f"a[href='#{section}']").is_visible()
    phone.wait_for_selector("#stat-requests:text-is('0')")
    screenshot(phone, "live-phone")
    phone.click("a[href='#accounts']")
    screenshot(phone, "accounts-phone")


def test_everything_is_reachable_by_keyboard_and_named(
    page: Page, gateway: BackgroundGateway, emulator_now: EmulatorHandle
) -> None:
    add_account(gateway, emulator_now)
    page.goto(gateway.url + "/admin")
    page.keyboard.type(ADMIN_KEY)
    page.keyboard.press("Enter")
    row(page, "fx").wait_for()

    # signing in moves focus to the content (the key field it was in is gone)
    assert page.evaluate("document.activeElement.id") == "main"
    # the table reloads under a focused row button without taking the focus away
    page.get_by_role("button", name="Check account fx").focus()
    page.evaluate("document.querySelector('tr[data-account=fx]').dataset.old = 'yes'")
    page.evaluate("document.getElementById('accounts-refresh').click()")
    page.wait_for_selector("tr[data-account=fx]:not([data-old])")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Check account fx"
    page.focus(".skip-link")
    reached = []
    for _ in range(5):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.textContent.trim()"))
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector("#live:not([hidden])")

    assert reached == ["Accounts", "Keys", "Conversations", "Live", "Sign out"]
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll("button, input, textarea, select")]
            .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute("aria-label")
                && !e.textContent.trim())
            .map((e) => e.outerHTML)"""
    )
    assert unnamed == []
