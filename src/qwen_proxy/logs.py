"""Logging setup shared by every command, and the request id every log line of a request carries.

The id lives in a context variable: the gateway sets it when a request arrives, and every line
logged while that request is served (its upstream calls included, which run in the same task)
names it through ``RequestIdFilter``. Lines outside a request show ``-``.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
from contextvars import ContextVar

#: the id of the request being served in this task ("-" outside any request)
REQUEST_ID: ContextVar[str] = ContextVar("qwen_proxy_request_id", default="-")

#: what an incoming ``x-request-id`` may look like to be honoured (anything else is replaced)
_VALID_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def new_request_id() -> str:
    """A fresh request id (``req_`` and 24 hex digits)."""
    return "req_" + secrets.token_hex(12)


def accepted_request_id(value: str | None) -> str | None:
    """``value`` when it is a usable request id (1-128 characters, URL-safe), else None."""
    if value is not None and _VALID_ID.fullmatch(value):
        return value
    return None


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id``: the id of the request being served when the line was logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Tag the record; never drops one."""
        record.request_id = REQUEST_ID.get()
        return True


def configure_logging(level: str) -> None:
    """Plain, single-line logs on stderr, each naming the request it belongs to."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format=LOG_FORMAT,
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
