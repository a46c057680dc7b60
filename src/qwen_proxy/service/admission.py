"""Admitting a named key's request under its limits, and the ``x-ratelimit-*`` headers.

Face-neutral: a refusal is ``KeyRateLimited`` (a 429 ``rate_limit_exceeded`` with Retry-After),
which each face renders in its own error shape; the headers go on whatever response follows.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from qwen_proxy.errors import GatewayError, RateLimited
from qwen_proxy.keys import Admission, ClientKey, RateLimiter
from qwen_proxy.service.caller import Caller

log = logging.getLogger("qwen_proxy.service.admission")

Headers = list[tuple[bytes, bytes]]

#: Retry-After for a key at its concurrency limit (no slot frees at a known time)
CONCURRENCY_RETRY_AFTER = 1.0


class KeyRateLimited(RateLimited):
    """A client key met one of its own limits (not the upstream's)."""

    code = "rate_limit_exceeded"
    should_retry = True

    def __init__(self, message: str, *, retry_after: float, headers: Headers) -> None:
        super().__init__(message, retry_after=retry_after)
        #: the key's ``x-ratelimit-*`` headers, for the response that renders this error
        self.headers = headers


def format_reset(seconds: float) -> str:
    """A wait as OpenAI writes it in ``x-ratelimit-reset-*``: ``250ms``, ``12.5s``, ``1m0s``."""
    if seconds < 1:
        return f"{max(1, math.ceil(seconds * 1000))}ms"
    if seconds < 60:
        return f"{round(seconds, 1):g}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest}s"


def ratelimit_headers(key: ClientKey, admission: Admission) -> Headers:
    """The requests trio when the key has an RPM, the tokens trio when it has a TPM."""
    headers: Headers = []
    reset = format_reset(admission.reset).encode()
    if key.rpm is not None:
        remaining = max(0, key.rpm - admission.requests)
        headers += [
            (b"x-ratelimit-limit-requests", str(key.rpm).encode()),
            (b"x-ratelimit-remaining-requests", str(remaining).encode()),
            (b"x-ratelimit-reset-requests", reset),
        ]
    if key.tpm is not None:
        remaining = max(0, key.tpm - admission.tokens)
        headers += [
            (b"x-ratelimit-limit-tokens", str(key.tpm).encode()),
            (b"x-ratelimit-remaining-tokens", str(remaining).encode()),
            (b"x-ratelimit-reset-tokens", reset),
        ]
    return headers


def refusal(key: ClientKey, admission: Admission) -> KeyRateLimited:
    """The error for a refused admission, naming the limit and when to retry."""
    headers = ratelimit_headers(key, admission)
    if admission.exceeded == "concurrency":
        return KeyRateLimited(
            f"Too many concurrent requests for key '{key.name}' (limit {key.concurrency}). "
            "Retry when one of them has finished.",
            retry_after=CONCURRENCY_RETRY_AFTER,
            headers=headers,
        )
    if admission.exceeded == "tokens":
        what = f"tokens per minute (limit {key.tpm}, used {admission.tokens})"
    else:
        what = f"requests per minute (limit {key.rpm})"
    return KeyRateLimited(
        f"Rate limit reached for key '{key.name}' on {what}. "
        f"Please try again in {format_reset(admission.reset)}.",
        retry_after=admission.reset,
        headers=headers,
    )


class Gate:
    """Admits and releases the requests of limited keys through a ``RateLimiter``."""

    def __init__(self, limiter: RateLimiter, clock: Callable[[], float] = time.time) -> None:
        self.limiter = limiter
        self._clock = clock

    async def admit(self, caller: Caller) -> tuple[Admission, Headers]:
        """Count the request and return its headers, or raise ``KeyRateLimited``."""
        key = caller.key
        assert key is not None, "only a named key is admitted"
        admission = await self.limiter.admit(key, self._clock())
        if not admission.admitted:
            raise refusal(key, admission)
        return admission, ratelimit_headers(key, admission)

    async def release(self, caller: Caller, admission: Admission) -> None:
        """The request is over: free its slot, add its reply's tokens (a store fault is logged)."""
        key = caller.key
        assert key is not None
        try:
            await self.limiter.release(key, admission.lease, caller.tokens, self._clock())
        except GatewayError as error:
            # the answer was delivered; a lost count only errs in the key's favour
            log.warning("could not release a request of key %s: %s", key.name, error.message)
