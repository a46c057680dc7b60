"""The gateway's error hierarchy: every error knows its OpenAI status, type and code.

One handler (``api.http.send_error``) renders any of them as OpenAI's error object, so
raising the right class is all a module has to do. Upstream conditions subclass these in
``qwen.errors``.
"""

from __future__ import annotations


class GatewayError(Exception):
    """An error the client sees, rendered as ``{"error": {message, type, param, code}}``."""

    status: int = 500
    type: str = "server_error"
    code: str | None = "internal_error"
    #: seconds the client should wait before retrying, sent as Retry-After when known
    retry_after: float | None = None
    #: False when retrying cannot help (sent as ``x-should-retry: false``)
    should_retry: bool | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if retry_after is not None:
            self.retry_after = retry_after

    def to_dict(self) -> dict[str, object]:
        """OpenAI's error object (the value of the top-level ``error`` key)."""
        return {"message": self.message, "type": self.type, "param": self.param, "code": self.code}


class InvalidRequest(GatewayError):
    """The request is malformed or asks for something the gateway cannot do."""

    status = 400
    type = "invalid_request_error"
    code = "invalid_request"
    should_retry = False


class AuthenticationFailed(GatewayError):
    """Missing or wrong client API key."""

    status = 401
    type = "authentication_error"
    code = "invalid_api_key"
    should_retry = False


class NotFound(GatewayError):
    """An unknown route or resource."""

    status = 404
    type = "invalid_request_error"
    code = "not_found"
    should_retry = False


class ModelNotFound(NotFound):
    """The requested model does not exist upstream."""

    code = "model_not_found"


class MethodNotAllowed(GatewayError):
    """A known route called with the wrong HTTP method."""

    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"
    should_retry = False


class Conflict(GatewayError):
    """The request collides with one already running."""

    status = 409
    type = "invalid_request_error"
    code = "conflict"


class PayloadTooLarge(GatewayError):
    """The request body is over the configured limit."""

    status = 413
    type = "invalid_request_error"
    code = "request_too_large"
    should_retry = False


class UnsupportedMediaType(GatewayError):
    """The request body is not JSON."""

    status = 415
    type = "invalid_request_error"
    code = "unsupported_media_type"
    should_retry = False


class RateLimited(GatewayError):
    """Too many requests; ``retry_after`` says how long to wait when it is known."""

    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class BadGateway(GatewayError):
    """The upstream answered with something the gateway could not use."""

    status = 502
    type = "upstream_error"
    code = "upstream_error"


class ServiceUnavailable(GatewayError):
    """The gateway cannot serve now (no usable account, store down, upstream blocked)."""

    status = 503
    type = "upstream_error"
    code = "service_unavailable"


class GatewayTimeout(GatewayError):
    """The upstream did not answer in time."""

    status = 504
    type = "timeout_error"
    code = "upstream_timeout"
