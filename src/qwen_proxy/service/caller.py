"""Who a request is for: its tenant, its key (for limits, allowed models and usage), its tokens.

The API layer identifies the caller and sets ``CALLER`` for the request's task; the service
reads it where every face passes (``CompletionService.open`` checks the model, a reply's end
counts its tokens), so no face has to carry it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from qwen_proxy.errors import ModelNotFound
from qwen_proxy.keys import ClientKey, UsageDelta
from qwen_proxy.qwen.events import Usage
from qwen_proxy.service.metrics import TOKENS

#: the metrics label of requests made with a QWEN_PROXY_API_KEYS key, and without client keys
ENV_KEY_LABEL = "env"
LOCAL_LABEL = "local"


class UsageBook:
    """What each named key used since the last flush (the gateway adds it to the key store)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._counts: dict[str, list[float]] = {}

    def _row(self, name: str) -> list[float]:
        row = self._counts.get(name)
        if row is None:
            row = self._counts[name] = [0, 0, 0, 0.0]
        return row

    def request(self, name: str) -> None:
        """Count one request of ``name`` (and note when it was used)."""
        row = self._row(name)
        row[0] += 1
        row[3] = self._clock()

    def tokens(self, name: str, input_tokens: int, output_tokens: int) -> None:
        """Count the tokens of one reply."""
        row = self._row(name)
        row[1] += input_tokens
        row[2] += output_tokens

    def take(self) -> dict[str, UsageDelta]:
        """The counts so far, which the book then forgets."""
        counts, self._counts = self._counts, {}
        return {
            name: UsageDelta(int(row[0]), int(row[1]), int(row[2]), row[3])
            for name, row in counts.items()
        }


@dataclass(slots=True, eq=False)
class Caller:
    """The identity a request runs under (one per request for a named key)."""

    tenant: str
    #: the ``key`` label of metrics: a named key's name, "env" or "local"
    label: str
    #: the named key (None for QWEN_PROXY_API_KEYS keys and without client keys)
    key: ClientKey | None = None
    #: where a named key's usage is counted
    book: UsageBook | None = None
    #: tokens this request's reply used (a key with a TPM adds them to its minute)
    tokens: int = 0


CALLER: ContextVar[Caller | None] = ContextVar("qwen_proxy_caller", default=None)


def check_model(model: str) -> None:
    """Refuse a model outside the caller's key's list, as OpenAI answers an unknown model."""
    caller = CALLER.get()
    if caller is not None and caller.key is not None and not caller.key.allows_model(model):
        raise ModelNotFound(
            f"The model '{model}' does not exist or you do not have access to it.",
            param="model",
        )


def count_reply_usage(usage: Usage | None) -> None:
    """Count a finished (or given-up) reply's tokens for its caller: metrics, usage, TPM."""
    if usage is None:
        return
    caller = CALLER.get()
    label = caller.label if caller is not None else LOCAL_LABEL
    input_tokens, output_tokens = usage.input_tokens, usage.output_tokens
    if input_tokens:
        TOKENS.labels(label, "input").inc(input_tokens)
    if output_tokens:
        TOKENS.labels(label, "output").inc(output_tokens)
    if caller is not None and caller.key is not None:
        caller.tokens += input_tokens + output_tokens
        if caller.book is not None:
            caller.book.tokens(caller.key.name, input_tokens, output_tokens)
