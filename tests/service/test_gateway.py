"""The gateway's own upstream calls report to the account pool like completions do."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from qwen_proxy.accounts import NoAccountAvailable
from qwen_proxy.config import Settings
from qwen_proxy.qwen.errors import UpstreamAuthFailed, UpstreamServerError
from qwen_proxy.service.gateway import Gateway

pytestmark = pytest.mark.unit


def gateway_with(tmp_path: Path, list_models: Any) -> Gateway:
    """A gateway (not started: no socket) with one account and a stand-in for the model list."""
    gateway = Gateway(Settings(store="memory", token="token", data_dir=tmp_path))
    gateway.client.list_models = list_models  # type: ignore[method-assign]
    return gateway


async def test_a_model_list_fetch_cancelled_midway_is_neutral_for_the_account(
    tmp_path: Path,
) -> None:
    started = asyncio.Event()

    async def hang(cred: Any) -> list[dict[str, Any]]:
        started.set()
        await asyncio.Event().wait()
        return []

    gateway = gateway_with(tmp_path, hang)
    task = asyncio.ensure_future(gateway.catalog.models())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    status = gateway.pool.snapshot()[0]
    assert (status.in_flight, status.requests, status.failures) == (0, 0, 0)


async def test_a_model_list_fetch_reports_success_and_upstream_failures(tmp_path: Path) -> None:
    answers: list[Any] = [UpstreamServerError(), [{"id": "qwen3-max"}]]

    async def flaky(cred: Any) -> list[dict[str, Any]]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return list(answer)

    gateway = gateway_with(tmp_path, flaky)
    with pytest.raises(UpstreamServerError):
        await gateway.catalog.models()
    assert [m.id for m in await gateway.catalog.models()] == ["qwen3-max"]
    status = gateway.pool.snapshot()[0]
    assert (status.in_flight, status.requests, status.failures) == (0, 2, 1)


async def test_a_rejected_token_on_the_model_list_takes_the_account_out(tmp_path: Path) -> None:
    async def rejected(cred: Any) -> list[dict[str, Any]]:
        raise UpstreamAuthFailed()

    gateway = gateway_with(tmp_path, rejected)
    with pytest.raises(NoAccountAvailable):
        await gateway.catalog.models()
    assert gateway.pool.snapshot()[0].state == "disabled"
