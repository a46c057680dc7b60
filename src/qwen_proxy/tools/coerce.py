"""Arguments brought to the types the tool's schema declares, and only those.

Models write ``"5"`` for an integer, put JSON text where an object belongs, or decode a JSON
string (a file's content) into an object. Each value is looked at against its own field's
schema:

==========================  ===========================================================
schema says                 the value is changed when
==========================  ===========================================================
string                      it is a number or boolean (written as JSON) or an object or
                            array (serialised as indented JSON); a string is never
                            decoded, even when it holds JSON; null stays null
integer                     it is a string of an integer, or a float with no fraction
number                      it is a string of a number
boolean                     it is ``"true"``/``"false"`` in any case
null                        it is ``"null"``
object / array              it is a string holding a JSON object / array (then its
                            fields are looked at in turn)
nothing (no type)           never
==========================  ===========================================================

A union (``anyOf``/``oneOf``/a type list) leaves a value that already fits one branch alone,
else takes the first branch that can convert it. A value that cannot be converted is left as
written: the tool gets what the model meant to send, and can report the error itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from qwen_proxy.tools.jsonish import loads_lenient
from qwen_proxy.tools.schema import Schema, branches, merged, properties_of, types_of

_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_NO_CHANGE = object()


def fits(value: Any, kind: str) -> bool:
    """Whether ``value`` already is of JSON type ``kind``."""
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    return True


def _convert(value: Any, kind: str) -> Any:
    """``value`` converted to ``kind``, or ``_NO_CHANGE`` when it cannot be."""
    if kind == "string":
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False, indent=2)
        if isinstance(value, (bool, int, float)):
            return json.dumps(value)
        return _NO_CHANGE
    if not isinstance(value, str):
        if kind == "integer" and isinstance(value, float) and value.is_integer():
            return int(value)
        return _NO_CHANGE
    text = value.strip()
    if kind == "integer" and _INTEGER.fullmatch(text):
        return int(text)
    if kind == "number" and _NUMBER.fullmatch(text):
        number = float(text)
        return int(number) if _INTEGER.fullmatch(text) else number
    if kind == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if kind == "null" and text.lower() in ("null", "none"):
        return None
    if kind in ("object", "array") and text[:1] in "{[":
        try:
            decoded = loads_lenient(text)
        except ValueError:
            return _NO_CHANGE
        if fits(decoded, kind):
            return decoded
    return _NO_CHANGE


def coerce(value: Any, schema: Any, root: Schema) -> Any:
    """``value`` with every field brought to its schema's type where it can be."""
    schema = merged(schema, root)
    options = branches(schema)
    if options:
        resolved = [merged(b, root) for b in options]
        for branch in resolved:
            if any(fits(value, kind) for kind in types_of(branch)):
                return _inside(value, branch, root)
        for branch in resolved:
            for kind in types_of(branch):
                converted = _convert(value, kind)
                if converted is not _NO_CHANGE:
                    return _inside(converted, branch, root)
        return value
    kinds = types_of(schema)
    if not kinds or any(fits(value, kind) for kind in kinds):
        return _inside(value, schema, root)
    for kind in kinds:
        converted = _convert(value, kind)
        if converted is not _NO_CHANGE:
            return _inside(converted, schema, root)
    return value


def _inside(value: Any, schema: Schema, root: Schema) -> Any:
    """Coerce the fields of an object or the items of an array by their own schemas."""
    if isinstance(value, dict):
        fields = properties_of(schema)
        extra = schema.get("additionalProperties")
        out = {}
        for key, item in value.items():
            if key in fields:
                out[key] = coerce(item, fields[key], root)
            elif isinstance(extra, Mapping):
                out[key] = coerce(item, extra, root)
            else:
                out[key] = item
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [coerce(item, schema["items"], root) for item in value]
    return value


def coerce_arguments(arguments: dict[str, Any], parameters: Schema) -> dict[str, Any]:
    """A call's arguments coerced by the tool's ``parameters`` schema."""
    result = coerce(arguments, parameters, parameters)
    return result if isinstance(result, dict) else arguments
