"""Split raw SSE bytes into ``data:`` payloads, one per complete line (sans-IO).

Qwen never splits a JSON object over several ``data:`` lines, so each data line is dispatched
as soon as its line end arrives instead of waiting for the blank line that ends the event: the
client sees every token one round of parsing sooner.

A line is bounded (``max_line``): an upstream that sends one endless line would otherwise grow
the buffer without limit. Bytes of an unfinished line are kept as a list of pieces and joined
once, when the line ends, so buffering costs linear time whatever the split.
"""

from __future__ import annotations

#: the longest line accepted: reply events are a few KB, search results a few tens of KB
MAX_LINE_BYTES = 4 * 1024 * 1024


class LineTooLong(ValueError):
    """A line grew past the decoder's limit; the stream cannot be trusted further."""


class SSELineDecoder:
    """Feed bytes in any split; get back the payload of each complete ``data:`` line (and each
    bare JSON line, which the upstream writes when an error interrupts a stream)."""

    __slots__ = ("_max_line", "_pending", "_pending_bytes")

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self._max_line = max_line
        #: pieces of the line that has not ended yet (None when there are none)
        self._pending: list[bytes] | None = None
        self._pending_bytes = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Payloads of the ``data:`` lines completed by ``data`` (stripped, never empty).

        Raises LineTooLong once a line exceeds the limit.
        """
        if b"\r" in data:
            # A lone trailing "\r" already ends its line; if "\n" follows in the next feed it
            # only makes an empty line, which is ignored, so normalising per feed is safe.
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = data.rfind(b"\n")
        if end < 0:
            self._hold(data)
            return []
        pending = self._pending
        if pending is not None:
            first_end = data.find(b"\n")
            if self._pending_bytes + first_end > self._max_line:
                raise LineTooLong(self._max_line)
            pending.append(data[:end])
            block = b"".join(pending)
            self._pending = None
            self._pending_bytes = 0
        else:
            block = data[:end]
        rest = data[end + 1 :]
        if rest:
            self._hold(rest)
        if b"data:" not in block and b"{" not in block:
            # nothing to read in it (keep-alive comments, blank lines): no line-by-line pass, so
            # a flood of them costs a scan in C, not a Python loop per line
            if len(block) > self._max_line and max(map(len, block.split(b"\n"))) > self._max_line:
                raise LineTooLong(self._max_line)
            return []
        lines = block.split(b"\n")
        if len(block) > self._max_line and max(map(len, lines)) > self._max_line:
            raise LineTooLong(self._max_line)
        return _payloads(lines)

    def close(self) -> list[bytes]:
        """Payload of a final line that had no line end (at EOF); resets the decoder."""
        pending, self._pending, self._pending_bytes = self._pending, None, 0
        return _payloads([b"".join(pending)]) if pending else []

    def _hold(self, piece: bytes) -> None:
        size = self._pending_bytes + len(piece)
        if size > self._max_line:
            raise LineTooLong(self._max_line)
        if self._pending is None:
            self._pending = [piece]
        else:
            self._pending.append(piece)
        self._pending_bytes = size


def _payloads(lines: list[bytes]) -> list[bytes]:
    out = []
    for line in lines:
        if line[:5] == b"data:":
            payload = line[5:].strip()
            if payload:
                out.append(payload)
        elif line[:1] == b"{":
            # a bare JSON line is no SSE field: an error (a challenge) written into the stream
            out.append(line.strip())
    return out
