"""OpenAI ``file`` content parts: a document's bytes and name, read into the face-neutral
request; what cannot be served is refused naming the field."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from qwen_proxy.api.openai.validation import parse_chat_request
from qwen_proxy.errors import InvalidRequest
from qwen_proxy.messages import FilePart

pytestmark = pytest.mark.unit

PDF = "data:application/pdf;base64,JVBERi0xLjQK"


def parsed_files(part: dict[str, Any]) -> tuple[FilePart, ...]:
    content = [{"type": "text", "text": "read this"}, part]
    data = {"model": "qwen3-max", "messages": [{"role": "user", "content": content}]}
    request = parse_chat_request(
        orjson.dumps(data), content_type="application/json", max_body_bytes=1 << 20
    )
    return request.messages[0].files


def test_a_file_part_becomes_a_document_with_its_name_and_part() -> None:
    (found,) = parsed_files({"type": "file", "file": {"file_data": PDF, "filename": "a.pdf"}})
    assert found == FilePart(PDF, "a.pdf")
    assert found.param == "messages[0].content[1].file"


def test_bare_base64_file_data_is_taken_as_a_data_url() -> None:
    (found,) = parsed_files({"type": "file", "file": {"file_data": "aGk=", "filename": "a.txt"}})
    assert found.data_url == "data:application/octet-stream;base64,aGk="


@pytest.mark.parametrize(
    ("file", "param", "code"),
    [
        ({"file_id": "file-abc"}, "messages[0].content[1].file.file_id", "unsupported_value"),
        (
            {"filename": "a.pdf"},
            "messages[0].content[1].file.file_data",
            "missing_required_parameter",
        ),
        ({"file_data": PDF}, "messages[0].content[1].file.filename", "missing_required_parameter"),
        (
            {"file_data": PDF, "filename": " "},
            "messages[0].content[1].file.filename",
            "empty_string",
        ),
        (
            {"file_data": 5, "filename": "a"},
            "messages[0].content[1].file.file_data",
            "invalid_type",
        ),
    ],
    ids=["openai-file-id", "no-data", "no-name", "blank-name", "data-not-a-string"],
)
def test_a_file_part_that_cannot_be_served_is_refused_naming_the_field(
    file: dict[str, Any], param: str, code: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parsed_files({"type": "file", "file": file})
    assert (caught.value.param, caught.value.code) == (param, code)


def test_a_file_part_without_its_object_is_named() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parsed_files({"type": "file"})
    assert caught.value.param == "messages[0].content[1].file"
