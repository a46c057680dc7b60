"""A small JSON-schema validator: the subset structured outputs use, with readable errors.

Covered: ``type`` (one or a list; ``integer`` excludes booleans and fractions), ``enum``,
``const``, ``properties``, ``required``, ``additionalProperties`` (``false`` or a schema),
``items``, ``prefixItems``, ``minItems``/``maxItems``, ``minLength``/``maxLength``,
``pattern``, ``minimum``/``maximum`` and their exclusive forms, ``anyOf``, ``oneOf``,
``allOf``, local ``$ref``. This is the set OpenAI's strict structured outputs accept. Other
keywords (``format``, ``if``/``then``, ...) are not checked: a reply is never refused over a
keyword this module does not know.

Written here rather than taken from ``jsonschema``: that package brings three more packages
(one compiled) into the gateway for a check that runs once per structured reply, and its
messages would still need rewriting into a short correction a model can act on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qwen_proxy.tools.coerce import fits
from qwen_proxy.tools.schema import Schema, properties_of, required_of, resolve

#: errors collected before the validator stops looking
MAX_ERRORS = 20
_LIMITS = (
    ("minimum", "at least"),
    ("maximum", "at most"),
    ("exclusiveMinimum", "more than"),
    ("exclusiveMaximum", "less than"),
)


@dataclass(frozen=True, slots=True)
class SchemaError:
    """One place where a value breaks its schema; ``path`` like ``$.items[2].name``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _is(value: Any, kind: str) -> bool:
    # JSON Schema counts 1.0 as an integer: the number has no fraction, whatever its spelling
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return fits(value, kind)


def validate(value: Any, schema: Schema, root: Schema | None = None) -> list[SchemaError]:
    """Every way ``value`` breaks ``schema`` (at most :data:`MAX_ERRORS`), empty when valid."""
    errors: list[SchemaError] = []
    _check(value, schema, schema if root is None else root, "$", errors)
    return errors[:MAX_ERRORS]


def _check(value: Any, schema: Any, root: Schema, path: str, errors: list[SchemaError]) -> None:
    if len(errors) >= MAX_ERRORS or schema is True:
        return
    if schema is False:
        errors.append(SchemaError(path, "no value is allowed here"))
        return
    schema = resolve(schema, root)
    start = len(errors)
    _check_type(value, schema, path, errors)
    if len(errors) > start:
        return  # the rest would only repeat the type error
    if "const" in schema and value != schema["const"]:
        errors.append(SchemaError(path, f"must be {json.dumps(schema['const'])}"))
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        shown = ", ".join(json.dumps(v, ensure_ascii=False) for v in enum[:20])
        errors.append(SchemaError(path, f"must be one of {shown}"))
    _check_union(value, schema, root, path, errors)
    if isinstance(value, dict):
        _check_object(value, schema, root, path, errors)
    elif isinstance(value, list):
        _check_array(value, schema, root, path, errors)
    elif isinstance(value, str):
        _check_string(value, schema, path, errors)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(value, schema, path, errors)


def _check_type(value: Any, schema: Schema, path: str, errors: list[SchemaError]) -> None:
    declared = schema.get("type")
    listed = declared if isinstance(declared, list) else [declared]
    kinds = [k for k in listed if isinstance(k, str)]
    if kinds and not any(_is(value, k) for k in kinds):
        errors.append(SchemaError(path, f"expected {' or '.join(kinds)}, got {_kind(value)}"))


def _check_union(
    value: Any, schema: Schema, root: Schema, path: str, errors: list[SchemaError]
) -> None:
    parts = schema.get("allOf")
    for part in parts if isinstance(parts, list) else []:
        _check(value, part, root, path, errors)
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if not isinstance(options, list) or not options:
            continue
        passing = sum(1 for option in options if not validate(value, option, root))
        if passing == 0:
            errors.append(SchemaError(path, f"matches none of the {len(options)} allowed forms"))
        elif key == "oneOf" and passing > 1:
            errors.append(SchemaError(path, "matches more than one of the allowed forms"))


def _check_object(
    value: dict[str, Any], schema: Schema, root: Schema, path: str, errors: list[SchemaError]
) -> None:
    fields = properties_of(schema)
    for name in required_of(schema):
        if name not in value:
            errors.append(SchemaError(path, f"missing required field {json.dumps(name)}"))
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        where = f"{path}.{name}" if re.fullmatch(r"\w+", name) else f"{path}[{json.dumps(name)}]"
        if name in fields:
            _check(item, fields[name], root, where, errors)
        elif extra is False:
            errors.append(SchemaError(path, f"field {json.dumps(name)} is not allowed"))
        elif isinstance(extra, Mapping):
            _check(item, extra, root, where, errors)


def _check_array(
    value: list[Any], schema: Schema, root: Schema, path: str, errors: list[SchemaError]
) -> None:
    prefix = schema.get("prefixItems")
    prefix = prefix if isinstance(prefix, list) else []
    for i, item in enumerate(value):
        if i < len(prefix):
            _check(item, prefix[i], root, f"{path}[{i}]", errors)
        elif "items" in schema:
            _check(item, schema["items"], root, f"{path}[{i}]", errors)
    _bounds(len(value), schema, "minItems", "maxItems", "items", path, errors)


def _check_string(value: str, schema: Schema, path: str, errors: list[SchemaError]) -> None:
    _bounds(len(value), schema, "minLength", "maxLength", "characters", path, errors)
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            matched = re.search(pattern, value) is not None
        except re.error:
            matched = True  # a pattern Python cannot read is not held against the reply
        if not matched:
            errors.append(SchemaError(path, f"must match the pattern {pattern}"))


def _check_number(value: float, schema: Schema, path: str, errors: list[SchemaError]) -> None:
    for key, words in _LIMITS:
        bound = schema.get(key)
        if not isinstance(bound, (int, float)) or isinstance(bound, bool):
            continue
        broken = {
            "minimum": value < bound,
            "maximum": value > bound,
            "exclusiveMinimum": value <= bound,
            "exclusiveMaximum": value >= bound,
        }[key]
        if broken:
            errors.append(SchemaError(path, f"must be {words} {bound}"))


def _bounds(
    size: int, schema: Schema, low: str, high: str, unit: str, path: str, errors: list[SchemaError]
) -> None:
    least, most = schema.get(low), schema.get(high)
    if isinstance(least, int) and size < least:
        errors.append(SchemaError(path, f"must have at least {least} {unit}"))
    if isinstance(most, int) and size > most:
        errors.append(SchemaError(path, f"must have at most {most} {unit}"))
