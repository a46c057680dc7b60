"""No request body over the upstream's cap: a long folded history sends its older part as a
text file, against an emulator that answers any bigger body with a challenge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from gateway_support import MODEL
from qwen_proxy.emulator.testing import EmulatorHandle
from uploads_support import sdk, uploading_gateway

pytestmark = pytest.mark.integration

CAP = 120_000


def long_history(pairs: int, size: int) -> list[dict[str, Any]]:
    """A conversation the gateway has never seen (so it is folded): a fact first, long turns."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a careful assistant."},
        {"role": "user", "content": "my name is Zed."},
        {"role": "assistant", "content": "Nice to meet you, Zed."},
    ]
    for n in range(pairs):
        messages.append({"role": "user", "content": f"part {n}: " + "lorem ipsum " * (size // 12)})
        messages.append({"role": "assistant", "content": f"noted part {n}."})
    return messages


def completions(emulator: EmulatorHandle) -> list[Any]:
    return [r for r in emulator.requests("/chat/completions") if r.method == "POST"]


def test_a_folded_history_over_the_cap_sends_its_older_part_as_a_file(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    messages = long_history(40, 5000)  # about 200 KB of history
    messages.append({"role": "user", "content": "what is my name?"})
    with uploading_gateway(emulator_now, tmp_path) as gateway:
        client = sdk(gateway)
        reply = client.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
        # the fact was only in the older part: the model read the file
        assert reply.choices[0].message.content == "Your name is Zed."

        (sent,) = completions(emulator_now)
        assert len(orjson.dumps(sent.json)) <= CAP
        (message,) = sent.json["messages"]
        (attached,) = message["files"]
        assert (attached["name"], attached["file_class"]) == ("conversation.txt", "document")
        assert "attached file conversation.txt" in message["content"]
        assert message["content"].endswith("what is my name?")
        assert emulator_now.requests("/files/parse")  # read upstream before it was named

        # the next turn continues that chat: the fact stays known without any file
        messages += [
            {"role": "assistant", "content": "Your name is Zed."},
            {"role": "user", "content": "what is my name?"},
        ]
        again = client.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
        assert again.choices[0].message.content == "Your name is Zed."
        last = completions(emulator_now)[-1].json
        assert last["parent_id"] is not None
        assert last["messages"][0]["files"] == []


def test_a_history_under_the_cap_goes_inline_as_before(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    messages = long_history(4, 2000)
    messages.append({"role": "user", "content": "what is my name?"})
    with uploading_gateway(emulator_now, tmp_path) as gateway:
        reply = sdk(gateway).chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "Your name is Zed."
    (sent,) = completions(emulator_now)
    assert sent.json["messages"][0]["files"] == []
    assert emulator_now.requests("getstsToken") == []


def test_a_single_new_message_over_the_cap_is_refused_naming_messages(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    huge = {"role": "user", "content": "x" * 130_000}
    with (
        uploading_gateway(emulator_now, tmp_path) as gateway,
        pytest.raises(openai.BadRequestError) as caught,
    ):
        sdk(gateway).chat.completions.create(model=MODEL, messages=[huge])  # type: ignore[list-item]
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == "messages"
    assert error["code"] == "context_length_exceeded"
    assert str(CAP) in error["message"]
    assert completions(emulator_now) == []


def test_the_cap_is_a_setting(emulator_now: EmulatorHandle, tmp_path: Path) -> None:
    messages = long_history(6, 5000)
    messages.append({"role": "user", "content": "what is my name?"})
    with uploading_gateway(emulator_now, tmp_path, max_upstream_body=20_000) as gateway:
        reply = sdk(gateway).chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "Your name is Zed."
    (sent,) = completions(emulator_now)
    assert len(orjson.dumps(sent.json)) <= 20_000
    assert sent.json["messages"][0]["files"][0]["name"] == "conversation.txt"
