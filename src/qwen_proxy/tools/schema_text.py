"""Tool parameters rendered compactly from their JSON schema, one line per field.

::

    - path (string, required): Path of the file.
    - mode ("read" | "write", default "read")
    - edits (array of object, required): The edits, in order.
      - old (string, required)
      - new (string, required)
    - env (object of string)

A line holds the field's type (enums as their literals, unions joined by ``|``), ``required``,
the default and the constraints a model needs to get right; nested objects and arrays of objects
are indented below their field. Multi-line descriptions keep their lines (agents put format
examples there), indented under the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from qwen_proxy.tools.schema import (
    Schema,
    branches,
    merged,
    properties_of,
    required_of,
    types_of,
)

#: nesting shown before a field is summarised as its type alone
MAX_DEPTH = 6
MAX_ENUM = 25
_CONSTRAINTS = (
    ("format", "format"),
    ("minimum", "min"),
    ("maximum", "max"),
    ("minLength", "min length"),
    ("maxLength", "max length"),
    ("minItems", "min items"),
    ("maxItems", "max items"),
    ("pattern", "pattern"),
)


def _literal(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def type_label(schema: Any, root: Schema, depth: int = 0) -> str:
    """A field's type in a few words: ``string``, ``"a" | "b"``, ``array of object``..."""
    schema = merged(schema, root)
    if depth > MAX_DEPTH:
        return "any"
    if "const" in schema:
        return _literal(schema["const"])
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        shown = " | ".join(_literal(v) for v in enum[:MAX_ENUM])
        return shown + (" | ..." if len(enum) > MAX_ENUM else "")
    options = branches(schema)
    if options:
        labels = dict.fromkeys(type_label(b, root, depth + 1) for b in options)
        return " | ".join(labels)
    kinds = types_of(schema)
    if not kinds:
        return "any"
    return " | ".join(_one_type(kind, schema, root, depth) for kind in kinds)


def _one_type(kind: str, schema: Schema, root: Schema, depth: int) -> str:
    if kind == "array" and "items" in schema:
        return "array of " + type_label(schema["items"], root, depth + 1)
    extra = schema.get("additionalProperties")
    if kind == "object" and not properties_of(schema) and isinstance(extra, Mapping):
        return "object of " + type_label(extra, root, depth + 1)
    return kind


def _notes(schema: Schema, required: bool) -> list[str]:
    notes = ["required"] if required else []
    if "default" in schema:
        notes.append("default " + _literal(schema["default"]))
    for key, word in _CONSTRAINTS:
        if key in schema and isinstance(schema[key], (str, int, float)):
            value = schema[key]
            notes.append(f"{word} {value if not isinstance(value, str) else _literal(value)}")
    return notes


def _children(schema: Schema, root: Schema) -> Schema | None:
    """The object schema whose fields are listed under a field, if any."""
    for candidate in [schema, *branches(schema)]:
        candidate = merged(candidate, root)
        if "array" in types_of(candidate) and "items" in candidate:
            candidate = merged(candidate["items"], root)
        if properties_of(candidate):
            return candidate
    return None


def field_lines(schema: Any, root: Schema, indent: str = "", depth: int = 0) -> list[str]:
    """One line per property of an object schema (and its nested fields, indented)."""
    schema = merged(schema, root)
    required = required_of(schema)
    lines: list[str] = []
    for name, raw in properties_of(schema).items():
        field = merged(raw, root)
        head = f"{type_label(field, root, depth)}"
        notes = _notes(field, name in required)
        line = f"{indent}- {name} ({', '.join([head, *notes])})"
        description = str(field.get("description") or "").strip()
        if description:
            first, *rest = description.splitlines()
            line += f": {first}"
            lines.append(line)
            lines.extend(f"{indent}  {more}".rstrip() for more in rest)
        else:
            lines.append(line)
        nested = _children(field, root)
        if nested is not None and depth < MAX_DEPTH:
            lines.extend(field_lines(nested, root, indent + "  ", depth + 1))
    return lines


def parameters_text(parameters: Schema) -> str:
    """The ``Parameters:`` section of one tool."""
    lines = field_lines(parameters, parameters)
    if lines:
        return "Parameters:\n" + "\n".join(lines)
    kinds = types_of(merged(parameters, parameters))
    if kinds and kinds != ("object",):
        return "Arguments: " + type_label(parameters, parameters)
    return "Parameters: none (arguments is {})"
