"""HTTP/1.1 responses as bytes in, head and body out: llhttp (``httptools``) behind a sans-IO face.

The upstream wire feeds it whatever the socket gave; it returns the body bytes those complete
and fills in the head once it is in. llhttp does the grammar (status line, header syntax,
framing by chunked encoding or ``Content-Length``, conflicting framing refused); this module
adds what one client of one upstream needs on top: interim 1xx answers skipped, a body that
ends with the connection finished by ``eof()``, a cap on the head's size (llhttp has none),
bytes after the response refused, and the few header values the client reads: the content
type, the real status the upstream names in ``x-actual-status-code`` when it answers an error
with a 200, and the cookies it sets (the auth host renews a session that way).

An open completion stream holds one of these for minutes: slotted, and its llhttp parser (which
holds this object's callbacks, a reference cycle) is dropped once the response is complete or
``close()``\\ d, so an abandoned one is freed without waiting for the cycle collector.
"""

from __future__ import annotations

import httptools

#: the largest response head accepted (status line plus headers, interim answers included)
MAX_HEAD = 64 * 1024


class ProtocolError(Exception):
    """The bytes are not a valid HTTP/1.1 response (the message says what broke)."""


class _AfterEnd(Exception):
    """Raised from a parser callback: a second response began after this one ended."""


class ResponseParser:
    """Parses one response; ``feed`` returns body bytes, the head fills the attributes."""

    __slots__ = (
        "_body",
        "_chunked",
        "_complete",
        "_head_bytes",
        "_head_done",
        "_interim",
        "_length",
        "_parser",
        "actual_status",
        "content_encoding",
        "content_type",
        "keep_alive",
        "set_cookies",
        "status",
    )

    def __init__(self) -> None:
        self._parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        # the body bytes of the current feed: none, one piece, or several (no list kept between)
        self._body: bytes | list[bytes] | None = None
        self._head_bytes = 0
        self._head_done = False
        self._complete = False
        self._interim = False
        self._chunked = False
        self._length = False
        self.status = 0
        self.content_type = ""
        self.content_encoding = ""
        self.keep_alive = False
        #: the status named by ``x-actual-status-code`` (0 when the header is absent)
        self.actual_status = 0
        #: the ``Set-Cookie`` values, in order (the shared empty tuple when there are none)
        self.set_cookies: tuple[str, ...] = ()

    @property
    def head_done(self) -> bool:
        """Status and headers of the final (non-1xx) answer are in."""
        return self._head_done

    @property
    def complete(self) -> bool:
        """The whole response is in (a body read to EOF completes with ``eof()``)."""
        return self._complete

    @property
    def reads_to_eof(self) -> bool:
        """The body ends when the connection does (neither a length nor chunked)."""
        return self._head_done and not self._complete and not (self._chunked or self._length)

    def eof(self) -> None:
        """The connection ended: fine for a body read to EOF, an error anywhere else."""
        if self.reads_to_eof:
            self._complete = True
            self._parser = None
        elif not self._complete:
            self.close()
            raise ProtocolError("the connection ended in the middle of the response")

    def close(self) -> None:
        """Drop the llhttp parser (the response is abandoned; further bytes are refused)."""
        self._parser = None

    def feed(self, data: bytes) -> bytes:
        """Take the next bytes from the socket; return the body bytes they complete."""
        if not data:
            return b""
        parser = self._parser  # held for the call: llhttp must outlive its own callbacks
        if parser is None:
            raise ProtocolError("bytes after the end of the response")
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._parser = None
            raise ProtocolError("the upstream switched protocols") from None
        except httptools.HttpParserError as exc:
            self._parser = None
            if isinstance(exc.__context__, _AfterEnd):
                raise ProtocolError("bytes after the end of the response") from None
            raise ProtocolError(str(exc) or type(exc).__name__) from None
        if not self._head_done:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self._parser = None
                raise ProtocolError("the response head is too large")
        if self._complete:
            self._parser = None  # breaks the cycle through llhttp's callbacks
        body = self._body
        if body is None:
            return b""
        self._body = None
        return body if isinstance(body, bytes) else b"".join(body)

    # -- llhttp callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:
            raise _AfterEnd
        # a new answer after an interim one: nothing of the interim one's headers carries over
        self.content_type = ""
        self.content_encoding = ""
        self.actual_status = 0
        self.set_cookies = ()
        self._chunked = False
        self._length = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._head_done:
            return  # a trailer after a chunked body: not part of the head
        key = name.lower()
        if key == b"content-type":
            self.content_type = value.strip().decode("latin-1")
        elif key == b"content-encoding":
            self.content_encoding = value.strip().decode("latin-1").lower()
        elif key == b"transfer-encoding":
            # what llhttp frames the body by: chunked only as the last coding of the last line
            self._chunked = value.rsplit(b",", 1)[-1].strip().lower() == b"chunked"
        elif key == b"content-length":
            self._length = True
        elif key == b"x-actual-status-code":
            self.actual_status = _status_number(value)
        elif key == b"set-cookie":
            self.set_cookies = (*self.set_cookies, value.strip().decode("latin-1"))

    def on_headers_complete(self) -> None:
        parser = self._parser
        assert parser is not None
        status = parser.get_status_code()
        if 100 <= status < 200:
            self._interim = True  # 100 Continue, 103 Early Hints: the real answer follows
            return
        self.status = status
        # asked here: llhttp resets its flags once the message is complete
        self.keep_alive = parser.should_keep_alive()
        self._head_done = True

    def on_body(self, body: bytes) -> None:
        held = self._body
        if held is None:
            self._body = body
        elif isinstance(held, bytes):
            self._body = [held, body]
        else:
            held.append(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
        else:
            self._complete = True


def _status_number(value: bytes) -> int:
    """An HTTP status written in a header, or 0 when it is not one."""
    text = value.strip()
    return int(text) if text.isdigit() and len(text) == 3 else 0
