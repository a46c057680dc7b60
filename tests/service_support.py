"""Helpers (no tests): an in-memory upstream for the completion service, and a service over it.

``FakeUpstream`` has the two ``QwenClient`` methods the service calls (``create_chat`` and
``open_completion``). Its streams feed real Qwen SSE bytes to the real stream parser, so the
service reads them exactly as it reads the network, without a socket. Each call takes the next
scripted step (an answer, an empty reply, an error); with none scripted it answers "ok".
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from accounts_support import pool_on
from qwen_proxy.accounts import AccountPool, ManualClock
from qwen_proxy.config import Settings
from qwen_proxy.conversations.memory import MemoryStore
from qwen_proxy.qwen.errors import UpstreamError
from qwen_proxy.qwen.events import Event
from qwen_proxy.qwen.stream import QwenStreamParser
from qwen_proxy.service.models import ModelCatalog

MODEL = "qwen3-max"

MODELS: list[dict[str, Any]] = [
    {"id": MODEL, "name": "Qwen3-Max", "info": {"meta": {"capabilities": {"thinking": True}}}},
]


def sse(obj: dict[str, Any]) -> bytes:
    """One SSE event of the upstream's stream."""
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def created(chat_id: str, parent_id: str | None, response_id: str) -> bytes:
    """The stream's first event: the ids of this turn."""
    ids = {"chat_id": chat_id, "parent_id": parent_id, "response_id": response_id}
    return sse({"response.created": ids})


def answer(text: str, status: str = "typing") -> bytes:
    """An answer delta (``status="finished"`` ends the reply)."""
    delta = {"role": "assistant", "content": text, "phase": "answer", "status": status}
    return sse({"choices": [{"delta": delta}]})


FINISHED = answer("", status="finished")


def error_envelope(code: str, details: str = "") -> bytes:
    """An error inside the stream (``data_inspection_failed``: the content filter)."""
    return sse({"error": {"code": code, "details": details}})


#: a chunk that never arrives: the stream waits there until the reader gives up
HANG = b""


@dataclass(frozen=True)
class Answer:
    """Answer ``text`` (``HANG`` after the first chunk when ``hang``)."""

    text: str = "ok"
    hang: bool = False


@dataclass(frozen=True)
class Empty:
    """The upstream finishes the reply without any content (its silent throttling)."""


@dataclass(frozen=True)
class Fail:
    """Raise ``error`` when the completion is posted (``at="new_chat"``: when the chat is)."""

    error: UpstreamError
    at: str = "completion"


@dataclass(frozen=True)
class Chunks:
    """Send these raw stream chunks after the ``response.created`` event."""

    chunks: tuple[bytes, ...]


Step = Answer | Empty | Fail | Chunks


@dataclass(frozen=True)
class Call:
    """One completion the service posted."""

    account: str
    chat_id: str
    parent_id: str | None
    content: Any
    thinking: bool


class FakeStream:
    """An open reply, read as ``qwen.client.UpstreamStream`` reads the network."""

    def __init__(self, chunks: list[bytes], hanging: asyncio.Event) -> None:
        self.parser = QwenStreamParser()
        self._chunks = deque(chunks)
        self._hanging = hanging
        self.closed = False

    def close(self) -> None:
        """Give the (pretend) connection back."""
        self.closed = True

    async def next_batch(self) -> list[Event] | None:
        """The next events; None once the answer finished or the chunks ran out (EOF)."""
        parser = self.parser
        while not parser.done:
            if not self._chunks:
                return parser.close() or None
            chunk = self._chunks.popleft()
            if chunk is HANG:
                self._hanging.set()
                await asyncio.Event().wait()
            batch = parser.feed(chunk)
            if batch:
                return batch
        return None


@dataclass
class FakeUpstream:
    """The upstream as the completion service sees it: chats, completions, scripted faults."""

    steps: deque[Step] = field(default_factory=deque)
    calls: list[Call] = field(default_factory=list)
    #: chat id -> the account that created it
    chats: dict[str, str] = field(default_factory=dict)
    streams: list[FakeStream] = field(default_factory=list)
    #: set once a reader waits on a ``HANG``
    hanging: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: int = 0

    def then(self, *steps: Step) -> FakeUpstream:
        """Script the next calls' answers, in order."""
        self.steps.extend(steps)
        return self

    def _next_id(self, kind: str) -> str:
        self._ids += 1
        return f"{kind}-{self._ids}"

    async def create_chat(self, cred: Any, model: str, *, chat_type: str = "t2t") -> str:
        """A new chat owned by ``cred``'s account (or the scripted failure)."""
        step = self.steps[0] if self.steps else None
        if isinstance(step, Fail) and step.at == "new_chat":
            self.steps.popleft()
            raise step.error
        chat_id = self._next_id("chat")
        self.chats[chat_id] = cred.name
        return chat_id

    async def open_completion(self, cred: Any, chat_id: str, body: dict[str, Any]) -> FakeStream:
        """Post one turn: the next scripted step decides the answer."""
        message = body["messages"][0]
        thinking = bool(message["feature_config"]["thinking_enabled"])
        call = Call(cred.name, chat_id, body["parent_id"], message["content"], thinking)
        self.calls.append(call)
        step = self.steps.popleft() if self.steps else Answer()
        if isinstance(step, Fail):
            raise step.error
        head = created(chat_id, body["parent_id"], self._next_id("response"))
        if isinstance(step, Empty):
            chunks = [head, FINISHED]
        elif isinstance(step, Chunks):
            chunks = [head, *step.chunks]
        elif step.hang:
            chunks = [head, answer(step.text), HANG]
        else:
            chunks = [head, answer(step.text), FINISHED]
        stream = FakeStream(chunks, self.hanging)
        self.streams.append(stream)
        return stream


class Sleeps:
    """A sleep that returns at once and remembers how long it was asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def fake_settings(**overrides: Any) -> Settings:
    """Settings for a service over the fake upstream (memory store, default retries)."""
    return Settings(store="memory", **overrides)


def service_pool(clock: ManualClock, names: str = "a", **options: Any) -> AccountPool:
    """An account pool on ``clock`` with one account per letter (token ``token-<letter>``);
    a request that finds no account is refused at once rather than waiting."""
    return pool_on(clock, names, acquire_timeout=0.0, **options)


def catalog() -> ModelCatalog:
    """A model catalog that knows ``MODEL``."""

    async def fetch() -> list[dict[str, Any]]:
        return MODELS

    return ModelCatalog(fetch, ttl=3600)


def memory_store(clock: ManualClock) -> MemoryStore:
    """A conversation store on the test's clock."""
    return MemoryStore(clock=clock.wall)
