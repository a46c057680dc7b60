"""What the completion service needs of the upstream client: the seam tests fake.

``qwen.client.QwenClient`` satisfies it; so does an in-memory fake that feeds the real stream
parser, which lets planning, retries and recording run without a socket.
"""

from __future__ import annotations

from typing import Any, Protocol

from qwen_proxy.accounts import Credentials
from qwen_proxy.qwen.events import Event
from qwen_proxy.qwen.stream import QwenStreamParser


class ReplyStream(Protocol):
    """An open completion stream (``qwen.client.UpstreamStream``)."""

    @property
    def parser(self) -> QwenStreamParser:
        """The stream's parser: ids, usage and whether content or the finish arrived."""
        ...

    def close(self) -> None:
        """Give the connection back (the stream is done with, however it went)."""
        ...

    async def next_batch(self) -> list[Event] | None:
        """The next events as bytes arrive; None once the answer finished or at EOF."""
        ...


class Upstream(Protocol):
    """The two upstream calls one completion makes."""

    async def create_chat(self, cred: Credentials, model: str, *, chat_type: str) -> str:
        """Open a new chat for ``model`` and return its id."""
        ...

    async def open_completion(
        self, cred: Credentials, chat_id: str, body: dict[str, Any]
    ) -> ReplyStream:
        """POST one turn and return its open stream (errors before the stream are raised)."""
        ...
