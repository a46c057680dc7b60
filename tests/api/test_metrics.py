"""``GET /metrics``: behind the admin key, and its values follow the traffic that was served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway_support import MODEL, running_gateway, session_settings

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-secret"}


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition by (name, sorted labels)."""
    response = httpx.get(url + "/metrics", headers=ADMIN)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(
        v
        for (sample, have), v in samples.items()
        if sample == name and set(labels.items()) <= set(have)
    )


@pytest.fixture
def gateway(emulator: Any, tmp_path: Path) -> Any:
    settings = session_settings(emulator, tmp_path, admin_key="admin-secret")
    with running_gateway(settings) as running:
        yield running


def test_metrics_need_the_admin_key(gateway: Any) -> None:
    assert httpx.get(gateway.url + "/metrics").status_code == 401
    wrong = httpx.get(gateway.url + "/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"


def test_metrics_count_the_traffic_that_was_served(gateway: Any, emulator: Any) -> None:
    before = scrape(gateway.url)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    history: list[dict[str, Any]] = [{"role": "user", "content": "My name is Ada."}]
    first = client.chat.completions.create(model=MODEL, messages=history)  # type: ignore[arg-type]
    history += [
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "What is my name?"},
    ]
    # the second turn meets one server error upstream, retried on the same account
    emulator.set_fault("http_5xx", times=1, route="completions", status=500)
    stream = client.chat.completions.create(
        model=MODEL,
        messages=history,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    assert "Ada" in "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert httpx.get(gateway.url + "/nowhere").status_code == 404
    after = scrape(gateway.url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    chat = {"route": "/v1/chat/completions", "status": "200", "key": "local"}
    assert delta("qwen_proxy_requests_total", **chat) == 2
    assert delta("qwen_proxy_requests_total", route="other", status="404", key="-") == 1
    assert delta("qwen_proxy_upstream_failures_total", **{"class": "transient"}) == 1
    assert delta("qwen_proxy_time_to_first_token_seconds_count") == 2
    assert delta("qwen_proxy_request_duration_seconds_count") == 2
    assert delta("qwen_proxy_tokens_total", key="local", direction="input") > 0
    assert delta("qwen_proxy_tokens_total", key="local", direction="output") > 0
    assert delta("qwen_proxy_conversation_lookups_total", result="miss") == 1
    assert delta("qwen_proxy_conversation_lookups_total", result="hit") == 1
    assert value(after, "qwen_proxy_streams_open") == 0
    assert value(after, "qwen_proxy_accounts", state="active") == 1
    assert value(after, "qwen_proxy_accounts", state="quarantined") == 0
    # the scrapes count themselves under the admin's name
    assert delta("qwen_proxy_requests_total", route="/metrics", key="admin") >= 1
