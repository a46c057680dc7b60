"""Fetching a client's image URL over real sockets: the limits, and never a private address,
whether named directly, through a host name, or at the end of a redirect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from qwen_proxy.errors import InvalidRequest
from qwen_proxy.uploads.fetch import RemoteFetcher

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)
PARAM = "messages[0].content[1].image_url"


@dataclass
class ImageHost:
    """A local web server with an image, and pages that misbehave."""

    port: int = 0
    hits: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def host() -> AsyncIterator[ImageHost]:
    found = ImageHost()

    async def handle(request: web.Request) -> web.StreamResponse:
        found.hits.append(request.path)
        name = request.match_info["name"]
        if name == "cat.png":
            return web.Response(body=PNG, content_type="image/png")
        if name == "page":
            return web.Response(text="<html></html>", content_type="text/html")
        if name == "big.png":
            return web.Response(body=PNG + bytes(5000), content_type="image/png")
        if name == "slow.png":
            await asyncio.sleep(1)
            return web.Response(body=PNG, content_type="image/png")
        if name == "to-metadata":
            raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")
        if name == "to-internal":
            raise web.HTTPFound(f"http://internal.test:{found.port}/cat.png")
        if name == "to-cat":
            raise web.HTTPFound("/cat.png")
        if name == "loop":
            raise web.HTTPFound("/loop")
        raise web.HTTPNotFound()

    app = web.Application()
    app.router.add_get("/{name}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.port = runner.addresses[0][1]
    yield found
    await runner.cleanup()


def names(mapping: dict[str, str]) -> Callable[[str, int], asyncio.Future[list[str]]]:
    """A resolver that knows only ``mapping`` (name -> address)."""

    def resolve(host: str, port: int) -> asyncio.Future[list[str]]:
        done: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        done.set_result([mapping[host]] if host in mapping else [])
        return done

    return resolve


def fetcher(**options: object) -> RemoteFetcher:
    values: dict[str, object] = {"timeout": 1.0, "max_bytes": 1000}
    values.update(options)
    return RemoteFetcher(**values)  # type: ignore[arg-type]


#: the test's image host stands for the public internet: its one loopback address passes
PUBLIC = {"images.example": "127.0.0.1"}


def as_public(address: str) -> bool:
    return address == "127.0.0.1"


async def refused(fetch: RemoteFetcher, url: str) -> str:
    with pytest.raises(InvalidRequest) as caught:
        await fetch.fetch_image(url, PARAM)
    await fetch.close()
    assert (caught.value.status, caught.value.param, caught.value.code) == (
        400,
        PARAM,
        "invalid_image_url",
    )
    return caught.value.message


async def test_a_loopback_url_is_refused_without_a_request(host: ImageHost) -> None:
    message = await refused(fetcher(), f"{host.origin}/cat.png")
    assert "private, loopback, link-local or metadata address" in message
    assert host.hits == []


async def test_the_metadata_address_is_refused() -> None:
    message = await refused(fetcher(), "http://169.254.169.254/latest/meta-data/")
    assert "169.254.169.254 is a private" in message


async def test_a_name_that_resolves_to_a_private_address_is_refused(host: ImageHost) -> None:
    fetch = fetcher(resolve=names({"intranet.example": "10.0.0.7"}))
    message = await refused(fetch, "http://intranet.example/cat.png")
    assert "intranet.example is a private" in message


async def test_a_redirect_to_the_metadata_address_is_refused(host: ImageHost) -> None:
    fetch = fetcher(resolve=names(PUBLIC), allowed=as_public)
    message = await refused(fetch, f"http://images.example:{host.port}/to-metadata")
    assert "169.254.169.254" in message
    assert host.hits == ["/to-metadata"]


async def test_a_redirect_to_a_name_of_a_private_address_is_refused(host: ImageHost) -> None:
    fetch = fetcher(resolve=names({**PUBLIC, "internal.test": "192.168.7.7"}), allowed=as_public)
    message = await refused(fetch, f"http://images.example:{host.port}/to-internal")
    assert "internal.test is a private" in message


async def test_a_public_image_arrives_through_a_redirect(host: ImageHost) -> None:
    fetch = fetcher(resolve=names(PUBLIC), allowed=as_public)
    assert await fetch.fetch_image(f"http://images.example:{host.port}/to-cat", PARAM) == PNG
    await fetch.close()
    assert host.hits == ["/to-cat", "/cat.png"]


async def test_private_addresses_are_fetched_when_the_operator_allows_them(
    host: ImageHost,
) -> None:
    fetch = fetcher(allow_private=True)
    assert await fetch.fetch_image(f"{host.origin}/cat.png", PARAM) == PNG
    await fetch.close()


@pytest.mark.parametrize(
    ("page", "reason"),
    [
        ("page", "served as 'text/html', not as an image"),
        ("big.png", "over the limit"),
        ("slow.png", "no answer within 0.3 s"),
        ("missing.png", "HTTP 404"),
        ("loop", "more than 5 redirects"),
    ],
)
async def test_what_is_not_an_image_in_time_and_size_is_refused(
    host: ImageHost, page: str, reason: str
) -> None:
    message = await refused(fetcher(allow_private=True, timeout=0.3), f"{host.origin}/{page}")
    assert reason in message


async def test_only_http_and_https_urls_are_fetched() -> None:
    message = await refused(fetcher(), "file:///etc/passwd")
    assert "only http and https" in message
