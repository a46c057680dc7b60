"""Image turns in Qwen's terms: sizes to the nearest ratio, the image phase of the stream."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_proxy.qwen.events import Finished, GeneratedImage
from qwen_proxy.qwen.images import nearest_ratio
from qwen_proxy.qwen.payloads import completion_body
from qwen_proxy.qwen.stream import QwenStreamParser

pytestmark = pytest.mark.unit

URL = "https://cdn.qwen.test/output/abc.png?key=k%2F1&x=2"


@pytest.mark.parametrize(
    ("width", "height", "ratio"),
    [
        (1024, 1024, "1:1"),
        (256, 256, "1:1"),
        (1792, 1024, "16:9"),
        (1024, 1792, "9:16"),
        (1536, 1024, "4:3"),
        (1024, 1536, "3:4"),
        (1920, 1080, "16:9"),
        (1100, 1000, "1:1"),
        (4000, 1000, "16:9"),
        (1000, 4000, "9:16"),
    ],
)
def test_a_size_becomes_the_nearest_ratio_the_upstream_draws(
    width: int, height: int, ratio: str
) -> None:
    assert nearest_ratio(width, height) == ratio


def test_a_size_without_area_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        nearest_ratio(0, 100)


def test_an_image_turns_body_names_its_ratio_and_type_everywhere() -> None:
    body = completion_body(
        chat_id="c",
        model="m",
        parent_id=None,
        content="a cat",
        fid="f",
        child_id="k",
        now_s=1,
        chat_type="t2i",
        size="16:9",
    )
    (message,) = body["messages"]
    assert body["size"] == message["size"] == message["extra"]["meta"]["size"] == "16:9"
    assert message["chat_type"] == message["sub_chat_type"] == "t2i"
    assert message["extra"]["meta"]["subChatType"] == "t2i"
    plain = completion_body(
        chat_id="c", model="m", parent_id=None, content="hi", fid="f", child_id="k", now_s=1
    )
    assert "size" not in plain
    assert "size" not in plain["messages"][0]


def image_stream() -> bytes:
    events = [
        {"response.created": {"chat_id": "c", "parent_id": "p", "response_id": "r"}},
        {"choices": [{"delta": {"content": "", "phase": "image_gen", "status": "typing"}}]},
        {
            "choices": [
                {
                    "delta": {
                        "content": URL,
                        "phase": "image_gen",
                        "status": "typing",
                        "extra": {"output_image_hw": [[720, 1280]]},
                    }
                }
            ]
        },
        {"choices": [{"delta": {"content": URL, "phase": "image_gen", "status": "typing"}}]},
        {"choices": [{"delta": {"content": "", "phase": "image_gen", "status": "finished"}}]},
    ]
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events)


@settings(max_examples=50, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8))
def test_the_image_url_comes_out_once_whole_in_any_split(cuts: list[int]) -> None:
    raw = image_stream()
    points = sorted({min(c, len(raw)) for c in cuts})
    parser = QwenStreamParser()
    events = []
    start = 0
    for point in [*points, len(raw)]:
        events += parser.feed(raw[start:point])
        start = point
    events += parser.close()
    assert [e for e in events if isinstance(e, GeneratedImage)] == [GeneratedImage(URL)]
    assert isinstance(events[-1], Finished)
    assert parser.finished
    assert parser.saw_content
    assert parser.answer_text == ""
