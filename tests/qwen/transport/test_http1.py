"""The sans-IO response parser (llhttp underneath): any split of the bytes gives the same head
and body, and what llhttp refuses, or frames differently from the hand parser it replaced, is
pinned here."""

from __future__ import annotations

import gc
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qwen_proxy.qwen.transport.http1 import MAX_HEAD, ProtocolError, ResponseParser

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
        b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: \r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\r\n  folded\r\nContent-Length: 0\r\n\r\n",
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
        "four-digit-status",
        "status-glued-to-reason",
        "repeated-length",
        "empty-transfer-encoding",
        "folded-header",
    ],
)
def test_malformed_responses_raise(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        ResponseParser().feed(raw)


def test_oversized_head_is_refused() -> None:
    parser = ResponseParser()
    with pytest.raises(ProtocolError):
        parser.feed(b"HTTP/1.1 200 OK\r\n" + b"X: " + b"a" * 70_000)


@pytest.mark.parametrize(
    "framing",
    [
        b"Transfer-Encoding: chunked\r\nContent-Length: 5",
        b"Content-Length: 5\r\nTransfer-Encoding: chunked",
        b"Transfer-Encoding: gzip\r\nContent-Length: 5",
    ],
    ids=["chunked-then-length", "length-then-chunked", "coding-and-length"],
)
def test_an_answer_framed_both_by_transfer_encoding_and_length_is_refused(framing: bytes) -> None:
    # the hand parser took the chunks and kept the connection for the next call; such an
    # answer may be a smuggling attempt, so it is refused and its connection dropped
    raw = b"HTTP/1.1 200 OK\r\n" + framing + b"\r\n\r\n" + chunked([b"hello"])
    with pytest.raises(ProtocolError, match=r"Content-Length|Transfer-Encoding"):
        ResponseParser().feed(raw)


@pytest.mark.parametrize(
    ("codings", "is_chunked"),
    [
        (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip", False),
        (b"Transfer-Encoding: chunked, gzip", False),
        (b"Transfer-Encoding: xchunked", False),
        (b"Transfer-Encoding: chunked;q=1", False),
        (b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked", True),
        (b"Transfer-Encoding: gzip, chunked", True),
        (b"Transfer-Encoding: CHUNKED", True),
    ],
)
def test_only_chunked_as_the_last_transfer_coding_frames_the_body_by_chunks(
    codings: bytes, is_chunked: bool
) -> None:
    # several Transfer-Encoding lines are one list: a coding after "chunked" means the body
    # runs to the close (and the connection is not reused); "xchunked" is not "chunked"
    raw = b"HTTP/1.1 200 OK\r\n" + codings + b"\r\n\r\n" + chunked([b"hello"])
    parser = ResponseParser()
    body = parser.feed(raw)
    if is_chunked:
        assert (body, parser.complete, parser.keep_alive) == (b"hello", True, True)
    else:
        assert body == chunked([b"hello"])
        assert parser.reads_to_eof
        assert not parser.keep_alive
        parser.eof()
        assert parser.complete


def test_a_second_answer_after_the_end_is_refused_not_parsed() -> None:
    second = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 0\r\n\r\n"
    parser = ResponseParser()
    with pytest.raises(ProtocolError, match="after the end"):
        parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + second)
    assert parser.content_type == ""


def test_bytes_fed_after_a_complete_response_are_refused() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert parser.feed(b"") == b""
    with pytest.raises(ProtocolError, match="after the end"):
        parser.feed(b"x")


def test_an_interim_answers_headers_do_not_carry_over() -> None:
    interim = b"HTTP/1.1 103 Early Hints\r\nContent-Type: text/html\r\n\r\n"
    parser, body = feed_split(interim + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", [])
    assert (parser.status, parser.content_type, body) == (200, "", b"ok")


@pytest.mark.parametrize("connection", [b"", b"Connection: Upgrade\r\n"])
def test_a_protocol_switch_is_refused(connection: bytes) -> None:
    head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n" + connection + b"\r\n"
    with pytest.raises(ProtocolError):
        ResponseParser().feed(head)


def test_trailers_do_not_change_the_head() -> None:
    raw = SSE_HEAD + chunked([b"abc"], trailer=b"Content-Type: text/html\r\n")
    parser, _ = feed_split(raw, [])
    assert parser.content_type == "text/event-stream; charset=utf-8"


def test_a_head_arriving_whole_in_one_read_is_not_capped_by_the_body_after_it() -> None:
    body = b"x" * (MAX_HEAD * 2)
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    parser, got = feed_split(raw, [])
    assert (got, parser.complete) == (body, True)


def garbage_after(make: Callable[[], object]) -> int:
    """Objects only the cycle collector frees once ``make``'s result is dropped."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        made = make()
        del made
        return gc.collect()
    finally:
        if was_enabled:
            gc.enable()


def test_a_finished_response_leaves_nothing_for_the_cycle_collector() -> None:
    def finished() -> ResponseParser:
        parser = ResponseParser()
        parser.feed(SSE_HEAD + chunked(EVENTS))
        assert parser.complete
        return parser

    assert garbage_after(finished) == 0


def test_an_abandoned_response_closed_leaves_nothing_for_the_cycle_collector() -> None:
    def abandoned(*, close: bool) -> ResponseParser:
        parser = ResponseParser()
        parser.feed(SSE_HEAD + b"5\r\nhel")
        if close:
            parser.close()
        return parser

    assert garbage_after(lambda: abandoned(close=True)) == 0
    # the check can tell: without close() llhttp and its callbacks keep each other alive
    assert garbage_after(lambda: abandoned(close=False)) > 0


AUTH_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-actual-status-code: 401\r\n"
    b"Set-Cookie: token=new; Path=/\r\nSet-Cookie: refresh_token=rt2; HttpOnly\r\n"
    b"Content-Length: 2\r\n\r\n{}"
)


@given(st.lists(st.integers(min_value=0, max_value=len(AUTH_ANSWER)), max_size=8))
def test_the_real_status_and_the_cookies_set_are_read_in_any_split(cuts: list[int]) -> None:
    parser, body = feed_split(AUTH_ANSWER, cuts)
    assert (parser.status, parser.actual_status, body) == (200, 401, b"{}")
    assert parser.set_cookies == ("token=new; Path=/", "refresh_token=rt2; HttpOnly")


def test_an_answer_without_those_headers_names_no_real_status_and_sets_no_cookie() -> None:
    parser, _ = feed_split(b"HTTP/1.1 200 OK\r\nx-actual-status-code: soon\r\n\r\n", [])
    assert (parser.actual_status, parser.set_cookies) == (0, ())
