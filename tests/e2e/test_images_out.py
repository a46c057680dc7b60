"""Images out through the official openai SDK: images.generate and images.edit over the
emulator's t2i and image_edit chats, as URLs and as base64, and the daily quota as a 429."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from accounts_support import pooled_gateway
from gateway_support import MODEL
from qwen_proxy.accounts import Credentials, save_accounts
from qwen_proxy.emulator.images import drawn
from qwen_proxy.emulator.testing import EmulatorHandle
from uploads_support import PNG, sdk, session_credentials, uploading_gateway

pytestmark = pytest.mark.e2e


def image_turns(emulator: EmulatorHandle) -> list[Any]:
    return [r.json for r in emulator.requests("/chat/completions") if r.method == "POST"]


def test_generate_returns_the_upstreams_url_with_its_key(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    with uploading_gateway(emulator_now, tmp_path) as gateway:
        result = sdk(gateway).images.generate(prompt="a red fox", size="1792x1024")
    (image,) = result.data
    assert image.url is not None
    assert image.url.startswith(emulator_now.url + "/__images__/")
    assert "key=" in image.url
    assert httpx.get(image.url).content == drawn("a red fox")
    (turn,) = image_turns(emulator_now)
    (message,) = turn["messages"]
    assert (message["chat_type"], message["content"], turn["size"]) == ("t2i", "a red fox", "16:9")
    (new_chat,) = [r for r in emulator_now.requests("/chats/new")]
    assert new_chat.json["chat_type"] == "t2i"


def test_generate_in_base64_downloads_each_image_one_turn_each(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    with uploading_gateway(emulator_now, tmp_path) as gateway:
        result = sdk(gateway).images.generate(
            model="dall-e-3", prompt="a blue whale", n=2, response_format="b64_json"
        )
    assert [base64.b64decode(i.b64_json or "") for i in result.data] == [drawn("a blue whale")] * 2
    assert [turn["size"] for turn in image_turns(emulator_now)] == ["1:1", "1:1"]


def test_edit_uploads_the_image_and_names_it_in_files(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    with uploading_gateway(emulator_now, tmp_path) as gateway:
        result = sdk(gateway).images.edit(
            image=("cat.png", io.BytesIO(PNG), "image/png"),
            prompt="make it blue",
            size="1024x1536",
            response_format="b64_json",
        )
    # the emulator's edit answers with the very image it was given: the bytes arrived
    assert base64.b64decode(result.data[0].b64_json or "") == PNG
    (turn,) = image_turns(emulator_now)
    (message,) = turn["messages"]
    assert (message["chat_type"], turn["size"]) == ("image_edit", "3:4")
    (entry,) = message["files"]
    assert (entry["type"], entry["file_class"]) == ("image", "vision")


def test_a_used_up_image_quota_is_a_429_with_retry_after_and_chats_go_on(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    emulator_now.set_knobs(image_quota=1)
    with uploading_gateway(emulator_now, tmp_path) as gateway:
        client = sdk(gateway)
        client.images.generate(prompt="first")
        with pytest.raises(openai.RateLimitError) as caught:
            client.images.generate(prompt="second")
        reply = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "echo: still chatting"}]
        )
    retry_after = int(caught.value.response.headers["retry-after"])
    assert 0 < retry_after <= 24 * 3600
    assert caught.value.code == "image_quota_exceeded"
    assert reply.choices[0].message.content == "still chatting"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"prompt": "x", "n": 5}, "n"),
        ({"prompt": "x", "size": "huge"}, "size"),
        ({"prompt": "x", "response_format": "png"}, "response_format"),
        ({"prompt": " "}, "prompt"),
        ({"prompt": "x", "model": "qwen3-coder-plus"}, "model"),
    ],
)
def test_what_cannot_be_drawn_is_a_400_naming_the_field(
    emulator_now: EmulatorHandle, tmp_path: Path, fields: dict[str, Any], param: str
) -> None:
    with uploading_gateway(emulator_now, tmp_path) as gateway:
        answer = httpx.post(gateway.url + "/v1/images/generations", json=fields, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == param
    assert image_turns(emulator_now) == []


def test_an_account_out_of_image_quota_hands_the_turn_to_another(
    emulator_now: EmulatorHandle, tmp_path: Path
) -> None:
    emulator_now.set_knobs(image_quota=1)
    other = emulator_now.add_account("other@example.com", "pw")
    second = Credentials(
        name="other",
        token=other.token,
        cookies=other.cookies,
        bx_ua=other.bx_ua,
        bx_umidtoken=other.bx_umidtoken,
        bx_v=other.bx_v,
    )
    save_accounts(tmp_path / "accounts.json", [session_credentials(emulator_now), second])
    with pooled_gateway(emulator_now, tmp_path, oss_url=emulator_now.url + "/oss") as gateway:
        client = sdk(gateway)
        made = [client.images.generate(prompt=f"picture {n}") for n in range(2)]
        with pytest.raises(openai.RateLimitError):
            client.images.generate(prompt="one too many")
    assert all(result.data[0].url for result in made)
