"""Structured output (``response_format``) served by prompt and checked on the way back.

The upstream has no JSON mode, so the model is asked for JSON (:func:`format_instruction`,
appended to the new message like the tool reminder), and the reply is read back with
:func:`check_reply`: the JSON is taken out of any fence or surrounding words, decoded
forgivingly, and checked against the schema. A failed check carries the corrective message
for the one hidden retry; if the retry fails too, the caller answers with a clear error.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

from qwen_proxy.messages import ResponseFormat
from qwen_proxy.tools.jsonish import loads_lenient, without_trailing_commas
from qwen_proxy.tools.validate import SchemaError, validate

_FENCED = re.compile(r"```[^\n`]*\n(.*?)\n?\s*```", re.DOTALL)
_DECODER = json.JSONDecoder()
#: brackets tried as the start of the JSON before giving up (bounds the work on long prose)
_MAX_STARTS = 64


@dataclass(frozen=True, slots=True)
class Checked:
    """A reply read as structured output: the clean JSON text, or what is wrong with it."""

    json_text: str | None
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the reply can be returned."""
        return self.json_text is not None and not self.errors


def format_instruction(fmt: ResponseFormat) -> str | None:
    """The sentence(s) asking for JSON, None for plain text."""
    if fmt.kind == "json_object":
        return (
            "[Output format: reply with one valid JSON object only: no words before or after "
            "it, no code fence.]"
        )
    if fmt.kind != "json_schema":
        return None
    schema = json.dumps(fmt.schema or {}, ensure_ascii=False, separators=(",", ":"))
    label = f' "{fmt.name}"' if fmt.name else ""
    about = f" ({fmt.description})" if fmt.description else ""
    exact = " Every required field must be present and no other field." if fmt.strict else ""
    return (
        f"[Output format: reply with one valid JSON value only, no words before or after it, "
        f"no code fence. It must follow this JSON schema{label}{about}: {schema}.{exact}]"
    )


def extract_json(text: str) -> Any:
    """The JSON value a reply holds: the whole reply, a fenced block, or the first object or
    array in it; ``ValueError`` when there is none."""
    stripped = text.strip()
    try:
        return loads_lenient(stripped)
    except ValueError:
        pass
    for block in _FENCED.finditer(stripped):
        try:
            return loads_lenient(block.group(1))
        except ValueError:
            continue
    repaired = without_trailing_commas(stripped)
    starts = (i for i, ch in enumerate(repaired) if ch in "{[")
    for start in itertools.islice(starts, _MAX_STARTS):
        try:
            return _DECODER.raw_decode(repaired, start)[0]
        except ValueError:
            continue
    raise ValueError("the reply holds no JSON value")


def check_reply(text: str, fmt: ResponseFormat) -> Checked:
    """Read a whole reply as ``fmt`` asks; the JSON text to return or the problems found."""
    try:
        value = extract_json(text)
    except ValueError:
        return Checked(None, ("the reply is not valid JSON",))
    clean = json.dumps(value, ensure_ascii=False)
    if fmt.kind == "json_object" and not isinstance(value, dict):
        return Checked(clean, ("the reply must be a JSON object",))
    if fmt.kind == "json_schema" and fmt.schema:
        problems: list[SchemaError] = validate(value, fmt.schema)
        return Checked(clean, tuple(str(p) for p in problems))
    return Checked(clean)


def correction(checked: Checked, fmt: ResponseFormat) -> str:
    """The hidden follow-up message of the one corrective retry."""
    what = "; ".join(checked.errors[:10]) or "it was not valid"
    ask = format_instruction(fmt) or ""
    return f"Your last reply could not be used: {what}. Reply again with the corrected JSON. {ask}"
