"""Typed readers for Messages request fields, with Anthropic's wording for what is wrong.

Anthropic names a field by its dotted path (``messages.1.content.0.type``) at the start of the
message; its error object has no separate parameter, so the path is in the text (and kept in
``param`` for logs). ``null`` counts as absent.
"""

from __future__ import annotations

from qwen_proxy.api.fields import kind_of
from qwen_proxy.errors import InvalidRequest


def problem(path: str, text: str) -> InvalidRequest:
    """An invalid_request_error whose message starts with the field's path."""
    return InvalidRequest(f"{path}: {text}", param=path)


def missing(path: str) -> InvalidRequest:
    """A required field is absent."""
    return problem(path, "Field required")


def wrong_type(path: str, expected: str, value: object) -> InvalidRequest:
    """A field of the wrong JSON type (``expected`` as in "a valid string")."""
    return problem(path, f"Input should be {expected} (got {kind_of(value)})")


def one_of(path: str, value: object, allowed: tuple[str, ...]) -> InvalidRequest:
    """A field whose value is none of ``allowed``."""
    quoted = [f"'{option}'" for option in allowed]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return problem(path, f"Input should be {listed} (got {value!r})")


def opt_str(obj: dict[str, object], key: str, prefix: str = "") -> str | None:
    """A string field or None."""
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise wrong_type(prefix + key, "a valid string", value)


def req_str(obj: dict[str, object], key: str, prefix: str = "") -> str:
    """A required string field."""
    value = obj.get(key)
    if isinstance(value, str):
        return value
    if value is None:
        raise missing(prefix + key)
    raise wrong_type(prefix + key, "a valid string", value)


def opt_bool(obj: dict[str, object], key: str, prefix: str = "") -> bool | None:
    """A boolean field or None."""
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise wrong_type(prefix + key, "a valid boolean", value)


def opt_int(obj: dict[str, object], key: str, minimum: int, prefix: str = "") -> int | None:
    """An integer field of at least ``minimum``, or None."""
    value = obj.get(key)
    if value is None:
        return None
    # bool is an int subclass in Python, but true is not a number in JSON
    if not isinstance(value, int) or isinstance(value, bool):
        raise wrong_type(prefix + key, "a valid integer", value)
    if value < minimum:
        raise problem(prefix + key, f"Input should be greater than or equal to {minimum}")
    return value


def opt_number(obj: dict[str, object], key: str, low: float, high: float) -> float | None:
    """A number field within ``[low, high]``, or None."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise wrong_type(key, "a valid number", value)
    if not low <= value <= high:
        raise problem(key, f"Input should be between {low:g} and {high:g} (got {value})")
    return float(value)


def opt_object(obj: dict[str, object], key: str, prefix: str = "") -> dict[str, object] | None:
    """An object field or None."""
    value = obj.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise wrong_type(prefix + key, "a valid dictionary", value)


def opt_list(obj: dict[str, object], key: str, prefix: str = "") -> list[object] | None:
    """An array field or None."""
    value = obj.get(key)
    if value is None or isinstance(value, list):
        return value
    raise wrong_type(prefix + key, "a valid list", value)
