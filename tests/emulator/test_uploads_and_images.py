"""The emulator's uploads and image turns, called as a web client calls them."""

from __future__ import annotations

import pytest

from emulator_client import Qwen
from qwen_proxy.emulator.images import drawn, hours_to_midnight, png
from qwen_proxy.emulator.testing import EmulatorHandle

pytestmark = pytest.mark.integration


def test_a_grant_needs_a_file_type_in_either_spelling(qwen: Qwen) -> None:
    for body in (
        {"file_name": "a.png", "file_size": 4, "file_type": "image"},
        {"filename": "a.png", "filesize": 4, "filetype": "image"},
    ):
        answer = qwen.http.post("/api/v2/files/getstsToken", json=body, headers=qwen.auth())
        assert answer.json()["data"]["file_path"].endswith("_a.png")
    bare = qwen.http.post(
        "/api/v2/files/getstsToken", json={"filename": "a.png"}, headers=qwen.auth()
    ).json()
    assert bare["data"] == {"code": "Bad_Request", "details": "Invalid file information!"}


def test_each_grant_has_keys_of_its_own(qwen: Qwen) -> None:
    body = {"filename": "a.png", "filesize": 4, "filetype": "image"}
    one, two = (
        qwen.http.post("/api/v2/files/getstsToken", json=body, headers=qwen.auth()).json()["data"]
        for _ in range(2)
    )
    assert one["access_key_id"] != two["access_key_id"]
    assert one["security_token"] != two["security_token"]
    assert one["endpoint"] == "oss-emulator.aliyuncs.com"
    assert one["bucketname"] == "qwen-webui-prod"


def test_an_unsigned_put_to_the_object_store_is_refused(qwen: Qwen) -> None:
    body = {"filename": "a.png", "filesize": 4, "filetype": "image"}
    grant = qwen.http.post("/api/v2/files/getstsToken", json=body, headers=qwen.auth()).json()
    url = f"/oss/{grant['data']['bucketname']}/{grant['data']['file_path']}"
    refused = qwen.http.put(url, content=b"\x89PNG")
    assert refused.status_code == 403
    assert "<Code>AccessDenied</Code>" in refused.text


def test_a_t2i_turn_streams_an_image_url_that_needs_its_key(
    qwen: Qwen, emulator: EmulatorHandle
) -> None:
    chat_id = qwen.new_chat("t2i")
    answer = qwen.post(chat_id, qwen.body(chat_id, "a lighthouse", None, chat_type="t2i"))
    (image,) = [
        e["choices"][0]["delta"]
        for e in answer.events
        if "choices" in e and e["choices"][0]["delta"].get("content")
    ]
    assert image["phase"] == "image_gen"
    assert image["extra"]["output_image_hw"] == [[1024, 1024]]
    assert qwen.http.get(image["content"]).content == drawn("a lighthouse")
    assert qwen.http.get(image["content"].split("?")[0]).status_code == 403


def test_the_image_quota_answers_rate_limited_with_hours(
    qwen: Qwen, emulator: EmulatorHandle
) -> None:
    emulator.set_knobs(image_quota=0)
    chat_id = qwen.new_chat("t2i")
    answer = qwen.post(chat_id, qwen.body(chat_id, "a lighthouse", None, chat_type="t2i"))
    data = answer.json()["data"]
    assert data["code"] == "RateLimited"
    assert "今日生图额度已用完" in data["details"]
    assert 1 <= data["num"] <= 24


def test_drawn_images_are_real_pngs_and_midnight_is_hours_away() -> None:
    assert png(b"\x00\x00\x00").startswith(b"\x89PNG\r\n\x1a\n")
    assert drawn("a") != drawn("b")
    assert hours_to_midnight(0) == 24
    assert hours_to_midnight(86400 - 1) == 1
