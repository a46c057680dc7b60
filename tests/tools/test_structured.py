"""Structured output: asked for by prompt, read back forgivingly, checked by schema."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qwen_proxy.tools import ResponseFormat, check_reply, format_instruction, structured_correction
from qwen_proxy.tools.structured import extract_json
from qwen_proxy.tools.validate import validate

pytestmark = pytest.mark.unit

PERSON: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        "kind": {"enum": ["a", "b"]},
        "home": {"$ref": "#/$defs/Place"},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
    "$defs": {"Place": {"type": "object", "properties": {"city": {"type": "string"}}}},
}
SCHEMA_FORMAT = ResponseFormat.from_openai(
    {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}}
)


def test_formats_are_read_from_the_request() -> None:
    assert ResponseFormat.from_openai(None) == ResponseFormat()
    assert ResponseFormat.from_openai({"type": "text"}).wants_json is False
    assert ResponseFormat.from_openai({"type": "json_object"}).kind == "json_object"
    assert SCHEMA_FORMAT.kind == "json_schema"
    assert SCHEMA_FORMAT.strict
    assert SCHEMA_FORMAT.name == "person"


def test_the_instruction_carries_the_schema() -> None:
    text = format_instruction(SCHEMA_FORMAT)
    assert text is not None
    assert '"person"' in text
    assert json.dumps(PERSON, separators=(",", ":")) in text
    assert "no code fence" in (format_instruction(ResponseFormat("json_object")) or "")
    assert format_instruction(ResponseFormat()) is None


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('Sure! Here it is:\n```\n{"a": 1,}\n```\nAnything else?', {"a": 1}),
        ('The answer is {"a": [1, 2]} as asked.', {"a": [1, 2]}),
        ("[1, 2]", [1, 2]),
    ],
)
def test_the_json_is_found_in_fences_and_words(reply: str, value: Any) -> None:
    assert extract_json(reply) == value


def test_a_reply_without_json_is_refused_with_a_reason() -> None:
    checked = check_reply("I cannot do that.", ResponseFormat("json_object"))
    assert not checked.ok
    assert checked.errors == ("the reply is not valid JSON",)


def test_json_object_mode_wants_an_object() -> None:
    assert not check_reply("[1]", ResponseFormat("json_object")).ok
    checked = check_reply('```json\n{"a": 1}\n```', ResponseFormat("json_object"))
    assert checked.ok
    assert checked.json_text == '{"a": 1}'


def test_a_valid_reply_passes_the_schema() -> None:
    reply = '{"name": "Ada", "age": 36, "tags": ["x"], "kind": "a", "home": {"city": "L"}}'
    assert check_reply(reply, SCHEMA_FORMAT).ok


@pytest.mark.parametrize(
    ("value", "errors"),
    [
        ({"age": 3}, ['$: missing required field "name"']),
        ({"name": "A", "age": "3"}, ["$.age: expected integer, got string"]),
        ({"name": "A", "age": True}, ["$.age: expected integer, got boolean"]),
        (
            {"name": "", "age": -1},
            ["$.name: must have at least 1 characters", "$.age: must be at least 0"],
        ),
        ({"name": "A", "age": 1, "x": 1}, ['$: field "x" is not allowed']),
        (
            {"name": "A", "age": 1, "tags": ["a", 2, "c"]},
            ["$.tags[1]: expected string, got integer", "$.tags: must have at most 2 items"],
        ),
        ({"name": "A", "age": 1, "kind": "c"}, ['$.kind: must be one of "a", "b"']),
        (
            {"name": "A", "age": 1, "home": {"city": 5}},
            ["$.home.city: expected string, got integer"],
        ),
        ({"name": "A", "age": 1, "note": 5}, ["$.note: matches none of the 2 allowed forms"]),
        ({"name": "A", "age": 1.0}, []),
        ({"name": "A", "age": 1.5}, ["$.age: expected integer, got number"]),
    ],
)
def test_schema_errors_say_where_and_what(value: Any, errors: list[str]) -> None:
    assert [str(e) for e in validate(value, PERSON)] == errors


def test_the_correction_lists_the_errors_and_repeats_the_format() -> None:
    checked = check_reply('{"age": "x"}', SCHEMA_FORMAT)
    text = structured_correction(checked, SCHEMA_FORMAT)
    assert 'missing required field "name"' in text
    assert "expected integer, got string" in text
    assert "JSON schema" in text
