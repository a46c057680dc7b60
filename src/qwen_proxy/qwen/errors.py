"""What can go wrong upstream, as gateway errors the API layer renders in OpenAI's shape.

Each class carries two extra facts for the retry and account logic:

- ``retryable``: safe to try again (possibly on another account) as long as nothing was sent to
  the client yet;
- ``account_fault``: what the condition says about the account that made the call, an
  ``AccountFault`` (auth, rate_limit, captcha, empty, transient) or ``None`` (nothing).

``qwen.classify`` is the only place that maps upstream answers onto these classes.

The risk engine's ``RGV587`` answer reads "the system is crowded, try later", but it is a
challenge, not overload: retrying it on the same account deepens the mark, so it is a captcha
like the slider page, and no class here says "overloaded".

Status, type and code are what the client sees (u = ``upstream_error``, r = ``rate_limit_error``,
i = ``invalid_request_error``, t = ``timeout_error``); "other" = retry on another account.

| upstream condition | class | status type code | retry | account |
|---|---|---|---|---|
| expired/invalid token (401/403, Unauthorized) | UpstreamAuthFailed | 503 u upstream_auth_failed | other | auth |
| ``RateLimited`` (+ ``num`` hours) | UpstreamRateLimited | 429 r upstream_rate_limited | other | rate_limit |
| slider page, challenge JSON (FAIL_SYS_USER_VALIDATE, RGV587) | UpstreamCaptcha | 503 u upstream_captcha | other | captcha |
| ``CHAT_IN_PROGRESS`` | ChatInProgress | 409 i chat_in_progress | no | - |
| "parent_id ... is not exist" | ParentNotFound | 502 u upstream_parent_not_found | no | - |
| ``Bad_Request`` | UpstreamBadRequest | 502 u upstream_bad_request | "Internal error" | - |
| HTTP 5xx, ``internal_error`` | UpstreamServerError | 502 u upstream_server_error | yes | transient |
| connect/read failure | UpstreamConnectionError | 502 u upstream_connection_error | yes | transient |
| no answer in time | UpstreamTimeout | 504 t upstream_timeout | yes | transient |
| stream without any content | EmptyReply | 502 u upstream_empty_reply | other | empty |
| EOF before the answer finished | StreamCut | 502 u upstream_stream_cut | if nothing sent | transient |
| ``data_inspection_failed`` | ContentFiltered | 400 i content_filter | no | - |
| ``internal_error`` quota exceeded | QuotaExceeded | 429 r upstream_quota_exceeded | other | rate_limit |
| unknown model | UpstreamModelNotFound | 404 i model_not_found | no | - |
| unreadable/unexpected answer | UpstreamMalformed | 502 u upstream_malformed | no | - |
"""  # noqa: E501 (a markdown table reads better unwrapped)

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from qwen_proxy.errors import (
    BadGateway,
    Conflict,
    GatewayTimeout,
    InvalidRequest,
    ModelNotFound,
    RateLimited,
    ServiceUnavailable,
)


class AccountFault(StrEnum):
    """What an upstream condition says about the account that met it (None: nothing)."""

    #: the token is expired or rejected
    AUTH = "auth"
    #: the account reached a usage limit or quota
    RATE_LIMIT = "rate_limit"
    #: a firewall page wants a human to verify
    CAPTCHA = "captcha"
    #: a reply without content: the upstream's silent throttling
    EMPTY = "empty"
    #: network trouble or a server error: says little, unless it repeats
    TRANSIENT = "transient"


class UpstreamError(BadGateway):
    """Base of every upstream condition; ``retryable`` and ``account_fault`` drive retries."""

    code = "upstream_error"
    retryable: bool = False
    account_fault: AccountFault | None = None
    default_message: ClassVar[str] = "The Qwen upstream answered with an error. Try again later."

    def __init__(
        self,
        message: str | None = None,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(
            message if message is not None else self.default_message,
            param=param,
            code=code,
            retry_after=retry_after,
        )
        if retryable is not None:
            self.retryable = retryable


class UpstreamAuthFailed(ServiceUnavailable, UpstreamError):
    """The account's Qwen token is expired or invalid."""

    status = 503
    type = "upstream_error"
    code = "upstream_auth_failed"
    retryable = True
    account_fault = AccountFault.AUTH
    default_message = (
        "The Qwen account's session token is expired or invalid. "
        "If the gateway cannot renew it, give the account a new browser session "
        "(qwen-proxy accounts import-curl)."
    )


class UpstreamRateLimited(RateLimited, UpstreamError):
    """The account reached Qwen's usage limit; ``retry_after`` is the wait when Qwen gave one."""

    status = 429
    type = "rate_limit_error"
    code = "upstream_rate_limited"
    retryable = True
    account_fault = AccountFault.RATE_LIMIT
    default_message = (
        "The Qwen account reached its usage limit. Wait before retrying, or add another account."
    )


class UpstreamCaptcha(ServiceUnavailable, UpstreamError):
    """Qwen's firewall or risk engine wants a human verification instead of answering: the
    slider page, or the challenge JSON (``FAIL_SYS_USER_VALIDATE`` / ``RGV587``)."""

    status = 503
    type = "upstream_error"
    code = "upstream_captcha"
    retryable = True
    account_fault = AccountFault.CAPTCHA
    default_message = (
        "Qwen's firewall asked for a security verification (captcha) instead of answering. "
        "Open chat.qwen.ai in a browser signed in to this account, complete the check, "
        "and give the gateway that browser's session (qwen-proxy accounts import-curl)."
    )

    def __init__(self, message: str | None = None, *, verify_url: str | None = None) -> None:
        super().__init__(message)
        #: the verification page Qwen pointed to, if any (kept out of the message)
        self.verify_url = verify_url

    def wait_for_another_account(self, retry_after: float) -> UpstreamCaptcha:
        """The same challenge told as a 429: another account will be free in ``retry_after``
        seconds, so the client should come back then rather than give up."""
        error = UpstreamCaptcha(
            f"{self.message} Another account is free again in {retry_after:.0f} s.",
            verify_url=self.verify_url,
        )
        error.status = 429
        error.type = "rate_limit_error"
        error.retry_after = retry_after
        return error


class ChatInProgress(Conflict, UpstreamError):
    """Another completion is still running in the same Qwen chat."""

    status = 409
    type = "invalid_request_error"
    code = "chat_in_progress"
    default_message = (
        "A reply is still being generated in this Qwen chat. "
        "Wait for it to finish, or start a new conversation."
    )


class ParentNotFound(UpstreamError):
    """Qwen does not know the message (or chat) this turn continues from."""

    code = "upstream_parent_not_found"
    default_message = (
        "Qwen no longer knows the conversation this request continues "
        "(the chat or its last message was deleted). Retry to start a new chat."
    )


class UpstreamBadRequest(UpstreamError):
    """Qwen rejected the request (``Bad_Request``); its "Internal error" variant is retryable."""

    code = "upstream_bad_request"
    default_message = "Qwen rejected the request. Check the model and the message content."


class UpstreamServerError(UpstreamError):
    """Qwen failed with a server error (HTTP 5xx or ``internal_error``)."""

    code = "upstream_server_error"
    retryable = True
    account_fault = AccountFault.TRANSIENT
    default_message = "Qwen had an internal server error. Retry in a moment."


class UpstreamConnectionError(UpstreamError):
    """The connection to Qwen could not be opened or broke."""

    code = "upstream_connection_error"
    retryable = True
    account_fault = AccountFault.TRANSIENT
    default_message = "Could not reach Qwen (connection failed). Retry in a moment."


class UpstreamTimeout(GatewayTimeout, UpstreamError):
    """Qwen did not answer (or stopped sending) in time."""

    status = 504
    type = "timeout_error"
    code = "upstream_timeout"
    retryable = True
    account_fault = AccountFault.TRANSIENT
    default_message = "Qwen did not answer in time. Retry in a moment."


class EmptyReply(UpstreamError):
    """The stream ended without any content: Qwen's silent throttling of an account."""

    code = "upstream_empty_reply"
    retryable = True
    account_fault = AccountFault.EMPTY
    default_message = (
        "Qwen ended the reply without any content (the account is probably being throttled). "
        "Retry later or add another account."
    )


class StreamCut(UpstreamError):
    """The stream ended before the answer finished; retry only if the client got nothing yet."""

    code = "upstream_stream_cut"
    retryable = True
    account_fault = AccountFault.TRANSIENT
    default_message = "The connection to Qwen ended before the reply was complete. Retry."


class ContentFiltered(InvalidRequest, UpstreamError):
    """Qwen's moderation refused the input or stopped the output."""

    status = 400
    type = "invalid_request_error"
    code = "content_filter"
    default_message = (
        "Qwen's content moderation blocked this request or its reply. Rephrase the request."
    )


class QuotaExceeded(RateLimited, UpstreamError):
    """The account's allocated quota is used up; another account may still serve."""

    status = 429
    type = "rate_limit_error"
    code = "upstream_quota_exceeded"
    retryable = True
    account_fault = AccountFault.RATE_LIMIT
    default_message = "The Qwen account's quota is used up. Retry later or add another account."


class UpstreamModelNotFound(ModelNotFound, UpstreamError):
    """Qwen does not know the requested model."""

    status = 404
    type = "invalid_request_error"
    code = "model_not_found"
    default_message = "Qwen does not offer the requested model. List models with GET /v1/models."


class UpstreamMalformed(UpstreamError):
    """Qwen answered with something the gateway cannot read."""

    code = "upstream_malformed"
    default_message = "Qwen answered with something the gateway could not understand."


class UploadRejected(UpstreamError):
    """Qwen's storage refused an upload (a bad signature, an expired grant, a full bucket)."""

    code = "upstream_upload_rejected"
    default_message = "Qwen's file storage refused the upload. Retry in a moment."
