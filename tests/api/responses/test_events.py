"""The Responses stream events in order with their sequence numbers, and the response object."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from qwen_proxy.api.responses.calls import item_for
from qwen_proxy.api.responses.events import (
    OutputBuilder,
    ResponseStream,
    finished,
    response_error,
    responses_usage,
)
from qwen_proxy.api.responses.items import parse_input
from qwen_proxy.api.responses.request import ResponsesRequest, response_base
from qwen_proxy.api.responses.tools import parse_tools
from qwen_proxy.conversations.canonical import prefix_digests
from qwen_proxy.messages import ChatMessage, ToolCall
from qwen_proxy.qwen.errors import StreamCut, UpstreamRateLimited
from qwen_proxy.qwen.events import AnswerDelta, Created, Event, Finished, ReasoningDelta, Usage
from qwen_proxy.service.events import ToolCallEvent

pytestmark = pytest.mark.unit

USAGE = Usage(input_tokens=10, output_tokens=5, reasoning_tokens=2, cached_tokens=3)


def base() -> dict[str, Any]:
    request = ResponsesRequest(model="qwen3.7-plus", input=(ChatMessage("user", "hi"),))
    return response_base(request, "resp_1", 1_760_000_000)


def parse_sse(raw: bytes) -> list[dict[str, Any]]:
    out = []
    for frame in raw.decode().split("\n\n"):
        if not frame:
            continue
        name_line, data_line = frame.split("\n")
        data = orjson.loads(data_line.removeprefix("data: "))
        assert data["type"] == name_line.removeprefix("event: ")
        out.append(data)
    return out


def run(batches: list[list[Event]], finish: str = "stop") -> list[dict[str, Any]]:
    stream = ResponseStream(base())
    raw = stream.start()
    for batch in batches:
        raw += stream.events(batch)
    raw += stream.finish(finish, USAGE)
    return parse_sse(raw)


def test_reasoning_then_answer_streams_in_the_order_clients_expect() -> None:
    events = run(
        [
            [Created("c", None, "r"), ReasoningDelta("Think"), ReasoningDelta("ing")],
            [AnswerDelta("Hel"), AnswerDelta("lo")],
            [Finished()],
        ]
    )
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


def test_items_carry_their_text_ids_and_indexes() -> None:
    events = run([[ReasoningDelta("why"), AnswerDelta("A"), AnswerDelta("B")]])
    reasoning_done, message_done = (e for e in events if e["type"] == "response.output_item.done")
    assert reasoning_done["output_index"] == 0
    assert reasoning_done["item"]["summary"] == [{"type": "summary_text", "text": "why"}]
    assert message_done["output_index"] == 1
    message = message_done["item"]
    assert message["id"].startswith("msg_")
    assert message["content"][0]["text"] == "AB"
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert {d["item_id"] for d in deltas} == {message["id"]}
    assert [d["delta"] for d in deltas] == ["A", "B"]
    text_done = next(e for e in events if e["type"] == "response.output_text.done")
    assert text_done["text"] == "AB"
    completed = events[-1]["response"]
    assert completed["status"] == "completed"
    assert completed["output"] == [reasoning_done["item"], message]
    assert completed["usage"]["output_tokens_details"]["reasoning_tokens"] == 2


def test_an_empty_reply_has_no_items() -> None:
    events = run([[AnswerDelta("")], [Finished()]])
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.completed",
    ]


@pytest.mark.parametrize(
    ("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")]
)
def test_a_cut_reply_is_incomplete_with_its_reason(finish: str, reason: str) -> None:
    events = run([[AnswerDelta("partial")]], finish=finish)
    last = events[-1]
    assert last["type"] == "response.incomplete"
    assert last["response"]["status"] == "incomplete"
    assert last["response"]["incomplete_details"] == {"reason": reason}
    assert last["response"]["output"][0]["status"] == "incomplete"


def test_a_failure_closes_the_open_item_and_fails_the_response() -> None:
    stream = ResponseStream(base())
    raw = stream.start() + stream.events([AnswerDelta("half")]) + stream.failed(StreamCut(), None)
    events = parse_sse(raw)
    assert [e["type"] for e in events][-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.failed",
    ]
    failed = events[-1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "server_error", "message": StreamCut().message}
    assert stream.answer == "half"


def test_rate_limits_fail_with_the_code_the_sdks_know() -> None:
    assert response_error(UpstreamRateLimited())["code"] == "rate_limit_exceeded"


def test_the_whole_response_matches_the_streamed_one() -> None:
    builder = OutputBuilder()
    for event in [ReasoningDelta("r"), AnswerDelta("a"), AnswerDelta("b")]:
        builder.add(event)
    response = finished(base(), builder.output(), "stop", USAGE)
    assert response["object"] == "response"
    assert response["status"] == "completed"
    assert [item["type"] for item in response["output"]] == ["reasoning", "message"]
    assert response["output"][1]["content"][0]["text"] == "ab"
    assert builder.answer == "ab"
    assert response["usage"] == responses_usage(USAGE)
    assert response["usage"]["total_tokens"] == 15


def test_the_response_echoes_the_request() -> None:
    request = ResponsesRequest(
        model="m",
        input=(),
        instructions="sys",
        previous_response_id="resp_0",
        store=False,
        max_output_tokens=64,
        reasoning_effort="high",
    )
    echoed = response_base(request, "resp_1", 5)
    assert echoed["instructions"] == "sys"
    assert echoed["previous_response_id"] == "resp_0"
    assert (echoed["store"], echoed["max_output_tokens"]) == (False, 64)
    assert echoed["reasoning"] == {"effort": "high", "summary": None}
    assert echoed["text"] == {"format": {"type": "text"}}


CODEX_TOOLS = parse_tools(
    [
        {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
        {"type": "custom", "name": "apply_patch", "description": "Edit files."},
        {"type": "local_shell"},
        {"type": "namespace", "name": "agents", "tools": [{"type": "function", "name": "spawn"}]},
    ],
    None,
    True,
)


def call_events(*calls: ToolCallEvent) -> list[dict[str, Any]]:
    stream = ResponseStream(base(), CODEX_TOOLS)
    raw = stream.start() + stream.events([AnswerDelta("On it."), *calls])
    return parse_sse(raw + stream.finish("stop", USAGE))


def test_a_function_call_streams_its_arguments_then_is_done() -> None:
    events = call_events(ToolCallEvent(0, "call_1", "exec_command", '{"cmd": "ls"}'))
    kinds = [e["type"] for e in events]
    assert kinds[-6:] == [
        "response.output_item.done",  # the message before it
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    added, delta, done, item_done = events[-5:-1]
    assert added["item"]["status"] == "in_progress"
    assert added["item"]["arguments"] == ""
    assert added["output_index"] == delta["output_index"] == 1
    assert delta["item_id"] == added["item"]["id"]
    assert delta["delta"] == done["arguments"] == '{"cmd": "ls"}'
    assert item_done["item"] == {
        "id": added["item"]["id"],
        "type": "function_call",
        "status": "completed",
        "call_id": "call_1",
        "name": "exec_command",
        "arguments": '{"cmd": "ls"}',
    }
    assert [i["type"] for i in events[-1]["response"]["output"]] == ["message", "function_call"]


def test_a_custom_tool_call_streams_its_raw_input() -> None:
    patch = "*** Begin Patch\n*** Add File: a.py\n+print('hi')\n*** End Patch"
    arguments = orjson.dumps({"input": patch}).decode()
    events = call_events(ToolCallEvent(0, "call_2", "apply_patch", arguments))
    kinds = [e["type"] for e in events]
    assert "response.custom_tool_call_input.delta" in kinds
    done = next(e for e in events if e["type"] == "response.custom_tool_call_input.done")
    assert done["input"] == patch
    item = events[-2]["item"]
    assert (item["type"], item["name"], item["input"], item["call_id"]) == (
        "custom_tool_call",
        "apply_patch",
        patch,
        "call_2",
    )


def test_a_local_shell_call_is_an_exec_action() -> None:
    arguments = '{"command": ["bash", "-lc", "ls"], "workdir": "/repo", "timeout_ms": 1000}'
    events = call_events(ToolCallEvent(0, "call_3", "local_shell", arguments))
    assert [e["type"] for e in events[-4:-1]] == [
        "response.output_item.done",
        "response.output_item.added",
        "response.output_item.done",
    ]
    item = events[-2]["item"]
    assert item["type"] == "local_shell_call"
    assert item["call_id"] == "call_3"
    assert item["action"] == {
        "type": "exec",
        "command": ["bash", "-lc", "ls"],
        "timeout_ms": 1000,
        "working_directory": "/repo",
        "env": {},
        "user": None,
    }


def test_a_namespaced_call_names_its_namespace() -> None:
    builder = OutputBuilder(CODEX_TOOLS)
    builder.add(ToolCallEvent(0, "call_4", "agents.spawn", "{}"))
    (item,) = builder.output()
    assert (item["type"], item["namespace"], item["name"]) == ("function_call", "agents", "spawn")
    assert [c.id for c in builder.calls] == ["call_4"]


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("local_shell", '{"command": ["ls", "-a"], "workdir": "/r"}'),
        ("local_shell", '{"command": ["ls"], "timeout_ms": 5}'),
        ("apply_patch", '{"input": "*** Begin Patch\\n\\"x\\"\\n"}'),
        ("agents.spawn", '{"message": "go"}'),
    ],
)
def test_a_call_item_sent_back_is_the_call_the_conversation_holds(
    name: str, arguments: str
) -> None:
    """The agent's echo of an item must have the identity of the recorded call."""
    item = item_for(ToolCallEvent(0, "call_5", name, arguments), CODEX_TOOLS)
    (message,) = parse_input([{k: v for k, v in item.items() if k != "status"}])
    (echoed,) = message.tool_calls
    recorded = ChatMessage("assistant", "", tool_calls=(ToolCall("call_5", name, arguments),))
    assert prefix_digests("t", [message]) == prefix_digests("t", [recorded])
    assert echoed.id == "call_5"
