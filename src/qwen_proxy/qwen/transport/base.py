"""What the upstream client needs of a transport (as httpx's ``BaseTransport``).

A transport sends one request, whole (head and body as bytes, built by the client), and returns
the response once its headers are in; the body is read as it arrives; ``release()`` gives the
response back. ``WirePool`` (``wire.py``) is the real one, over sockets; ``MockTransport``
(``mock.py``) answers from a function, in memory.

A response keeps only the headers the client reads (its content type, ``x-actual-status-code``,
``Set-Cookie``): an open completion stream holds one for minutes, and a whole header list would
stay with it.
"""

from __future__ import annotations

from typing import Protocol

from qwen_proxy.qwen.transport.endpoint import Endpoint

#: what ``read_all`` reads at most unless told (an error answer is small)
READ_ALL_LIMIT = 1 << 20


class UpstreamResponse(Protocol):
    """One response: status and content type once the headers are in, then the body."""

    @property
    def status(self) -> int: ...

    @property
    def content_type(self) -> str: ...

    @property
    def actual_status(self) -> int:
        """The status the upstream names in ``x-actual-status-code`` (0: not named)."""
        ...

    @property
    def set_cookies(self) -> tuple[str, ...]:
        """The ``Set-Cookie`` header values, in order."""
        ...

    async def read(self) -> bytes:
        """The body's next bytes as they arrive (decoded), ``b""`` at its end.

        Raises ``UpstreamTimeout`` when the upstream goes quiet and ``UpstreamConnectionError``
        when the connection breaks before the body's end.
        """
        ...

    async def read_all(self, limit: int = READ_ALL_LIMIT) -> bytes:
        """The rest of the body, at most ``limit`` bytes."""
        ...

    def release(self) -> None:
        """Give the response back: its connection is kept for another call when the body was
        read to its end, else dropped. Call it exactly once, whatever happened."""
        ...


class Transport(Protocol):
    """Sends requests to the upstream (``QwenClient`` takes one)."""

    async def request(self, endpoint: Endpoint, message: bytes) -> UpstreamResponse:
        """Send ``message`` (one whole HTTP/1.1 request) to ``endpoint``; return its response
        once the status and headers are in. Raises ``UpstreamConnectionError`` or
        ``UpstreamTimeout`` when no answer can be had (the caller bounds the wait)."""
        ...

    def close(self) -> None:
        """Drop idle connections and stop background work (the transport stays usable)."""
        ...
