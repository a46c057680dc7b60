"""Reading JSON schemas as clients send them: local ``$ref``s, type sets, union branches.

Shared by the prompt renderer, argument coercion and the structured-output validator, so all
three agree on what a schema says. Only local references (``#/$defs/X``, ``#/definitions/X``,
any ``#/...`` JSON pointer) are followed; others count as "anything".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Schema = Mapping[str, Any]
#: how deep a chain of ``$ref``s may go before it is treated as "anything" (recursive schemas)
MAX_REF_HOPS = 32


def resolve(schema: Any, root: Schema) -> Schema:
    """``schema`` with its ``$ref`` chain followed inside ``root``; ``{}`` when it cannot be.

    Keywords beside a ``$ref`` (a description, a default) are kept, the target's fill the rest.
    """
    if not isinstance(schema, Mapping):
        return {}
    hops = 0
    while isinstance(schema.get("$ref"), str):
        target = _pointer(root, schema["$ref"])
        hops += 1
        if target is None or hops > MAX_REF_HOPS:
            return {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    resolved: Schema = schema
    return resolved


def _pointer(root: Schema, ref: str) -> Schema | None:
    if not ref.startswith("#"):
        return None
    node: Any = root
    for raw in ref[1:].split("/")[1:]:
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return node if isinstance(node, Mapping) else None


def types_of(schema: Schema) -> tuple[str, ...]:
    """The JSON types a (resolved) schema names; inferred from ``properties``/``items`` when
    ``type`` is absent; empty when it says nothing about the type."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return (declared,)
    if isinstance(declared, list):
        return tuple(t for t in declared if isinstance(t, str))
    if "properties" in schema or "additionalProperties" in schema:
        return ("object",)
    if "items" in schema:
        return ("array",)
    return ()


def branches(schema: Schema) -> list[Any]:
    """The alternatives of an ``anyOf``/``oneOf`` (unresolved), empty when there are none."""
    for key in ("anyOf", "oneOf"):
        value = schema.get(key)
        if isinstance(value, list) and value:
            return value
    return []


def merged(schema: Schema, root: Schema, _depth: int = 0) -> Schema:
    """A resolved schema with its ``allOf`` parts folded in (properties and required joined)."""
    schema = resolve(schema, root)
    parts = schema.get("allOf")
    if not isinstance(parts, list) or _depth > MAX_REF_HOPS:
        return schema
    out: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    properties: dict[str, Any] = dict(properties_of(out))
    required: list[str] = list(required_of(out))
    for part in parts:
        part = merged(part, root, _depth + 1)
        properties.update(properties_of(part))
        required.extend(r for r in required_of(part) if r not in required)
        for key, value in part.items():
            out.setdefault(key, value)
    if properties:
        out["properties"] = properties
    if required:
        out["required"] = required
    return out


def properties_of(schema: Schema) -> Mapping[str, Any]:
    """The ``properties`` of a resolved schema, ``{}`` when there are none or they are bad."""
    value = schema.get("properties")
    return value if isinstance(value, Mapping) else {}


def required_of(schema: Schema) -> tuple[str, ...]:
    """The names a resolved schema lists as ``required``, in their order, once each."""
    value = schema.get("required")
    if not isinstance(value, list):
        return ()
    return tuple(dict.fromkeys(v for v in value if isinstance(v, str)))
