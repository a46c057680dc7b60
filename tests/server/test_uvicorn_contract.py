"""What the gateway's own connection protocol relies on inside uvicorn, checked without sockets.

``server/protocol.py`` replaces uvicorn's per-connection protocol but keeps uvicorn for the rest
(process, sockets, lifespan, shutdown, the Date header), so it depends on uvicorn internals that
no public API promises: how a connection is constructed, the ``Config`` attributes it reads,
the ``ServerState`` it shares, the shutdown and max-requests hooks. uvicorn is pinned to the
minor version tested; before widening the pin, this file says which internal moved.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import logging
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import uvicorn.config
import uvicorn.lifespan.off
import uvicorn.lifespan.on
import uvicorn.server
import uvicorn.supervisors

from qwen_proxy.config import Settings
from qwen_proxy.server import protocol, run
from qwen_proxy.server.protocol import GatewayHttpProtocol

pytestmark = pytest.mark.unit

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def tiny_app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """A stand-in ASGI app (the gateway's own needs accounts and a store)."""


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> uvicorn.Config:
    """The gateway's uvicorn config (its real keywords, the stand-in app), loaded."""
    monkeypatch.setattr(run, "create_app", lambda settings: tiny_app)
    settings = Settings(port=0, data_dir=tmp_path, keep_alive=75, log_level="warning")
    config = run.uvicorn_config(settings)
    config.load()
    return config


def source_tree(function: Any) -> ast.AST:
    """The syntax tree of ``function``'s source."""
    return ast.parse(textwrap.dedent(inspect.getsource(function)))


def calls_in(function: Any, attribute: str) -> list[ast.Call]:
    """The calls of ``<something>.<attribute>(...)`` in ``function``'s source."""
    return [
        node
        for node in ast.walk(source_tree(function))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == attribute
    ]


def test_uvicorn_builds_each_connection_with_the_keywords_the_protocol_takes() -> None:
    calls = calls_in(uvicorn.server.Server.startup, "http_protocol_class")
    assert calls, "uvicorn.server.Server.startup no longer calls config.http_protocol_class(...)"
    passed = {keyword.arg for call in calls for keyword in call.keywords}
    assert passed == {"config", "server_state", "app_state", "_loop"}, (
        f"uvicorn.server.Server.startup now builds a connection with {sorted(passed)!r}: "
        "GatewayHttpProtocol.__init__ takes config, server_state, app_state, _loop"
    )
    signature = inspect.signature(GatewayHttpProtocol)
    signature.bind(**dict.fromkeys(passed))  # raises if the protocol cannot take them


def test_a_config_given_the_protocol_class_loads_it_and_the_app_unwrapped(
    config: uvicorn.Config,
) -> None:
    assert config.loaded is True, "uvicorn.Config.loaded is not set by load()"
    assert config.http_protocol_class is GatewayHttpProtocol, (
        "uvicorn.Config.load() no longer takes a protocol class given as http= "
        "(it must end up in Config.http_protocol_class)"
    )
    # no middleware around the app: it would stay on every open stream's stack
    assert config.loaded_app is tiny_app, (
        "uvicorn.Config.loaded_app wraps the app although interface='asgi3', "
        "proxy_headers=False and access_log=False"
    )


def test_the_config_for_several_workers_names_the_app_factory(tmp_path: Path) -> None:
    settings = Settings(port=0, data_dir=tmp_path, log_level="warning")
    config = run.uvicorn_config(settings, workers=2)
    assert (config.workers, config.factory) == (2, True), (
        "uvicorn.Config no longer keeps workers= and factory= (server/run.py's worker processes "
        "build the app from qwen_proxy.server.run:app_from_env)"
    )


def test_the_config_attributes_the_protocol_reads_keep_their_types(
    config: uvicorn.Config,
) -> None:
    assert isinstance(config.root_path, str), "uvicorn.Config.root_path is no longer a str"
    assert config.timeout_keep_alive == 75, (
        "uvicorn.Config.timeout_keep_alive no longer holds the timeout_keep_alive= given"
    )
    encoded = config.encoded_headers
    assert isinstance(encoded, list), "uvicorn.Config.encoded_headers is no longer a list"
    assert (b"server", b"uvicorn") not in encoded, "server_header=False no longer drops it"


def test_the_server_state_holds_what_the_protocol_shares() -> None:
    state = uvicorn.server.ServerState()
    assert isinstance(state.connections, set), (
        "uvicorn.server.ServerState.connections is no longer a set "
        "(each connection adds and discards itself)"
    )
    assert isinstance(state.tasks, set), (
        "uvicorn.server.ServerState.tasks is no longer a set (each request's task goes there, "
        "for uvicorn to wait for or cancel at shutdown)"
    )
    assert isinstance(state.default_headers, list), (
        "uvicorn.server.ServerState.default_headers is no longer a list"
    )
    assert state.total_requests == 0, "uvicorn.server.ServerState.total_requests is gone"


async def test_the_server_tick_renews_the_date_header_every_response_carries(
    config: uvicorn.Config,
) -> None:
    server = uvicorn.Server(config)
    assert await server.on_tick(0) is False
    headers = server.server_state.default_headers
    assert all(isinstance(n, bytes) and isinstance(v, bytes) for n, v in headers), (
        "uvicorn.server.ServerState.default_headers no longer holds (bytes, bytes) pairs"
    )
    assert [name for name, _ in headers] == [b"date"], (
        "uvicorn.Server.on_tick no longer puts the Date header (alone, for the gateway's "
        f"config) in ServerState.default_headers: {headers!r}"
    )


async def test_the_max_requests_limit_counts_the_protocols_total_requests(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(run, "create_app", lambda settings: tiny_app)
    config = run.uvicorn_config(Settings(port=0, data_dir=tmp_path, log_level="warning"))
    config.limit_max_requests = 3
    config.limit_max_requests_jitter = 0
    config.load()
    server = uvicorn.Server(config)
    server.server_state.total_requests = 2
    assert await server.on_tick(1) is False
    server.server_state.total_requests = 3  # what GatewayHttpProtocol.response_complete adds
    assert await server.on_tick(1) is True, (
        "uvicorn.Server.on_tick no longer compares ServerState.total_requests with "
        "--limit-max-requests"
    )


async def test_shutdown_asks_every_open_connection_to_finish(config: uvicorn.Config) -> None:
    server = uvicorn.Server(config)
    server.servers = []
    server.lifespan = uvicorn.lifespan.off.LifespanOff(config)
    asked: list[str] = []

    class Connection:
        def shutdown(self) -> None:
            asked.append("shutdown")
            server.server_state.connections.discard(self)  # type: ignore[arg-type]

    server.server_state.connections.add(Connection())  # type: ignore[arg-type]
    await asyncio.wait_for(server.shutdown(), timeout=10)
    assert asked == ["shutdown"], (
        "uvicorn.Server.shutdown no longer calls shutdown() on each of ServerState.connections"
    )


def test_the_lifespan_state_handed_to_connections_is_a_dict(config: uvicorn.Config) -> None:
    assert isinstance(uvicorn.lifespan.on.LifespanOn(config).state, dict), (
        "uvicorn.lifespan.on.LifespanOn.state (each connection's app_state) is no longer a dict"
    )


def test_the_protocol_logs_where_uvicorn_configures_its_error_log() -> None:
    assert protocol.log.name in uvicorn.config.LOGGING_CONFIG["loggers"], (
        f"uvicorn.config.LOGGING_CONFIG no longer configures {protocol.log.name!r}, the logger "
        "server/protocol.py reports application errors to"
    )
    assert isinstance(protocol.log, logging.Logger)


def test_what_running_the_gateway_calls_still_exists() -> None:
    assert callable(getattr(uvicorn.Config, "bind_socket", None)), (
        "uvicorn.Config.bind_socket is gone (server/run.py binds the socket its workers share)"
    )
    try:  # as server/run.py starts several workers
        inspect.signature(uvicorn.supervisors.Multiprocess).bind(object(), sockets=[])
    except TypeError as exc:
        pytest.fail(f"uvicorn.supervisors.Multiprocess(config, sockets=[...]) fails: {exc}")
    inspect.signature(uvicorn.Server.run).bind(object())  # Server(config).run()
    server = uvicorn.Server(uvicorn.Config(tiny_app))
    assert (server.started, server.should_exit) == (False, False), (
        "uvicorn.Server.started / should_exit are gone (BackgroundGateway waits and stops on them)"
    )
    stores = [
        node
        for node in ast.walk(source_tree(uvicorn.server.Server.startup))
        if isinstance(node, ast.Attribute)
        and node.attr == "servers"
        and isinstance(node.ctx, ast.Store)
    ]
    assert stores, "uvicorn.Server.startup no longer records its listening servers in .servers"
