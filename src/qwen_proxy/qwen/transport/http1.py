"""HTTP/1.1 responses as bytes in, head and body out: a sans-IO parser (h11's idea).

The upstream wire feeds it whatever the socket gave; it returns the decoded body bytes and
fills in the head once complete. It knows what a client of one well-behaved upstream needs:
status line and headers (1xx interim answers skipped), bodies framed by chunked encoding,
``Content-Length`` or the connection's end, and whether the connection may be reused. Kept
small on purpose: an open completion stream holds one, for minutes (httptools' parser object
is ~800 B per stream; this one is a few slots).
"""

from __future__ import annotations

#: the largest response head accepted (status line plus headers)
MAX_HEAD = 64 * 1024
#: the longest chunk-size or trailer line accepted
MAX_LINE = 4096

_HEX_DIGITS = b"0123456789abcdefABCDEF"
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _TO_EOF, _DONE = range(8)


class ProtocolError(Exception):
    """The bytes are not a valid HTTP/1.1 response (the message says what broke)."""


class ResponseParser:
    """Parses one response; ``feed`` returns body bytes, the head fills the attributes."""

    __slots__ = (
        "_pending",
        "_remaining",
        "_state",
        "content_encoding",
        "content_type",
        "keep_alive",
        "status",
    )

    def __init__(self) -> None:
        self._state = _HEAD
        self._pending = b""
        self._remaining = 0
        self.status = 0
        self.content_type = ""
        self.content_encoding = ""
        self.keep_alive = False

    @property
    def head_done(self) -> bool:
        """Status and headers are in."""
        return self._state != _HEAD

    @property
    def complete(self) -> bool:
        """The whole response is in (a body read to EOF completes with ``eof()``)."""
        return self._state == _DONE

    @property
    def reads_to_eof(self) -> bool:
        """The body ends when the connection does (no length, not chunked)."""
        return self._state == _TO_EOF

    def eof(self) -> None:
        """The connection ended: fine for a body read to EOF, an error anywhere else."""
        if self._state == _TO_EOF:
            self._state = _DONE
        elif self._state != _DONE:
            raise ProtocolError("the connection ended in the middle of the response")

    def feed(self, data: bytes) -> bytes:
        """Take the next bytes from the socket; return the body bytes they complete."""
        if self._pending:
            data = self._pending + data
            self._pending = b""
        out: list[bytes] = []
        pos = 0
        end = len(data)
        while pos < end:
            state = self._state
            if state in (_CHUNK_DATA, _LENGTH):
                take = min(self._remaining, end - pos)
                out.append(data if take == end and pos == 0 else data[pos : pos + take])
                pos += take
                self._remaining -= take
                if not self._remaining:
                    self._state = _CHUNK_END if state == _CHUNK_DATA else _DONE
            elif state in (_CHUNK_SIZE, _TRAILERS, _CHUNK_END):
                line_end = data.find(b"\r\n", pos)
                if line_end < 0:
                    if end - pos > MAX_LINE:
                        raise ProtocolError("a chunk-size line is too long")
                    self._pending = data[pos:]
                    break
                line = data[pos:line_end]
                pos = line_end + 2
                if state == _CHUNK_END:
                    if line:
                        raise ProtocolError("a chunk is longer than its size says")
                    self._state = _CHUNK_SIZE
                elif state == _TRAILERS:
                    if not line:
                        self._state = _DONE
                else:
                    size = _chunk_size(line)
                    if size:
                        self._remaining = size
                        self._state = _CHUNK_DATA
                    else:
                        self._state = _TRAILERS
            elif state == _TO_EOF:
                out.append(data if pos == 0 else data[pos:])
                pos = end
            elif state == _HEAD:
                head_end = data.find(b"\r\n\r\n", pos)
                if head_end < 0:
                    if end - pos > MAX_HEAD:
                        raise ProtocolError("the response head is too large")
                    self._pending = data[pos:]
                    break
                self._head(data[pos:head_end])
                pos = head_end + 4
            else:  # _DONE
                raise ProtocolError("bytes after the end of the response")
        if not out:
            return b""
        return out[0] if len(out) == 1 else b"".join(out)

    def _head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        version, status = _status_line(lines[0])
        if 100 <= status < 200:
            return  # an interim answer (100 Continue, 103 Early Hints): the real one follows
        self.status = status
        connection = b""
        chunked = False
        length: int | None = None
        for raw in lines[1:]:
            name, sep, value = raw.partition(b":")
            if not sep or not name or name != name.strip():
                raise ProtocolError("a response header line is malformed")
            key = name.lower()
            value = value.strip()
            if key == b"content-type":
                self.content_type = value.decode("latin-1")
            elif key == b"content-encoding":
                self.content_encoding = value.decode("latin-1").lower()
            elif key == b"transfer-encoding":
                chunked = value.lower().endswith(b"chunked")
            elif key == b"content-length":
                if not value.isdigit() or (length is not None and int(value) != length):
                    raise ProtocolError("the response's Content-Length is invalid")
                length = int(value)
            elif key == b"connection":
                connection = value.lower()
        if version == b"HTTP/1.1":
            self.keep_alive = b"close" not in connection
        else:
            self.keep_alive = b"keep-alive" in connection
        if status in (204, 304):
            self._state = _DONE
        elif chunked:
            self._state = _CHUNK_SIZE
        elif length is not None:
            self._remaining = length
            self._state = _LENGTH if length else _DONE
        else:
            self._state = _TO_EOF
            self.keep_alive = False


def _status_line(line: bytes) -> tuple[bytes, int]:
    version, _, rest = line.partition(b" ")
    code = rest[:3]
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
        raise ProtocolError("the response's status line is malformed")
    return version, int(code)


def _chunk_size(line: bytes) -> int:
    digits = line.split(b";", 1)[0].strip()  # chunk extensions are allowed and ignored
    if not digits or len(digits) > 16 or digits.strip(_HEX_DIGITS):
        raise ProtocolError("a chunk size is not a hex number")
    return int(digits, 16)
