"""``GET /metrics``: the Prometheus exposition (behind the admin key, checked by ``api.app``).

One process: the metrics of this process. Several workers (``serve --workers N``): each worker
writes its values to files in ``PROMETHEUS_MULTIPROC_DIR`` (``serve`` sets it up and clears it),
and whichever worker is scraped sums them all, so any worker answers for the whole gateway.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from qwen_proxy.api.http import Send
from qwen_proxy.service.gateway import Gateway
from qwen_proxy.service.metrics import set_account_states

#: prometheus_client's own variable: set, its values live in files shared by the workers
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


def exposition() -> bytes:
    """The current metrics in the text format (every worker's, summed, in multiprocess mode)."""
    if os.environ.get(MULTIPROC_DIR):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


async def send_metrics(gateway: Gateway, send: Send) -> None:
    """Refresh the gauges read at scrape time, then answer the exposition."""
    set_account_states([status.state for status in gateway.pool.snapshot()])
    body = exposition()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", CONTENT_TYPE_LATEST.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def process_exiting() -> None:
    """A worker stops: its live gauges (streams open) no longer count in the sum."""
    if os.environ.get(MULTIPROC_DIR):
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
