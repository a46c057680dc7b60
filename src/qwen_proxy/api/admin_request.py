"""One call to an admin data route, as every section's handler receives it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from qwen_proxy.api.http import Send
from qwen_proxy.service.gateway import Gateway


@dataclass(frozen=True)
class AdminRequest:
    """One call to an admin data route (the admin key already checked, the body read)."""

    method: str
    #: decoded once by the server (never again: ``%252F`` must stay ``%2F``)
    path: str
    #: the query string's parameters (the last value of a repeated name wins)
    query: Mapping[str, str]
    body: bytes

    @property
    def parts(self) -> list[str]:
        """The path's segments after ``/admin/<section>``."""
        return [p for p in self.path.split("/")[3:] if p]


#: a section's handler: answers the request through ``send`` or raises a GatewayError
AdminHandler = Callable[[Gateway, AdminRequest, Send], Awaitable[None]]


def parse_query(raw: bytes) -> dict[str, str]:
    """A query string's parameters (percent-decoded, the last of a repeated name wins)."""
    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))
