"""The Grafana dashboard under deploy/ and the README only name metrics the gateway exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

import qwen_proxy.service.metrics  # noqa: F401  (defines the metrics)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"qwen_proxy_[a-z_]+")


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exposed() -> set[str]:
    """Every series name the gateway's metrics can have (whether or not counted yet)."""
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        if family.name.startswith("qwen_proxy_")
        for suffix in SUFFIXES[family.type]
    }


def test_the_dashboard_queries_only_exposed_metrics() -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in NAME.findall(target["expr"])
    }
    assert queried
    assert queried <= exposed()


def test_the_readme_names_every_metric_and_no_other() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("### Metrics", 1)[1].split("###", 1)[0]
    named = set(re.findall(r"`(qwen_proxy_[a-z_]+)`", table))
    families = {f.name for f in REGISTRY.collect() if f.name.startswith("qwen_proxy_")}
    assert {n.removesuffix("_total") for n in named} == families
