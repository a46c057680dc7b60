"""Signing a PUT to Alibaba Cloud OSS with the temporary (STS) keys Qwen hands out (pure).

Qwen's uploads go straight to its OSS bucket: the chat host grants a short-lived key triple
(access key id, secret, security token) for one object, and the client signs the PUT itself.
A PUT to the presigned ``file_url`` of the grant is refused (``SignatureDoesNotMatch``): that
URL is for reading.

The signature is OSS's V1 scheme (HMAC-SHA1; ``Authorization: OSS <id>:<signature>`` with the
token in ``x-oss-security-token``), not V4 (OSS4-HMAC-SHA256), because:

- it is what the web app's own OSS client sends from the browser, so the storage sees the same
  kind of request from the gateway as from a user's browser;
- it signs nothing the grant may lack: V4 derives its key from the bucket's region and a date
  scope, and the grant does not always name the region;
- it is one HMAC over a short string, easy to check by hand (the tests do, against the example
  published in OSS's documentation).

The string signed (OSS documentation, "Include signatures in the Authorization header")::

    VERB \\n Content-MD5 \\n Content-Type \\n Date \\n CanonicalizedOSSHeaders CanonicalizedResource

where CanonicalizedOSSHeaders is every ``x-oss-*`` header, lower-cased, sorted, ``name:value\\n``
each, and CanonicalizedResource is ``/<bucket>/<object key>`` (the key as stored, not escaped).
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

_CODE_RE = re.compile(rb"<Code>([^<]{1,100})</Code>")


@dataclass(frozen=True, slots=True)
class StsKeys:
    """The temporary key triple of one upload grant (the secret and token never in a repr)."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str = field(repr=False)


def http_date(now: float) -> str:
    """``now`` as an HTTP date (``Thu, 17 Nov 2005 18:49:58 GMT``)."""
    return email.utils.formatdate(now, usegmt=True)


def content_md5(data: bytes) -> str:
    """The ``Content-MD5`` value of ``data``: base64 of its MD5 digest."""
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def canonical_oss_headers(headers: Mapping[str, str]) -> str:
    """Every ``x-oss-*`` header as ``name:value\\n``, names lower-cased and sorted."""
    picked = sorted(
        (name.lower(), value.strip())
        for name, value in headers.items()
        if name.lower().startswith("x-oss-")
    )
    return "".join(f"{name}:{value}\n" for name, value in picked)


def string_to_sign(
    method: str,
    *,
    content_md5: str,
    content_type: str,
    date: str,
    headers: Mapping[str, str],
    resource: str,
) -> str:
    """The V1 string to sign for one request (see the module docstring)."""
    return (
        f"{method.upper()}\n{content_md5}\n{content_type}\n{date}\n"
        f"{canonical_oss_headers(headers)}{resource}"
    )


def signature(secret: str, text: str) -> str:
    """Base64 of HMAC-SHA1(secret, text)."""
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_put_headers(
    keys: StsKeys, *, bucket: str, key: str, content_type: str, data: bytes, now: float
) -> dict[str, str]:
    """The headers of a PUT of ``data`` to ``bucket``/``key``, signed with ``keys``."""
    oss = {"x-oss-security-token": keys.security_token}
    headers = {
        "Content-Type": content_type,
        "Content-MD5": content_md5(data),
        "Date": http_date(now),
        **oss,
    }
    text = string_to_sign(
        "PUT",
        content_md5=headers["Content-MD5"],
        content_type=content_type,
        date=headers["Date"],
        headers=oss,
        resource=f"/{bucket}/{key}",
    )
    headers["Authorization"] = f"OSS {keys.access_key_id}:{signature(keys.access_key_secret, text)}"
    return headers


def object_url(*, bucket: str, endpoint: str, key: str, oss_url: str | None = None) -> str:
    """Where an object is PUT: ``https://<bucket>.<endpoint>/<key>``, or, when ``oss_url`` is
    given (a local object store), ``<oss_url>/<bucket>/<key>``.

    ``endpoint`` may be a bare host (``oss-ap-southeast-1.aliyuncs.com``) or carry its scheme.
    """
    path = quote(key, safe="/")
    if oss_url:
        return f"{oss_url.rstrip('/')}/{quote(bucket, safe='')}/{path}"
    scheme, host = "https", endpoint
    if "://" in endpoint:
        parts = urlsplit(endpoint)
        scheme, host = parts.scheme or "https", parts.netloc
    host = host.strip("/")
    if not host:
        raise ValueError("the upload grant names no storage endpoint")
    return f"{scheme}://{bucket}.{host}/{path}"


def error_code(body: bytes) -> str | None:
    """The ``<Code>`` of an OSS error document, None when there is none."""
    match = _CODE_RE.search(body[:4096])
    return match.group(1).decode("ascii", "replace") if match else None
