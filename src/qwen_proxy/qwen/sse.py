"""Split raw SSE bytes into ``data:`` payloads, one per complete line (sans-IO).

Qwen never splits a JSON object over several ``data:`` lines, so each data line is dispatched
as soon as its line end arrives instead of waiting for the blank line that ends the event: the
client sees every token one round of parsing sooner.
"""

from __future__ import annotations


class SSELineDecoder:
    """Feed bytes in any split; get back the payload of each complete ``data:`` line."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        """Payloads of the ``data:`` lines completed by ``data`` (stripped, never empty)."""
        if b"\r" in data:
            # A lone trailing "\r" already ends its line; if "\n" follows in the next feed it
            # only makes an empty line, which is ignored, so normalising per feed is safe.
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = data.rfind(b"\n")
        if end < 0:
            self._buffer += data
            return []
        block = self._buffer + data[:end] if self._buffer else data[:end]
        self._buffer = data[end + 1 :]
        return _payloads(block.split(b"\n"))

    def close(self) -> list[bytes]:
        """Payload of a final line that had no line end (at EOF); resets the decoder."""
        rest, self._buffer = self._buffer, b""
        return _payloads([rest]) if rest else []


def _payloads(lines: list[bytes]) -> list[bytes]:
    out = []
    for line in lines:
        if line[:5] == b"data:":
            payload = line[5:].strip()
            if payload:
                out.append(payload)
    return out
