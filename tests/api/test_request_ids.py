"""Every response names its request, and the gateway's log lines for it carry the same id."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_support import MODEL
from qwen_proxy.logs import RequestIdFilter, accepted_request_id

pytestmark = pytest.mark.integration

CHAT = "/v1/chat/completions"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "echo: hi"}]}


@pytest.fixture
def tagged_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Captured log records tagged with their request id, as the gateway's handler tags them."""
    tag = RequestIdFilter()
    caplog.handler.addFilter(tag)
    with caplog.at_level(logging.DEBUG, logger="qwen_proxy"):
        yield caplog
    caplog.handler.removeFilter(tag)


def test_every_response_carries_a_request_id(gateway: Any) -> None:
    answers = [
        httpx.post(gateway.url + CHAT, json=BODY),
        httpx.post(gateway.url + CHAT, json={**BODY, "stream": True}),
        httpx.post(gateway.url + CHAT, json={"model": MODEL}),
        httpx.get(gateway.url + "/v1/models"),
        httpx.get(gateway.url + "/health"),
        httpx.get(gateway.url + "/nowhere"),
        httpx.get(gateway.url + CHAT),
    ]
    assert [a.status_code for a in answers] == [200, 200, 400, 200, 200, 404, 405]
    ids = [a.headers["x-request-id"] for a in answers]
    assert all(i.startswith("req_") for i in ids)
    assert len(set(ids)) == len(ids)


def test_an_incoming_request_id_is_honoured_and_a_bad_one_replaced(gateway: Any) -> None:
    mine = httpx.post(gateway.url + CHAT, json=BODY, headers={"x-request-id": "trace-42.a"})
    assert mine.headers["x-request-id"] == "trace-42.a"
    bad = httpx.post(gateway.url + CHAT, json=BODY, headers={"x-request-id": "a b\tc"})
    assert bad.headers["x-request-id"].startswith("req_")
    long = httpx.get(gateway.url + "/health", headers={"x-request-id": "x" * 200})
    assert long.headers["x-request-id"] != "x" * 200


def test_log_lines_of_a_request_and_its_upstream_calls_carry_its_id(
    gateway: Any, emulator: Any, tagged_logs: pytest.LogCaptureFixture
) -> None:
    emulator.set_fault("http_5xx", times=1, route="completions", status=500)
    answer = httpx.post(gateway.url + CHAT, json=BODY, headers={"x-request-id": "trace-7"})
    assert answer.status_code == 200
    mine = [r for r in tagged_logs.records if getattr(r, "request_id", None) == "trace-7"]
    upstream = [r.getMessage() for r in mine if r.name == "qwen_proxy.upstream"]
    # the failed completion and its retry, each in a new chat
    completions = [m for m in upstream if m.startswith("upstream POST /api/v2/chat/completions")]
    assert len(completions) == 2
    assert any(m.startswith("upstream POST /api/v2/chats/new") for m in upstream)
    others = [r for r in tagged_logs.records if r.name == "qwen_proxy.upstream" and r not in mine]
    assert all(getattr(r, "request_id", "-") != "trace-7" for r in others)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("given", "kept"),
    [("abc-123", True), ("req_0f.x:y/z+=@", True), ("", False), ("a b", False), ("é", False)],
)
def test_which_incoming_ids_are_kept(given: str, kept: bool) -> None:
    assert (accepted_request_id(given) == given) is kept


def test_log_lines_outside_a_request_show_a_dash(tmp_path: Path) -> None:
    record = logging.LogRecord("qwen_proxy", logging.INFO, __file__, 1, "x", None, None)
    RequestIdFilter().filter(record)
    assert record.request_id == "-"  # type: ignore[attr-defined]
