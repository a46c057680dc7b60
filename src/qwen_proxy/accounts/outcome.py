"""What happened to one upstream request, as reported back to the account pool."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class OutcomeKind(StrEnum):
    """The kinds of answer the pool reacts to differently."""

    OK = "ok"
    #: the token was expired or rejected
    AUTH = "auth"
    #: the upstream said "too many requests" (``RateLimited``, usually with ``num`` hours)
    RATE_LIMIT = "rate_limit"
    #: a WAF / captcha page: a human must verify in a browser
    CAPTCHA = "captcha"
    #: the stream ended without any content: a soft rate limit
    EMPTY = "empty"
    #: network trouble or a 5xx
    TRANSIENT = "transient"
    #: given up by our side (the client hung up, a limit cut the reply): says nothing
    ABANDONED = "abandoned"


@dataclass(frozen=True)
class Outcome:
    """One request's result. Build it with the class methods, e.g. ``Outcome.rate_limit(7200)``."""

    kind: OutcomeKind
    #: seconds the upstream asked to wait (rate limits)
    retry_after: float | None = None
    #: the page where a human can pass the captcha
    verify_url: str | None = None

    @classmethod
    def ok(cls) -> Outcome:
        """The request succeeded."""
        return cls(OutcomeKind.OK)

    @classmethod
    def auth(cls) -> Outcome:
        """The token was expired or rejected."""
        return cls(OutcomeKind.AUTH)

    @classmethod
    def rate_limit(cls, retry_after: float | None = None) -> Outcome:
        """The account hit a rate limit; ``retry_after`` is the wait the upstream gave, if any."""
        return cls(OutcomeKind.RATE_LIMIT, retry_after=retry_after)

    @classmethod
    def captcha(cls, verify_url: str | None = None) -> Outcome:
        """The upstream wants a human verification, at ``verify_url`` when known."""
        return cls(OutcomeKind.CAPTCHA, verify_url=verify_url)

    @classmethod
    def empty(cls) -> Outcome:
        """The stream ended empty."""
        return cls(OutcomeKind.EMPTY)

    @classmethod
    def transient(cls) -> Outcome:
        """A network failure or a 5xx."""
        return cls(OutcomeKind.TRANSIENT)

    @classmethod
    def abandoned(cls) -> Outcome:
        """Given up before the upstream finished, for reasons of our side (the client hung up):
        the slot is freed and nothing is learned, neither a failure nor a success."""
        return cls(OutcomeKind.ABANDONED)
