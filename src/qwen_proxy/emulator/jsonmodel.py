"""The emulator's model asked for JSON: a value made from the schema the prompt gives.

Independent of the gateway (like ``toolmodel``): it recognises the gateway's output-format
instruction by its own pattern. Active when the last message holds
``[Output format: reply with one valid JSON ...]`` and no ``echo:`` (echo answers first):

* ``[[json:bad]]`` in the last message: prose instead of JSON (a corrective turn then gets JSON);
* ``[[json:never]]`` anywhere in the branch: prose every time;
* ``[[json:fenced]]`` in the last message: the JSON inside a fenced block after a sentence;
* otherwise the JSON alone: for a schema, an object with every property (string
  ``"example"``, integer 1, number 1.5, boolean true, array ``[]``, an enum's first value,
  nested objects filled the same way); without one, ``{"answer": "example"}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from qwen_proxy.emulator.model import Turn

INSTRUCTION = "[Output format: reply with one valid JSON"
PROSE = "Here is the data you asked for, in words."
_SCHEMA = re.compile(r"JSON schema[^:]*: ")
_MAGIC = re.compile(r"\[\[json:([a-z_]+)\]\]", re.IGNORECASE)
_DECODER = json.JSONDecoder()
_ECHO = re.compile(r"echo: ", re.IGNORECASE)


def example(schema: Any) -> Any:
    """A value following ``schema`` (the subset the gateway's tests use)."""
    if not isinstance(schema, dict):
        return "example"
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return example(schema[key][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        return {name: example(sub) for name, sub in schema.get("properties", {}).items()}
    return {
        "integer": 1,
        "number": 1.5,
        "boolean": True,
        "null": None,
        "array": [],
    }.get(str(kind), "example")


def _schema(text: str) -> Any:
    found = _SCHEMA.search(text)
    if found is None:
        return None
    try:
        return _DECODER.raw_decode(text, found.end())[0]
    except ValueError:
        return None


def json_reply(branch: Sequence[Turn]) -> str | None:
    """The reply when the last message asks for JSON output, None otherwise."""
    if not branch:
        return None
    text = branch[-1].text
    if INSTRUCTION not in text or _ECHO.search(text):
        return None
    words = {m.lower() for m in _MAGIC.findall(text)}
    never = any("[[json:never]]" in t.text.lower() for t in branch if t.role == "user")
    if never or "bad" in words:
        return PROSE
    schema = _schema(text)
    value = example(schema) if schema is not None else {"answer": "example"}
    body = json.dumps(value, ensure_ascii=False)
    if "fenced" in words:
        return f"Here it is:\n```json\n{body}\n```"
    return body
