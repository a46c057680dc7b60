"""One upstream connection and the response currently on it (an asyncio protocol).

A completion stream may stay open for minutes, so what it holds matters: aiohttp kept about
10 KB per open response (its C parser's header lists, three deques, a read timer re-armed on
every read); an open stream here is the transport, one slotted ``WireResponse`` and its
``http1.ResponseParser`` (llhttp underneath). It decodes gzip/deflate bodies, pauses reading
while the consumer is behind, and turns a broken connection or a quiet upstream into the
classified errors.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import TYPE_CHECKING, cast

from qwen_proxy.qwen.errors import UpstreamConnectionError, UpstreamTimeout
from qwen_proxy.qwen.transport.base import READ_ALL_LIMIT
from qwen_proxy.qwen.transport.endpoint import Endpoint
from qwen_proxy.qwen.transport.http1 import ProtocolError, ResponseParser

if TYPE_CHECKING:
    from qwen_proxy.qwen.transport.wire import WirePool

#: reading pauses while this much of a body waits for the consumer
HIGH_WATER = 256 * 1024
#: a compressed body is decoded this much at a time: a small bomb cannot allocate at once, and
#: parsing one piece of it holds the event loop only briefly
DECODE_PIECE = 64 * 1024
#: the most a compressed body may decode to (a reply's text is a few MB at the very most)
MAX_DECODED = 64 * 1024 * 1024


class WireResponse(asyncio.Protocol):
    """One connection and the response currently on it: status, content type, the real status
    and cookies when the upstream names them, body bytes."""

    __slots__ = (
        "_body_ended",
        "_chunks",
        "_complete",
        "_compressed",
        "_decoded",
        "_decoder",
        "_error",
        "_headers_done",
        "_idle",
        "_last_read",
        "_loop",
        "_parser",
        "_paused",
        "_pool",
        "_size",
        "_waiter",
        "actual_status",
        "content_type",
        "endpoint",
        "received",
        "set_cookies",
        "status",
        "transport",
    )

    def __init__(self, endpoint: Endpoint, idle_timeout: float, pool: WirePool) -> None:
        self._loop = asyncio.get_running_loop()
        self._pool = pool
        self.endpoint = endpoint
        self._idle = idle_timeout
        self.transport: asyncio.Transport | None = None
        self._parser: ResponseParser | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._error: Exception | None = None
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.content_type = ""
        self.actual_status = 0
        self.set_cookies: tuple[str, ...] = ()
        self.received = False
        self._headers_done = False
        self._complete = False
        self._decoder: zlib._Decompress | None = None
        #: compressed input not decoded yet (it waits for the consumer) and output so far
        self._compressed = b""
        self._decoded = 0
        #: the parser saw the body's end while compressed input still waited
        self._body_ended = False
        self._chunks: list[bytes] = []
        self._size = 0
        self._paused = False
        self._last_read = self._loop.time()

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._last_read = self._loop.time()
        self.received = True
        parser = self._parser
        if parser is None or self._complete:
            self._fail(UpstreamConnectionError("The upstream sent bytes nobody asked for."))
            return
        try:
            body = parser.feed(data)
        except ProtocolError as exc:
            self._fail(UpstreamConnectionError(f"The upstream's HTTP answer is malformed ({exc})."))
            return
        if not self._headers_done and parser.head_done:
            self._head_done(parser)
        if body:
            self._body(body)
        if parser.complete and self._error is None:
            self._finish()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._complete or self._error is not None:
            return
        parser = self._parser
        if parser is not None and parser.reads_to_eof and exc is None:
            parser.eof()
            self._finish()  # a body delimited by the connection's end
            return
        self._fail(
            UpstreamConnectionError("The connection to the upstream broke during the reply.")
            if self._headers_done
            else UpstreamConnectionError("The upstream closed the connection without answering."),
            close=False,
        )

    def pause_writing(self) -> None:  # requests are small: nothing waits on writes
        pass

    def resume_writing(self) -> None:
        pass

    # -- what the parser found ----------------------------------------------------------------

    def _head_done(self, parser: ResponseParser) -> None:
        self.status = parser.status
        self.content_type = parser.content_type
        self.actual_status = parser.actual_status
        self.set_cookies = parser.set_cookies
        if parser.content_encoding == "gzip":
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif parser.content_encoding == "deflate":
            self._decoder = zlib.decompressobj()
        self._headers_done = True
        self._wake()

    def _body(self, body: bytes) -> None:
        if self._decoder is not None:
            self._inflate(body)
            return
        self._append(body)

    def _inflate(self, data: bytes) -> None:
        """Decode at most DECODE_PIECE of output; what input is left waits for the consumer."""
        decoder = self._decoder
        assert decoder is not None
        if self._compressed:
            data, self._compressed = self._compressed + data, b""
        try:
            out = decoder.decompress(data, DECODE_PIECE)
        except zlib.error:
            self._fail(UpstreamConnectionError("The upstream's compressed body is corrupt."))
            return
        self._compressed = decoder.unconsumed_tail
        if out:
            # output decoded from input already received is the upstream still answering:
            # the idle watch must not take a long decode for a silent upstream
            self._last_read = self._loop.time()
            self._decoded += len(out)
            if self._decoded > MAX_DECODED:
                self._fail(
                    UpstreamConnectionError(
                        f"The upstream's compressed body decodes to more than "
                        f"{MAX_DECODED >> 20} MiB; the reply was abandoned."
                    )
                )
                return
            self._append(out)
        if self._compressed and not self._paused and self.transport is not None:
            self._paused = True  # the consumer takes this output before more is decoded
            self.transport.pause_reading()

    def _append(self, body: bytes) -> None:
        self._chunks.append(body)
        self._size += len(body)
        if self._size > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    # -- the caller's side --------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Write one request; the next response is parsed fresh."""
        if self.transport is None or self.transport.is_closing():
            raise UpstreamConnectionError("The connection to the upstream is closed.")
        if self._paused:  # the last reply was given back unread while reading was paused
            self.transport.resume_reading()
        self._reset()
        self._parser = ResponseParser()
        self.transport.write(data)

    async def headers(self) -> None:
        """Wait for the response's status and headers (the caller bounds the wait)."""
        while not self._headers_done:
            if self._error is not None:
                raise self._error
            await self._wait()

    async def read(self) -> bytes:
        """The body's next bytes as they arrive; ``b""`` at its end.

        Raises ``UpstreamTimeout`` after ``idle_timeout`` seconds without a byte and
        ``UpstreamConnectionError`` when the connection breaks before the body's end.
        """
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._compressed:
                # decoding on demand never waits for the network: let other work run
                # between pieces, or a highly compressed body would hold the loop
                await asyncio.sleep(0)
                self._inflate(b"")
                continue
            if self._body_ended:
                self._body_ended = False
                self._finish()
                continue
            if self._complete:
                return b""
            await self._wait()
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = []
        self._size = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    async def read_all(self, limit: int = READ_ALL_LIMIT) -> bytes:
        """The rest of the body (at most ``limit`` bytes; an error answer is small)."""
        parts: list[bytes] = []
        size = 0
        while size < limit and (data := await self.read()):
            parts.append(data)
            size += len(data)
        return b"".join(parts)[:limit]

    def release(self) -> None:
        """Give the connection back to its pool (kept for another call only when reusable)."""
        self._pool.release(self)

    @property
    def reusable(self) -> bool:
        """The response was read to its end and the connection may carry another."""
        return (
            self._complete
            and self._error is None
            and self.transport is not None
            and not self.transport.is_closing()
            and self._parser is not None
            and self._parser.keep_alive
        )

    @property
    def reading(self) -> bool:
        """A body is still on its way (what the idle watch looks after)."""
        return self._headers_done and not self._complete and self._error is None

    def check_idle(self, now: float) -> None:
        """Fail the read if nothing arrived for ``idle_timeout`` seconds (called by the pool)."""
        if self._paused:  # the consumer is behind, not the upstream
            self._last_read = now
        elif now - self._last_read >= self._idle:
            self._fail(
                UpstreamTimeout(
                    "The upstream stopped sending in the middle of the reply (idle timeout)."
                )
            )

    def abort(self) -> None:
        """Drop the connection now (a reply not read to its end cannot be reused)."""
        if self.transport is not None:
            self.transport.abort()
            self.transport = None
        if self._parser is not None:
            self._parser.close()
            self._parser = None

    # -- internals ----------------------------------------------------------------------------

    async def _wait(self) -> None:
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _finish(self) -> None:
        if self._compressed:
            self._body_ended = True  # read() decodes the rest, then finishes
            self._wake()
            return
        decoder = self._decoder
        if decoder is not None:
            self._decoder = None
            tail = decoder.flush()
            if tail:
                self._chunks.append(tail)
            if not decoder.eof:
                self._fail(UpstreamConnectionError("The upstream's compressed body ends early."))
                return
        self._complete = True
        self._wake()

    def _fail(self, error: Exception, *, close: bool = True) -> None:
        if self._error is None:
            self._error = error
        if close and self.transport is not None:
            self.transport.abort()
            self.transport = None
        self._wake()
