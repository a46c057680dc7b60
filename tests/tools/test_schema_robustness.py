"""Client schemas are not validated by the gateway: odd ones must never break the tool layer."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_proxy.tools.coerce import coerce
from qwen_proxy.tools.schema_text import parameters_text
from qwen_proxy.tools.validate import validate

pytestmark = pytest.mark.unit

KEYS = st.sampled_from(
    [
        "type", "properties", "items", "required", "enum", "const", "anyOf", "oneOf", "allOf",
        "$ref", "$defs", "additionalProperties", "description", "default", "minimum",
        "pattern", "minItems", "prefixItems", "x",
    ]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["string", "integer", "object", "array", "null", "#", "#/$defs/a", "(", ""]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(KEYS | st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=120, deadline=None)
@given(schema=st.dictionaries(KEYS, JSON, max_size=5), value=JSON)
def test_any_schema_renders_coerces_and_validates_without_error(
    schema: dict[str, Any], value: Any
) -> None:
    assert isinstance(parameters_text(schema), str)
    coerce(value, schema, schema)
    assert all(error.path.startswith("$") for error in validate(value, schema))


def test_a_reference_cycle_renders_and_validates() -> None:
    schema = {
        "$ref": "#/$defs/a",
        "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
    }
    assert parameters_text(schema)
    assert validate({}, schema) == []
