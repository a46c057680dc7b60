"""Arguments are brought to their field's declared type, and only to it."""

from __future__ import annotations

from typing import Any

import pytest

from qwen_proxy.tools.coerce import coerce, coerce_arguments

pytestmark = pytest.mark.unit

STR: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
NUM: dict[str, Any] = {"type": "number"}
BOOL: dict[str, Any] = {"type": "boolean"}
OBJ: dict[str, Any] = {"type": "object", "properties": {"n": INT}}
ARR: dict[str, Any] = {"type": "array", "items": INT}

# (id, schema, value written, value the tool gets)
TABLE = [
    ("a string holding JSON stays a string", STR, '{"a": 1}', '{"a": 1}'),
    ("a string holding a number stays a string", STR, "5", "5"),
    ("a number for a string field is written as text", STR, 5, "5"),
    ("a boolean for a string field is written as text", STR, True, "true"),
    ("an object for a string field is serialised", STR, {"a": 1}, '{\n  "a": 1\n}'),
    ("null for a string field stays null", STR, None, None),
    ("a string of digits for an integer field", INT, "5", 5),
    ("a signed integer string", INT, " -12 ", -12),
    ("a float without fraction for an integer field", INT, 3.0, 3),
    ("a fraction stays as written for an integer field", INT, "2.5", "2.5"),
    ("words stay words for an integer field", INT, "five", "five"),
    ("a decimal string for a number field", NUM, "2.5", 2.5),
    ("an integer string for a number field", NUM, "7", 7),
    ("true in capitals for a boolean field", BOOL, "TRUE", True),
    ("false for a boolean field", BOOL, "false", False),
    ("yes stays yes for a boolean field", BOOL, "yes", "yes"),
    ("a JSON string for an object field is decoded", OBJ, '{"n": "4"}', {"n": 4}),
    ("a JSON string for an array field is decoded", ARR, '["1", 2]', [1, 2]),
    ("an array string for an object field stays", OBJ, "[1]", "[1]"),
    ("broken JSON for an object field stays", OBJ, "{nope", "{nope"),
    ("no type: nothing changes", {}, "5", "5"),
    ("no type: JSON text is not decoded", {"description": "x"}, "[1]", "[1]"),
    ("integer or null: null stays", {"type": ["integer", "null"]}, None, None),
    ("integer or null: a digit string becomes a number", {"type": ["integer", "null"]}, "3", 3),
    ("anyOf keeps a value that fits a branch", {"anyOf": [STR, INT]}, "3", "3"),
    ("anyOf converts to the first branch that can", {"anyOf": [INT, BOOL]}, "true", True),
    ("an enum string stays", {"enum": ["a", "b"]}, "a", "a"),
]


@pytest.mark.parametrize(
    ("schema", "written", "expected"), [c[1:] for c in TABLE], ids=[c[0] for c in TABLE]
)
def test_each_value_is_coerced_by_its_own_fields_schema(
    schema: dict[str, Any], written: Any, expected: Any
) -> None:
    assert coerce(written, schema, schema) == expected


def test_nested_fields_and_array_items_are_coerced_by_their_schemas() -> None:
    parameters = {
        "type": "object",
        "properties": {
            "edits": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"line": INT, "text": STR},
                },
            },
            "env": {"type": "object", "additionalProperties": STR},
        },
    }
    written = {
        "edits": '[{"line": "3", "text": "{\\"keep\\": 1}"}]',
        "env": {"DEBUG": 1},
        "unknown": "7",
    }
    assert coerce_arguments(written, parameters) == {
        "edits": [{"line": 3, "text": '{"keep": 1}'}],
        "env": {"DEBUG": "1"},
        "unknown": "7",
    }


def test_references_to_definitions_are_followed() -> None:
    parameters = {
        "type": "object",
        "properties": {"item": {"$ref": "#/$defs/Item"}},
        "$defs": {"Item": {"type": "object", "properties": {"count": INT}}},
    }
    assert coerce_arguments({"item": {"count": "2"}}, parameters) == {"item": {"count": 2}}


def test_a_recursive_schema_does_not_loop() -> None:
    parameters = {
        "type": "object",
        "properties": {"node": {"$ref": "#/$defs/Node"}},
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"n": INT, "child": {"$ref": "#/$defs/Node"}},
            }
        },
    }
    written = {"node": {"n": "1", "child": {"n": "2", "child": {"n": "3"}}}}
    assert coerce_arguments(written, parameters) == {
        "node": {"n": 1, "child": {"n": 2, "child": {"n": 3}}}
    }
