"""A browser session pasted as a user pastes it serves a long conversation while its short-lived
token is renewed again and again: by one gateway, and by two sharing one Redis.

The emulator's access tokens live 3 s instead of 15 minutes, so a few seconds here are what half
an hour is upstream: each round of the conversation waits for the next renewal (an event the
emulator records), then talks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from gateway_support import MODEL, gateway_settings, running_gateway
from qwen_proxy.config import Settings
from qwen_proxy.emulator.config import EmulatorConfig
from qwen_proxy.emulator.records import RecordedRequest
from qwen_proxy.emulator.testing import EmulatorHandle, running_emulator
from qwen_proxy.server.run import BackgroundGateway
from session_support import adopted_copy

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EMAIL = "demo@example.com"
#: seconds an access token lives here (upstream: 900)
TTL = 3
#: renewals the conversation lives through
RENEWALS = 4
COMPLETIONS = "/api/v2/chat/completions"
REFRESH = "/auths/refresh"


@pytest.fixture
def short_lived() -> Iterator[EmulatorHandle]:
    """Today's upstream, with 3-second tokens and a refresh token that changes at every use."""
    config = EmulatorConfig.default(access_token_ttl=TTL, rotate_refresh_token=True)
    with running_emulator(config) as handle:
        yield handle


def import_curl(data_dir: Path, emulator: EmulatorHandle, text: str) -> None:
    """``qwen-proxy accounts import-curl main`` with the copied request on stdin."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_PROXY_")}
    done = subprocess.run(
        [sys.executable, "-m", "qwen_proxy", "accounts", "import-curl", "main"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        env={
            **clean,
            "QWEN_PROXY_DATA_DIR": str(data_dir),
            "QWEN_PROXY_UPSTREAM_URL": emulator.url,
        },
    )
    assert done.returncode == 0, done.stderr


def say(gateway: BackgroundGateway, history: list[dict[str, str]], text: str, **extra: Any) -> str:
    """One turn of the conversation: it must be answered (no failed request)."""
    history.append({"role": "user", "content": text})
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        json={"model": MODEL, "messages": history, **extra},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    if extra.get("stream"):
        answer = "".join(_deltas(response.text))
    else:
        answer = str(response.json()["choices"][0]["message"]["content"])
    history.append({"role": "assistant", "content": answer})
    return answer


def _deltas(body: str) -> Iterator[str]:
    for line in body.splitlines():
        if line.startswith("data: {"):
            choices = json.loads(line[6:]).get("choices") or [{}]
            yield choices[0].get("delta", {}).get("content") or ""


def renewals(emulator: EmulatorHandle) -> list[RecordedRequest]:
    return emulator.requests(REFRESH)


def wait_for_renewal(emulator: EmulatorHandle, after: int, timeout: float = 10.0) -> int:
    """Block until the emulator saw more than ``after`` renewals; their number."""
    deadline = time.monotonic() + timeout
    while (count := len(renewals(emulator))) <= after:
        assert time.monotonic() < deadline, "no token renewal came"
        time.sleep(0.02)
    return count


def completions(emulator: EmulatorHandle) -> list[RecordedRequest]:
    return [r for r in emulator.requests(COMPLETIONS) if r.method == "POST"]


@pytest.mark.parametrize("copy", ["chrome_bash", "firefox_bash"])
def test_a_pasted_browser_session_serves_a_long_conversation_across_renewals(
    short_lived: EmulatorHandle, tmp_path: Path, copy: str
) -> None:
    emulator = short_lived
    import_curl(tmp_path, emulator, adopted_copy(emulator, copy, EMAIL))
    history: list[dict[str, str]] = []
    turns = 0
    with running_gateway(gateway_settings(emulator.url, None, tmp_path)) as gateway:
        assert say(gateway, history, "Hello! My name is Ada.")
        seen = 0
        for round_ in range(RENEWALS):
            seen = wait_for_renewal(emulator, seen)
            assert say(gateway, history, f"echo: round {round_}") == f"round {round_}"
            assert say(gateway, history, f"echo: again {round_}", stream=True) == f"again {round_}"
            turns += 2
        last = say(gateway, history, "What is my name?")

    assert last == "Your name is Ada."  # one chat, its context kept across every renewal
    sent = completions(emulator)
    # every turn went through at its first try: no token ever reached the upstream expired
    assert len(sent) == turns + 2
    assert len({r.token_exp for r in sent}) >= RENEWALS - 1
    assert len(emulator.chats(EMAIL)) == 1


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"qwen-proxy-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.mark.redis
def test_two_instances_sharing_redis_renew_each_token_once_and_both_use_it(
    short_lived: EmulatorHandle, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    emulator = short_lived
    text = adopted_copy(emulator, "chrome_bash", EMAIL)
    hosts = {"host-a": tmp_path / "a", "host-b": tmp_path / "b"}
    for data_dir in hosts.values():  # two hosts, each given the same session by its operator
        import_curl(data_dir, emulator, text)

    def settings(host: str) -> Settings:
        return gateway_settings(
            emulator.url,
            None,
            hosts[host],
            store=redis_url,
            redis_prefix=redis_prefix,
            # a Chrome copy has no app version: each instance sends its own, which tells the
            # two apart in the emulator's record
            web_version=f"0.2.68-{host}",
        )

    history: list[dict[str, str]] = []
    with running_gateway(settings("host-a")) as a, running_gateway(settings("host-b")) as b:
        say(a, history, "Hello! My name is Ada.")
        seen = 0
        for round_ in range(RENEWALS):
            seen = wait_for_renewal(emulator, seen)
            say(a, history, f"echo: a {round_}")
            say(b, history, f"echo: b {round_}")
        last = say(b, history, "What is my name?")

    renewed = [r.token_exp for r in renewals(emulator)]
    used: dict[str, set[int | None]] = {"host-a": set(), "host-b": set()}
    for sent in completions(emulator):
        used[_host(sent)].add(sent.token_exp)
    assert last == "Your name is Ada."
    assert len(renewed) >= RENEWALS
    # one renewal per token, whichever instance made it: with a refresh token that changes
    # at every use, an instance renewing on its own would have been refused
    assert len(renewed) == len(set(renewed))
    # and both took the renewed tokens in turn
    assert len(used["host-a"]) >= RENEWALS - 1
    assert len(used["host-b"]) >= RENEWALS - 1
    assert len(completions(emulator)) == 2 * RENEWALS + 2  # no request failed or was retried


def _host(recorded: RecordedRequest) -> str:
    return recorded.headers["version"].split("-", 1)[1]
