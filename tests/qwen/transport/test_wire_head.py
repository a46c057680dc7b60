"""Where an upstream call goes and the exact bytes of its head (transport/endpoint.py, pure)."""

from __future__ import annotations

import base64
import socket
import ssl

import pytest

from qwen_proxy.qwen.transport.endpoint import Endpoint, parse_endpoint, request_head
from qwen_proxy.qwen.transport.wire import connect_failure

pytestmark = pytest.mark.unit

# -- parse_endpoint -----------------------------------------------------------------------------


def test_https_upstream_defaults_to_port_443_without_a_port_in_the_host_header() -> None:
    endpoint = parse_endpoint("https://chat.qwen.ai")
    assert (endpoint.scheme, endpoint.host, endpoint.port) == ("https", "chat.qwen.ai", 443)
    assert endpoint.host_header == "chat.qwen.ai"
    assert endpoint.proxy_host is None
    assert endpoint.proxy_auth is None


def test_http_upstream_defaults_to_port_80_without_a_port_in_the_host_header() -> None:
    endpoint = parse_endpoint("http://emulator.local/base/path")
    assert (endpoint.scheme, endpoint.host, endpoint.port) == ("http", "emulator.local", 80)
    assert endpoint.host_header == "emulator.local"


@pytest.mark.parametrize(
    ("url", "host_header"),
    [
        ("http://127.0.0.1:8123", "127.0.0.1:8123"),
        ("https://chat.qwen.ai:8443/", "chat.qwen.ai:8443"),
        # a default port spelled out is still the default: browsers and servers agree
        ("https://chat.qwen.ai:443", "chat.qwen.ai"),
        ("http://example.com:80", "example.com"),
        # the other scheme's default port is not this scheme's default
        ("http://example.com:443", "example.com:443"),
        ("https://example.com:80", "example.com:80"),
    ],
)
def test_host_header_carries_the_port_only_when_it_is_not_the_default(
    url: str, host_header: str
) -> None:
    assert parse_endpoint(url).host_header == host_header


def test_proxy_credentials_become_a_basic_auth_header_percent_decoded() -> None:
    endpoint = parse_endpoint("https://chat.qwen.ai", "http://us%40er:p%3Ass%20w@proxy.local:3128")
    assert (endpoint.proxy_host, endpoint.proxy_port) == ("proxy.local", 3128)
    assert endpoint.proxy_auth == b"Basic " + base64.b64encode(b"us@er:p:ss w")


def test_proxy_with_a_user_and_no_password_sends_an_empty_password() -> None:
    endpoint = parse_endpoint("https://chat.qwen.ai", "http://alice@proxy.local:3128")
    assert endpoint.proxy_auth == b"Basic " + base64.b64encode(b"alice:")


def test_proxy_without_credentials_or_port_uses_port_80_and_no_auth() -> None:
    endpoint = parse_endpoint("https://chat.qwen.ai", "http://proxy.local")
    assert (endpoint.proxy_host, endpoint.proxy_port) == ("proxy.local", 80)
    assert endpoint.proxy_auth is None


def test_empty_proxy_means_a_direct_connection() -> None:
    assert parse_endpoint("https://chat.qwen.ai", "") == parse_endpoint("https://chat.qwen.ai")


def test_endpoint_repr_never_shows_the_proxy_credentials() -> None:
    endpoint = parse_endpoint("https://chat.qwen.ai", "http://alice:s3cret-pw@proxy.local:3128")
    encoded = base64.b64encode(b"alice:s3cret-pw").decode()
    for text in (repr(endpoint), str(endpoint), f"{endpoint!r}"):
        assert "s3cret-pw" not in text
        assert encoded not in text
        assert "proxy.local" in text  # where it goes is fine to show, only the secret is not


def test_endpoints_differing_only_by_proxy_credentials_are_distinct_pool_keys() -> None:
    # connections are pooled per Endpoint: two accounts' proxies must not share a connection
    a = parse_endpoint("https://chat.qwen.ai", "http://a:1@proxy.local:3128")
    b = parse_endpoint("https://chat.qwen.ai", "http://b:2@proxy.local:3128")
    assert a != b
    assert len({a, b}) == 2


@pytest.mark.parametrize(
    "proxy",
    [
        "socks5://proxy.local:1080",
        "https://proxy.local:3128",
        "proxy.local:3128",
        "http://",
    ],
)
def test_a_proxy_that_is_not_plain_http_is_refused(proxy: str) -> None:
    with pytest.raises(ValueError, match="proxy"):
        parse_endpoint("https://chat.qwen.ai", proxy)


def test_a_refused_proxy_url_is_not_echoed_in_the_error() -> None:
    with pytest.raises(ValueError, match="proxy") as caught:
        parse_endpoint("https://chat.qwen.ai", "socks5://alice:s3cret-pw@proxy.local:1080")
    assert "s3cret-pw" not in str(caught.value)


@pytest.mark.parametrize(
    "base_url",
    ["ftp://chat.qwen.ai", "chat.qwen.ai", "https://", "//chat.qwen.ai", ""],
)
def test_a_bad_upstream_url_is_refused(base_url: str) -> None:
    with pytest.raises(ValueError, match="upstream URL"):
        parse_endpoint(base_url)


def test_an_ipv6_upstream_keeps_its_brackets_in_the_host_header() -> None:
    endpoint = parse_endpoint("http://[::1]:8080")
    assert endpoint.host_header == "[::1]:8080"


# -- request_head -------------------------------------------------------------------------------

_DIRECT = Endpoint("https", "chat.qwen.ai", 443)
_HTTP_VIA_PROXY = parse_endpoint("http://127.0.0.1:8080", "http://alice:pw@proxy.local:3128")
_HTTPS_VIA_PROXY = parse_endpoint("https://chat.qwen.ai", "http://alice:pw@proxy.local:3128")
_PROXY_AUTH = b"Basic " + base64.b64encode(b"alice:pw")


def test_a_direct_get_is_origin_form_without_a_content_length() -> None:
    head = request_head(_DIRECT, "GET", "/api/models", {"Accept": "application/json"}, None)
    assert head == (
        b"GET /api/models HTTP/1.1\r\n"
        b"Host: chat.qwen.ai\r\n"
        b"Accept: application/json\r\n"
        b"Accept-Encoding: gzip, deflate\r\n"
        b"\r\n"
    )


def test_a_post_with_a_body_announces_its_length() -> None:
    head = request_head(
        _DIRECT, "POST", "/api/v2/chats/new", {"Content-Type": "application/json"}, 42
    )
    assert head == (
        b"POST /api/v2/chats/new HTTP/1.1\r\n"
        b"Host: chat.qwen.ai\r\n"
        b"Content-Type: application/json\r\n"
        b"Accept-Encoding: gzip, deflate\r\n"
        b"Content-Length: 42\r\n"
        b"\r\n"
    )


def test_an_empty_body_still_announces_length_zero() -> None:
    head = request_head(_DIRECT, "POST", "/x", {}, 0)
    assert b"\r\nContent-Length: 0\r\n" in head


def test_plain_http_through_a_proxy_uses_absolute_form_and_authenticates_to_the_proxy() -> None:
    head = request_head(_HTTP_VIA_PROXY, "GET", "/api/models?x=1", {"Accept": "*/*"}, None)
    assert head == (
        b"GET http://127.0.0.1:8080/api/models?x=1 HTTP/1.1\r\n"
        b"Host: 127.0.0.1:8080\r\n"
        b"Accept: */*\r\n"
        b"Accept-Encoding: gzip, deflate\r\n"
        b"Proxy-Authorization: " + _PROXY_AUTH + b"\r\n"
        b"\r\n"
    )


def test_plain_http_through_a_proxy_without_credentials_sends_no_proxy_authorization() -> None:
    endpoint = parse_endpoint("http://127.0.0.1:8080", "http://proxy.local:3128")
    head = request_head(endpoint, "GET", "/x", {}, None)
    assert head.startswith(b"GET http://127.0.0.1:8080/x HTTP/1.1\r\n")
    assert b"proxy-authorization" not in head.lower()


def test_https_through_a_proxy_sends_origin_form_and_no_proxy_credentials_to_the_origin() -> None:
    # inside the CONNECT tunnel the origin reads this head: the proxy's secret stays out of it
    head = request_head(_HTTPS_VIA_PROXY, "POST", "/api/v2/chats/new", {}, 2)
    assert head == (
        b"POST /api/v2/chats/new HTTP/1.1\r\n"
        b"Host: chat.qwen.ai\r\n"
        b"Accept-Encoding: gzip, deflate\r\n"
        b"Content-Length: 2\r\n"
        b"\r\n"
    )


@pytest.mark.parametrize("bad", ["a\r\nX-Injected: 1", "a\nX-Injected: 1", "a\rb"])
def test_a_header_value_with_a_line_break_is_refused_without_echoing_the_value(bad: str) -> None:
    with pytest.raises(ValueError, match="line break") as caught:
        request_head(_DIRECT, "GET", "/x", {"Cookie": "ok", "Authorization": bad}, None)
    assert "Injected" not in str(caught.value)
    assert "Authorization" in str(caught.value)  # the header is named, its secret is not


def test_a_header_name_with_a_line_break_is_refused() -> None:
    with pytest.raises(ValueError, match="line break"):
        request_head(_DIRECT, "GET", "/x", {"X-A\r\nX-B": "1"}, None)


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (socket.gaierror(-2, "Name or service not known"), "could not resolve the host name"),
        (ConnectionRefusedError(111, "Connection refused"), "connection was refused"),
        (OSError(101, "Network is unreachable"), "unreachable"),
        (ssl.SSLError(1, "wrong version number"), "TLS handshake failed"),
    ],
)
def test_connection_failures_are_said_in_words(exc: OSError, words: str) -> None:
    assert words in connect_failure(exc)
