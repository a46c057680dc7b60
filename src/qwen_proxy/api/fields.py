"""Typed readers for request fields, and OpenAI's wording for what is wrong with them.

``null`` counts as absent, as in OpenAI's API. Shared by the request and message validators.
"""

from __future__ import annotations

from qwen_proxy.errors import InvalidRequest


def opt_bool(obj: dict[str, object], key: str, prefix: str = "") -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise type_error(prefix + key, "a boolean", value)


def opt_str(obj: dict[str, object], key: str, prefix: str = "") -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise type_error(prefix + key, "a string", value)


def required_str(obj: dict[str, object], key: str, prefix: str = "") -> str:
    value = obj.get(key)
    if isinstance(value, str):
        return value
    if value is None:
        raise missing(prefix + key)
    raise type_error(prefix + key, "a string", value)


def opt_object(obj: dict[str, object], key: str, prefix: str = "") -> dict[str, object] | None:
    value = obj.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise type_error(prefix + key, "an object", value)


def opt_int(
    obj: dict[str, object], key: str, low: int | None = None, high: int | None = None
) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    # bool is an int subclass in Python, but true is not a number in JSON
    if not isinstance(value, int) or isinstance(value, bool):
        raise type_error(key, "an integer", value)
    check_range(key, value, low, high, "integer")
    return value


def opt_number(obj: dict[str, object], key: str, low: int, high: int) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise type_error(key, "a number", value)
    check_range(key, value, low, high, "decimal")
    return float(value)


def check_range(param: str, value: float, low: int | None, high: int | None, noun: str) -> None:
    if low is not None and value < low:
        raise InvalidRequest(
            f"Invalid '{param}': {noun} below minimum value. "
            f"Expected a value >= {low}, but got {value} instead.",
            param=param,
            code=f"{noun}_below_min_value",
        )
    if high is not None and value > high:
        raise InvalidRequest(
            f"Invalid '{param}': {noun} above maximum value. "
            f"Expected a value <= {high}, but got {value} instead.",
            param=param,
            code=f"{noun}_above_max_value",
        )


# --- OpenAI's error wording -------------------------------------------------------------------


def kind_of(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def missing(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def type_error(param: str, expected: str, value: object) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid type for '{param}': expected {expected}, but got {kind_of(value)} instead.",
        param=param,
        code="invalid_type",
    )


def invalid_value(param: str, value: str, supported: tuple[str, ...]) -> InvalidRequest:
    quoted = [f"'{option}'" for option in supported]
    if len(quoted) > 2:
        listed = ", ".join(quoted[:-1]) + ", and " + quoted[-1]
    else:
        listed = " and ".join(quoted)
    return InvalidRequest(
        f"Invalid value: '{value}'. Supported values are: {listed}.",
        param=param,
        code="invalid_value",
    )


def empty_array(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid '{param}': empty array. Expected an array with minimum length 1, "
        "but got an empty array instead.",
        param=param,
        code="empty_array",
    )


def empty_string(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid '{param}': empty string. Expected a string with minimum length 1, "
        "but got an empty string instead.",
        param=param,
        code="empty_string",
    )
