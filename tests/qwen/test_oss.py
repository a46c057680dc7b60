"""The signed PUT to Qwen's storage: OSS signature V1, checked against known vectors."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from qwen_proxy.qwen.oss import (
    StsKeys,
    content_md5,
    error_code,
    http_date,
    object_url,
    signature,
    signed_put_headers,
    string_to_sign,
)

pytestmark = pytest.mark.unit

# The worked example of OSS's documentation ("Include signatures in the Authorization header"):
# its inputs, the string it shows, and the signature it publishes.
DOC_SECRET = "OtxrzxIsfpFjA7SwPzILwy8Bw21TLhquhboDYROV"
DOC_STRING = (
    "PUT\nODBGOERFMDMzQTczRUY3NUE3NzA5QzdFNUYzMDQxNEM=\ntext/html\n"
    "Thu, 17 Nov 2005 18:49:58 GMT\nx-oss-magic:abracadabra\nx-oss-meta-author:foo@bar.com\n"
    "/oss-example/nelson"
)
DOC_SIGNATURE = "26NBxoKdsyly4EDv6inkoDft/yA="


def test_the_documented_example_gives_the_documented_string_and_signature() -> None:
    text = string_to_sign(
        "PUT",
        content_md5="ODBGOERFMDMzQTczRUY3NUE3NzA5QzdFNUYzMDQxNEM=",
        content_type="text/html",
        date="Thu, 17 Nov 2005 18:49:58 GMT",
        # in another order and case than signed: the canonical form sorts and lower-cases
        headers={"X-OSS-Meta-Author": "foo@bar.com", "X-OSS-Magic": "abracadabra", "Host": "h"},
        resource="/oss-example/nelson",
    )
    assert text == DOC_STRING
    assert signature(DOC_SECRET, text) == DOC_SIGNATURE


def test_a_signed_put_carries_the_token_and_a_signature_worked_out_by_hand() -> None:
    keys = StsKeys("STS.test-id", "test-secret", "test-token")
    data = b"hello, oss"
    headers = signed_put_headers(
        keys,
        bucket="qwen-webui-prod",
        key="user-1/file-1_cat.png",
        content_type="image/png",
        data=data,
        now=1_132_253_398,  # Thu, 17 Nov 2005 18:49:58 GMT
    )
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    # the string to sign written out by hand, then signed with the standard library alone
    by_hand = (
        f"PUT\n{md5}\nimage/png\nThu, 17 Nov 2005 18:49:58 GMT\n"
        "x-oss-security-token:test-token\n/qwen-webui-prod/user-1/file-1_cat.png"
    )
    expected = base64.b64encode(
        hmac.new(b"test-secret", by_hand.encode(), hashlib.sha1).digest()
    ).decode()
    assert headers == {
        "Content-Type": "image/png",
        "Content-MD5": md5,
        "Date": "Thu, 17 Nov 2005 18:49:58 GMT",
        "x-oss-security-token": "test-token",
        "Authorization": f"OSS STS.test-id:{expected}",
    }


def test_the_secret_and_token_never_show_in_a_repr() -> None:
    assert "test-secret" not in repr(StsKeys("id", "test-secret", "test-token"))
    assert "test-token" not in repr(StsKeys("id", "test-secret", "test-token"))


def test_http_date_and_md5_are_the_forms_oss_signs() -> None:
    assert http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert content_md5(b"") == "1B2M2Y8AsgTpgAmY7PhCfg=="


@pytest.mark.parametrize(
    ("endpoint", "oss_url", "url"),
    [
        (
            "oss-ap-southeast-1.aliyuncs.com",
            None,
            "https://qwen-webui-prod.oss-ap-southeast-1.aliyuncs.com/u/f%20a.png",
        ),
        (
            "https://oss-ap-southeast-1.aliyuncs.com/",
            None,
            "https://qwen-webui-prod.oss-ap-southeast-1.aliyuncs.com/u/f%20a.png",
        ),
        (
            "oss-ap-southeast-1.aliyuncs.com",
            "http://127.0.0.1:9000/oss/",
            "http://127.0.0.1:9000/oss/qwen-webui-prod/u/f%20a.png",
        ),
    ],
    ids=["bucket-host", "endpoint-with-scheme", "oss-url-replaces-scheme-and-host"],
)
def test_the_put_goes_to_the_bucket_host_or_to_the_configured_store(
    endpoint: str, oss_url: str | None, url: str
) -> None:
    assert (
        object_url(bucket="qwen-webui-prod", endpoint=endpoint, key="u/f a.png", oss_url=oss_url)
        == url
    )


def test_an_oss_error_document_names_its_code() -> None:
    body = b'<?xml version="1.0"?><Error><Code>SignatureDoesNotMatch</Code></Error>'
    assert error_code(body) == "SignatureDoesNotMatch"
    assert error_code(b"<html>nope</html>") is None
