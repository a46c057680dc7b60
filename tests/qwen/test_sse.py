"""The SSE line decoder: complete ``data:`` lines out, whatever the byte splits in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qwen_proxy.qwen.sse import SSELineDecoder

pytestmark = pytest.mark.unit

STREAM = (
    'data: {"a": 1} \n\n'
    ": keepalive comment\n"
    "event: message\n"
    "id: 7\n"
    'data:{"b": "ü€😀"}\r\n\r\n'
    'data: {"c": 3}\r\r'
    "data:\n\n"
    'data: {"d": 4}\n'
).encode()
EXPECTED = [b'{"a": 1}', '{"b": "ü€😀"}'.encode(), b'{"c": 3}', b'{"d": 4}']


def feed_in_pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    decoder = SSELineDecoder()
    out: list[bytes] = []
    start = 0
    for cut in sorted(set(cuts)):
        out += decoder.feed(data[start:cut])
        start = cut
    out += decoder.feed(data[start:])
    return out + decoder.close()


def test_whole_stream_yields_each_data_payload_stripped() -> None:
    assert feed_in_pieces(STREAM, []) == EXPECTED


def test_byte_by_byte_feeding_yields_the_same_payloads() -> None:
    decoder = SSELineDecoder()
    out: list[bytes] = []
    for i in range(len(STREAM)):
        out += decoder.feed(STREAM[i : i + 1])
    assert out + decoder.close() == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_split_yields_the_same_payloads(cuts: list[int]) -> None:
    assert feed_in_pieces(STREAM, cuts) == EXPECTED


def test_multibyte_character_split_across_feeds_is_kept_intact() -> None:
    line = 'data: {"t": "€"}\n'.encode()
    cut = line.index("€".encode()) + 1
    decoder = SSELineDecoder()
    assert decoder.feed(line[:cut]) == []
    assert decoder.feed(line[cut:]) == ['{"t": "€"}'.encode()]


def test_line_is_dispatched_at_its_line_end_without_waiting_for_blank_line() -> None:
    decoder = SSELineDecoder()
    assert decoder.feed(b'data: {"x": 1}\n') == [b'{"x": 1}']


def test_incomplete_line_waits_until_its_end_arrives() -> None:
    decoder = SSELineDecoder()
    assert decoder.feed(b'data: {"x"') == []
    assert decoder.feed(b": 1}\n\n") == [b'{"x": 1}']


def test_close_flushes_a_final_unterminated_line_once() -> None:
    decoder = SSELineDecoder()
    assert decoder.feed(b'data: {"x": 1}\n\ndata: {"y": 2}') == [b'{"x": 1}']
    assert decoder.close() == [b'{"y": 2}']
    assert decoder.close() == []


def test_cr_lf_split_between_feeds_does_not_produce_extra_payloads() -> None:
    decoder = SSELineDecoder()
    assert decoder.feed(b"data: one\r") == [b"one"]
    assert decoder.feed(b"\ndata: two\r") == [b"two"]
    assert decoder.feed(b"\n\r\n") == []
