"""The sans-IO response parser: any split of the bytes gives the same head and body."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qwen_proxy.qwen.transport.http1 import ProtocolError, ResponseParser

pytestmark = pytest.mark.unit

SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)
EVENTS = [b'data: {"a": 1}\n\n', b'data: {"b": "\xe4\xbd\xa0\xe5\xa5\xbd"}\n\n', b"x" * 300]


def chunked(parts: list[bytes], *, extension: bytes = b"", trailer: bytes = b"") -> bytes:
    body = b"".join(b"%x%s\r\n%s\r\n" % (len(p), extension, p) for p in parts)
    return body + b"0\r\n" + trailer + b"\r\n"


def feed_split(raw: bytes, cuts: list[int]) -> tuple[ResponseParser, bytes]:
    parser = ResponseParser()
    body = b""
    start = 0
    for cut in [*sorted(set(cuts)), len(raw)]:
        body += parser.feed(raw[start:cut])
        start = cut
    return parser, body


@given(st.lists(st.integers(min_value=0, max_value=len(SSE_HEAD) + 400), max_size=12))
def test_chunked_stream_decodes_the_same_in_any_split(cuts: list[int]) -> None:
    raw = SSE_HEAD + chunked(EVENTS)
    parser, body = feed_split(raw, cuts)
    assert parser.status == 200
    assert parser.content_type == "text/event-stream; charset=utf-8"
    assert body == b"".join(EVENTS)
    assert parser.complete
    assert parser.keep_alive


def test_body_bytes_are_returned_as_each_chunk_arrives() -> None:
    parser = ResponseParser()
    assert parser.feed(SSE_HEAD) == b""
    assert parser.head_done
    assert not parser.complete
    assert parser.feed(b"5\r\nhel") == b"hel"
    assert parser.feed(b"lo\r\n") == b"lo"
    assert parser.feed(b"0\r\n\r\n") == b""
    assert parser.complete


def test_chunk_extensions_and_trailers_are_skipped() -> None:
    raw = SSE_HEAD + chunked([b"abc"], extension=b";name=value", trailer=b"X-Trailer: 1\r\n")
    parser, body = feed_split(raw, [])
    assert body == b"abc"
    assert parser.complete


@pytest.mark.parametrize("cut", range(0, 60, 7))
def test_content_length_body_ends_at_its_length(cut: int) -> None:
    raw = (
        b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
        b'Content-Length: 11\r\n\r\n{"ok":true}'
    )
    parser, body = feed_split(raw, [cut])
    assert (parser.status, body, parser.complete) == (401, b'{"ok":true}', True)


def test_body_without_length_ends_with_the_connection_and_is_not_reused() -> None:
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>") == b"<html>"
    assert parser.reads_to_eof
    assert not parser.keep_alive
    assert parser.feed(b"</html>") == b"</html>"
    parser.eof()
    assert parser.complete


def test_eof_inside_a_chunked_body_is_an_error() -> None:
    parser = ResponseParser()
    parser.feed(SSE_HEAD + b"5\r\nhe")
    with pytest.raises(ProtocolError):
        parser.eof()


def test_interim_answers_are_skipped() -> None:
    raw = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + SSE_HEAD + chunked([b"hi"])
    parser, body = feed_split(raw, [20, 50])
    assert (parser.status, body) == (200, b"hi")


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 204 No Content\r\n\r\n", True),
    ],
)
def test_keep_alive_follows_version_and_connection_header(head: bytes, keep_alive: bool) -> None:
    parser = ResponseParser()
    assert parser.feed(head) == b""
    assert parser.complete
    assert parser.keep_alive is keep_alive


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        SSE_HEAD + b"zz\r\n",
        SSE_HEAD + b"0x5\r\nhello\r\n",
        SSE_HEAD + b"2\r\nhello\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
    ],
    ids=[
        "version",
        "status",
        "header",
        "negative-length",
        "two-lengths",
        "chunk-size",
        "0x-prefix",
        "chunk-overrun",
        "bytes-after-end",
    ],
)
def test_malformed_responses_raise(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        ResponseParser().feed(raw)


def test_oversized_head_is_refused() -> None:
    parser = ResponseParser()
    with pytest.raises(ProtocolError):
        parser.feed(b"HTTP/1.1 200 OK\r\n" + b"X: " + b"a" * 70_000)
