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


def test_a_line_longer_than_the_limit_is_refused_in_any_split() -> None:
    from qwen_proxy.qwen.sse import LineTooLong

    def feed_all(decoder: SSELineDecoder, data: bytes, piece: int) -> None:
        for start in range(0, len(data), piece):
            decoder.feed(data[start : start + piece])

    for piece in (1, 7, 64, 1000):
        with pytest.raises(LineTooLong):
            feed_all(SSELineDecoder(max_line=100), b"data: " + b"x" * 200, piece)


def test_a_line_at_the_limit_and_many_lines_in_one_feed_are_fine() -> None:
    decoder = SSELineDecoder(max_line=100)
    line = b"data: " + b"y" * 94
    assert decoder.feed(line[:50]) == []
    assert decoder.feed(line[50:] + b"\n" + (line + b"\n") * 20) == [b"y" * 94] * 21


def test_a_long_line_inside_one_feed_is_refused_too() -> None:
    from qwen_proxy.qwen.sse import LineTooLong

    decoder = SSELineDecoder(max_line=100)
    with pytest.raises(LineTooLong):
        decoder.feed(b"data: a\n" + b"data: " + b"z" * 500 + b"\ndata: b\n")
