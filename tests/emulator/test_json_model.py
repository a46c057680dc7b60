"""The emulator's model asked for JSON, read by the gateway's own checker as a second opinion."""

from __future__ import annotations

import pytest

from qwen_proxy.emulator import jsonmodel
from qwen_proxy.emulator.model import Turn
from qwen_proxy.messages import ResponseFormat
from qwen_proxy.tools import check_reply, format_instruction

pytestmark = pytest.mark.unit

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "kind": {"enum": ["cat", "dog"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "owner": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
    },
    "required": ["name", "age", "kind", "tags", "owner"],
}
PERSON = ResponseFormat("json_schema", "Person", schema=SCHEMA, strict=True)


def asked(user: str, fmt: ResponseFormat = PERSON) -> Turn:
    return Turn("user", f"{user}\n\n{format_instruction(fmt)}")


def test_a_schema_is_answered_with_json_that_follows_it() -> None:
    reply = jsonmodel.json_reply([asked("describe a pet")])
    assert reply is not None
    assert check_reply(reply, PERSON).ok
    assert reply.startswith('{"name": "example", "age": 1, "kind": "cat"')


def test_json_object_without_schema_is_an_object() -> None:
    reply = jsonmodel.json_reply([asked("anything", ResponseFormat("json_object"))])
    assert reply == '{"answer": "example"}'


def test_bad_once_is_prose_and_the_correction_gets_json() -> None:
    first = asked("[[json:bad]] describe a pet")
    assert jsonmodel.json_reply([first]) == jsonmodel.PROSE
    second = [first, Turn("assistant", jsonmodel.PROSE), asked("Your last reply was not JSON.")]
    reply = jsonmodel.json_reply(second)
    assert reply is not None
    assert check_reply(reply, PERSON).ok


def test_never_stays_prose_for_the_whole_branch() -> None:
    first = asked("[[json:never]] describe a pet")
    branch = [first, Turn("assistant", jsonmodel.PROSE), asked("Again, as JSON.")]
    assert jsonmodel.json_reply(branch) == jsonmodel.PROSE


def test_fenced_json_is_found_by_the_checker() -> None:
    reply = jsonmodel.json_reply([asked("[[json:fenced]] describe a pet")])
    assert reply is not None
    assert reply.startswith("Here it is:\n```json\n")
    assert check_reply(reply, PERSON).ok


def test_no_instruction_or_an_echo_leaves_the_answer_to_the_plain_model() -> None:
    assert jsonmodel.json_reply([Turn("user", "hello")]) is None
    assert jsonmodel.json_reply([asked('echo: {"a": 1}')]) is None
