"""``serve --workers 2``: any worker scraped answers for the whole gateway (multiprocess mode)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway_support import MODEL
from redis_support import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

READY_LINE = b"Application startup complete"
ADMIN = {"Authorization": "Bearer metrics-admin"}


def chat_requests(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "qwen_proxy_requests_total"
        and sample.labels.get("route") == "/v1/chat/completions"
        and sample.labels.get("status") == "200"
    )


def test_every_worker_reports_the_requests_all_workers_served(
    emulator_2026_06: Any, tmp_path: Path
) -> None:
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left by an earlier run")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_PROXY_")}
    env.update(
        {
            "QWEN_PROXY_UPSTREAM_URL": emulator_2026_06.url,
            "QWEN_PROXY_TOKEN": emulator_2026_06.token,
            "QWEN_PROXY_DATA_DIR": str(tmp_path / "data"),
            "QWEN_PROXY_ADMIN_KEY": "metrics-admin",
            "QWEN_PROXY_LOG_LEVEL": "info",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "PYTHONUNBUFFERED": "1",
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "qwen_proxy", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert process.stdout is not None
        ready = 0
        for line in process.stdout:
            ready += READY_LINE in line
            if ready == 2:
                break
        url = f"http://127.0.0.1:{port}"
        body = {"model": MODEL, "messages": [{"role": "user", "content": "echo: hi"}]}
        for _ in range(6):  # a connection each: the workers take turns accepting
            with httpx.Client(base_url=url, timeout=30) as client:
                assert client.post("/v1/chat/completions", json=body).status_code == 200
        for _ in range(4):
            with httpx.Client(base_url=url, timeout=30) as client:
                assert chat_requests(client.get("/metrics", headers=ADMIN).text) == 6
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert not (metrics_dir / "counter_999999.db").exists()
