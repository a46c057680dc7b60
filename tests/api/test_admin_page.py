"""``GET /admin``: the admin page's files, served with a strict policy and no data in them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import httpx
import pytest

from accounts_support import admin, pooled_gateway
from qwen_proxy.api.admin_page import ASSETS
from qwen_proxy.emulator.testing import EmulatorHandle
from qwen_proxy.server.run import BackgroundGateway

pytestmark = pytest.mark.integration

PAGE_FILES = files("qwen_proxy.api.admin_page")


@pytest.fixture
def admin_gateway(emulator: EmulatorHandle, tmp_path: Path) -> Iterator[BackgroundGateway]:
    """A gateway with admin routes on and no account."""
    with pooled_gateway(emulator, tmp_path) as running:
        yield running


def test_the_page_and_its_files_load_without_the_key(admin_gateway: BackgroundGateway) -> None:
    page = httpx.get(admin_gateway.url + "/admin")
    referenced = re.findall(r'(?:src|href)="(/admin/assets/[^"]+)"', page.text)

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert set(referenced) >= {"/admin/assets/app.js", "/admin/assets/app.css"}
    for path in referenced:
        asset = httpx.get(admin_gateway.url + path)
        assert asset.status_code == 200, path
        assert asset.content


def test_every_page_file_carries_the_security_headers(admin_gateway: BackgroundGateway) -> None:
    for path in ASSETS:
        headers = httpx.get(admin_gateway.url + path).headers
        policy = headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "script-src 'self';" in policy
        assert "style-src 'self';" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"


def test_scripts_are_served_as_javascript(admin_gateway: BackgroundGateway) -> None:
    script = httpx.get(admin_gateway.url + "/admin/assets/app.js")
    style = httpx.get(admin_gateway.url + "/admin/assets/app.css")

    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert style.headers["content-type"] == "text/css; charset=utf-8"


def test_only_the_page_files_are_served(admin_gateway: BackgroundGateway) -> None:
    for path in (
        "/admin/assets/__init__.py",
        "/admin/assets/../app.py",
        "/admin/assets/",
        "/admin/assets/missing.js",
        "/admin/index.html",
    ):
        response = httpx.get(admin_gateway.url + path)
        assert response.status_code in (401, 404), path
        assert "import" not in response.text


def test_the_page_is_off_when_no_admin_key_is_set(gateway: BackgroundGateway) -> None:
    response = httpx.get(gateway.url + "/admin")
    asset = httpx.get(gateway.url + "/admin/assets/app.js")

    assert response.status_code == 404
    assert "QWEN_PROXY_ADMIN_KEY" in response.json()["error"]["message"]
    assert asset.status_code == 404


def test_the_page_files_accept_only_get(admin_gateway: BackgroundGateway) -> None:
    response = httpx.post(admin_gateway.url + "/admin", content=b"x")

    assert response.status_code == 405


def test_the_routes_index_lists_the_sections_behind_the_key(
    admin_gateway: BackgroundGateway,
) -> None:
    listed = admin(admin_gateway, "GET", "/admin/routes")
    refused = httpx.get(admin_gateway.url + "/admin/routes")

    assert listed.status_code == 200
    assert {"accounts", "conversations", "stats"} <= set(listed.json()["sections"])
    assert refused.status_code == 401


def test_an_unknown_admin_section_answers_404(admin_gateway: BackgroundGateway) -> None:
    response = admin(admin_gateway, "GET", "/admin/nothing-here")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_files_hold_no_inline_script_or_style() -> None:
    html = PAGE_FILES.joinpath("index.html").read_text()
    scripts = re.findall(r"<script\b[^>]*>", html)

    assert scripts
    assert all("src=" in tag for tag in scripts)
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers
    for entry in PAGE_FILES.iterdir():
        if entry.name.endswith(".js"):
            code = entry.read_text()
            # data reaches the page as text nodes only
            assert "innerHTML" not in code, entry.name
            assert "insertAdjacentHTML" not in code, entry.name
            assert "eval(" not in code, entry.name
            assert "localStorage" not in code, entry.name
            assert "document.cookie" not in code, entry.name
