"""Uploads in Qwen's terms: the grant's request and its two answer shapes, the files[] entries."""

from __future__ import annotations

from typing import Any

import pytest

from qwen_proxy.qwen.files import (
    UploadedFile,
    file_entry,
    parse_grant,
    parse_state,
    sts_body,
    upload_kind,
)

pytestmark = pytest.mark.unit

GRANT: dict[str, Any] = {
    "access_key_id": "STS.id",
    "access_key_secret": "secret",
    "security_token": "token",
    "bucketname": "qwen-webui-prod",
    "endpoint": "oss-ap-southeast-1.aliyuncs.com",
    "region": "oss-ap-southeast-1",
    "file_id": "f-1",
    "file_path": "u-1/f-1_cat.png",
    "file_url": "https://qwen-webui-prod.oss-ap-southeast-1.aliyuncs.com/u-1/f-1_cat.png?x=1",
}


def test_the_grant_request_names_the_file_in_both_spellings() -> None:
    assert sts_body("cat.png", 68, "image/png") == {
        "filename": "cat.png",
        "filesize": 68,
        "filetype": "image",
        "file_name": "cat.png",
        "file_size": 68,
        "file_type": "image",
    }
    assert upload_kind("application/pdf") == "file"
    assert upload_kind("text/plain") == "file"


@pytest.mark.parametrize(
    "answer",
    [{"success": True, "request_id": "r", "data": GRANT}, GRANT],
    ids=["v2-envelope", "v1-bare"],
)
def test_a_grant_is_read_from_either_answer_shape(answer: dict[str, Any]) -> None:
    grant = parse_grant(answer)
    assert grant is not None
    assert (grant.bucket, grant.file_id, grant.file_path) == (
        "qwen-webui-prod",
        "f-1",
        "u-1/f-1_cat.png",
    )
    assert grant.keys.access_key_id == "STS.id"
    assert grant.endpoint == "oss-ap-southeast-1.aliyuncs.com"


def test_a_grant_without_an_endpoint_takes_its_regions() -> None:
    bare = {k: v for k, v in GRANT.items() if k != "endpoint"}
    grant = parse_grant(bare)
    assert grant is not None
    assert grant.endpoint == "oss-ap-southeast-1.aliyuncs.com"
    assert parse_grant({**bare, "region": "cn-hangzhou"}).endpoint == (  # type: ignore[union-attr]
        "oss-cn-hangzhou.aliyuncs.com"
    )


@pytest.mark.parametrize("missing", ["access_key_secret", "security_token", "file_path"])
def test_a_grant_missing_what_the_put_needs_is_no_grant(missing: str) -> None:
    assert parse_grant({k: v for k, v in GRANT.items() if k != missing}) is None
    assert parse_grant({"success": True, "data": None}) is None


def test_an_image_is_named_in_files_as_the_web_app_names_it() -> None:
    file = UploadedFile("f-1", "https://x/f.png", "cat.png", 68, "image/png", "vision")
    assert file_entry(file) == {
        "type": "image",
        "id": "f-1",
        "name": "cat.png",
        "file_type": "image/png",
        "showType": "image",
        "status": "uploaded",
        "file_class": "vision",
        "size": 68,
        "url": "https://x/f.png",
    }


def test_a_document_is_named_as_a_file_of_class_document() -> None:
    file = UploadedFile("f-2", "https://x/a.pdf", "a.pdf", 9, "application/pdf", "document")
    entry = file_entry(file)
    assert (entry["type"], entry["file_class"], entry["showType"]) == ("file", "document", "file")
    assert entry["file"]["id"] == "f-2"
    assert entry["file"]["meta"]["content_type"] == "application/pdf"


@pytest.mark.parametrize(
    ("data", "state"),
    [
        ({"status": "success"}, "done"),
        ({"status": "parsing"}, "pending"),
        ({"status": "failed"}, "failed"),
        ("success", "done"),
        (None, "pending"),
    ],
)
def test_parse_answers_say_where_parsing_stands(data: Any, state: str) -> None:
    assert parse_state({"success": True, "data": data}) == state
