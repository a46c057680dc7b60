"""The gateway's Prometheus metrics: defined once here, counted per request or reply.

Nothing here runs per streamed chunk: requests are counted when their response starts, replies
when they open and close, tokens from each reply's final usage. Under ``--workers`` the
``prometheus_client`` multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by ``serve``) sums
the workers' values; the gauges say how they combine.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from qwen_proxy.qwen.errors import (
    ChatInProgress,
    ContentFiltered,
    EmptyReply,
    ParentNotFound,
    QuotaExceeded,
    StreamCut,
    UpstreamAuthFailed,
    UpstreamBadRequest,
    UpstreamCaptcha,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamMalformed,
    UpstreamModelNotFound,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
)

#: seconds: from a completion's start to its first content
TTFT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0, 120.0)
#: seconds: from a completion's start to its reply's end
DURATION_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)

REQUESTS = Counter(
    "qwen_proxy_requests",
    "Responses sent, by route, HTTP status and client key name",
    ("route", "status", "key"),
)
UPSTREAM_FAILURES = Counter(
    "qwen_proxy_upstream_failures",
    "Failed upstream attempts and replies, by failure class",
    ("class",),
)
TIME_TO_FIRST_TOKEN = Histogram(
    "qwen_proxy_time_to_first_token_seconds",
    "From the start of a completion to its first content (retries included)",
    ("model",),
    buckets=TTFT_BUCKETS,
)
REQUEST_DURATION = Histogram(
    "qwen_proxy_request_duration_seconds",
    "From the start of a completion to the end of its reply",
    ("model",),
    buckets=DURATION_BUCKETS,
)
TOKENS = Counter(
    "qwen_proxy_tokens",
    "Tokens of finished replies as the upstream counted them, by key and direction",
    ("key", "direction"),
)
STREAMS_OPEN = Gauge(
    "qwen_proxy_streams_open",
    "Upstream replies being relayed right now",
    multiprocess_mode="livesum",
)
ACCOUNTS = Gauge(
    "qwen_proxy_accounts",
    "Qwen accounts by state (as the scraped process sees them)",
    ("state",),
    multiprocess_mode="mostrecent",
)
CONVERSATION_LOOKUPS = Counter(
    "qwen_proxy_conversation_lookups",
    "Where requests went: a known chat continued (hit), a new conversation (miss), or earlier "
    "turns folded into a new chat (fold)",
    ("result",),
)
CHAT_DELETIONS = Counter(
    "qwen_proxy_upstream_chat_deletions",
    "Upstream chats the cleanup deleted (or failed to delete)",
    ("result",),
)

#: every state an account can be in, so a state nobody is in reads 0, not its last value
ACCOUNT_STATES = ("active", "cooling", "renewing", "quarantined", "disabled")

#: the first matching class names the failure (subclasses before their bases)
_FAILURE_CLASSES: tuple[tuple[type[UpstreamError], str], ...] = (
    (UpstreamRateLimited, "rate_limit"),
    (QuotaExceeded, "rate_limit"),
    (UpstreamCaptcha, "captcha"),
    (UpstreamAuthFailed, "auth"),
    (EmptyReply, "empty"),
    (StreamCut, "cut"),
    (ContentFiltered, "content_filter"),
    (ChatInProgress, "busy"),
    (UpstreamTimeout, "timeout"),
    (UpstreamConnectionError, "transient"),
    (UpstreamServerError, "transient"),
    (ParentNotFound, "parent_lost"),
    (UpstreamModelNotFound, "model_not_found"),
    (UpstreamBadRequest, "bad_request"),
    (UpstreamMalformed, "malformed"),
)


def failure_class(error: UpstreamError) -> str:
    """The ``class`` label of an upstream failure."""
    for kind, label in _FAILURE_CLASSES:
        if isinstance(error, kind):
            return label
    return "other"


def count_upstream_failure(error: UpstreamError) -> None:
    """Count one failed attempt or reply."""
    UPSTREAM_FAILURES.labels(failure_class(error)).inc()


def set_account_states(states: list[str]) -> None:
    """Publish how many accounts are in each state (called when metrics are scraped)."""
    for state in ACCOUNT_STATES:
        ACCOUNTS.labels(state).set(states.count(state))
