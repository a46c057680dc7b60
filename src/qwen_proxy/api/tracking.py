"""What every response of the gateway carries and counts, whichever route or face answers it.

The app puts a ``ResponseStamp`` in the request's scope under ``RESPONSE_STAMP``; the gateway's
HTTP server (``server.protocol``) calls ``started(status)`` as it writes the response head and
adds the headers it returns. So ``x-request-id`` (and a limited key's ``x-ratelimit-*``) reach
every response, errors and streams alike, and each response is counted once, at its start,
without a wrapper around ``send`` on the streaming path.
"""

from __future__ import annotations

from collections.abc import Sequence

from qwen_proxy.service.metrics import REQUESTS

#: the scope key of the request's stamp (an extension of the gateway's own server)
RESPONSE_STAMP = "qwen_proxy.response_stamp"

#: the ``key`` label before (or without) a client key
NO_KEY = "-"
ADMIN_KEY = "admin"

#: routes counted under their own name; the rest as one label, so paths cannot blow it up
_ROUTES = frozenset(
    {
        "/v1/chat/completions",
        "/v1/messages",
        "/v1/responses",
        "/v1/models",
        "/metrics",
        "/health",
        "/ready",
    }
)


def route_label(path: str) -> str:
    """The ``route`` label of a request path (a few fixed values)."""
    if path.startswith("/v1/"):
        label = path
    elif path.startswith(("/chat/", "/models", "/messages", "/responses")):
        label = "/v1" + path
    else:
        label = path
    if label in _ROUTES:
        return label
    if label.startswith("/v1/models/"):
        return "/v1/models/{id}"
    for admin in ("/admin/keys", "/admin/accounts"):
        if label.startswith(admin):
            return admin
    return "other"


class ResponseStamp:
    """One request's response headers and labels (the server calls ``started`` once).

    Small on purpose: an open stream keeps its stamp (in its scope) until it ends, so the
    header list is built only when the response starts, from the id the log context holds too.
    """

    __slots__ = ("extra", "key", "request_id", "route")

    def __init__(self, route: str, request_id: str) -> None:
        self.route = route
        self.key = NO_KEY
        self.request_id = request_id
        self.extra: tuple[tuple[bytes, bytes], ...] = ()

    def add(self, headers: Sequence[tuple[bytes, bytes]]) -> None:
        """Put more headers on the response (before it starts)."""
        self.extra = (*self.extra, *headers)

    def started(self, status: int) -> list[tuple[bytes, bytes]]:
        """The response starts with ``status``: count it; the headers to add."""
        REQUESTS.labels(self.route, str(status), self.key).inc()
        return [(b"x-request-id", self.request_id.encode()), *self.extra]
