"""The completion service with tools, over an in-memory upstream: what every face receives.

Face-neutral: these tests read ``Reply.next_batch()`` as any face does, so the rules hold for
the OpenAI, Anthropic and Responses faces alike.
"""

from __future__ import annotations

from typing import Any

import pytest

from qwen_proxy.accounts import ManualClock
from qwen_proxy.conversations.resolver import record_keys
from qwen_proxy.messages import (
    ChatMessage,
    CompletionRequest,
    ResponseFormat,
    ToolCall,
    ToolChoice,
    ToolDefinition,
)
from qwen_proxy.qwen.events import AnswerDelta, ReasoningDelta
from qwen_proxy.service.completion import CompletionService
from qwen_proxy.service.events import ReplyEvent, ToolCallEvent
from qwen_proxy.service.reply import Reply
from qwen_proxy.service.tool_reply import InvalidStructuredOutput, ToolReply
from qwen_proxy.service.tooling import Tooling
from service_support import (
    FINISHED,
    MODEL,
    Answer,
    Chunks,
    FakeUpstream,
    Sleeps,
    answer,
    catalog,
    fake_settings,
    memory_store,
    service_pool,
    sse,
)
from tools_support import AGENT_TOOLS

pytestmark = pytest.mark.unit

TENANT = "tenant"
TOOLS = tuple(
    ToolDefinition(t["function"]["name"], t["function"]["description"], t["function"]["parameters"])  # type: ignore[index]
    for t in AGENT_TOOLS
)
BLOCK = '<qp:call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n</qp:call>'


def request(*messages: ChatMessage, **fields: Any) -> CompletionRequest:
    fields.setdefault("tools", TOOLS)
    return CompletionRequest(model=MODEL, messages=messages, **fields)


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", text=text)


def think(text: str) -> bytes:
    return sse({"choices": [{"delta": {"content": text, "phase": "think", "status": "typing"}}]})


def pieces(text: str, size: int) -> Chunks:
    """The answer ``text`` in deltas of ``size`` characters, then the end."""
    parts = [answer(text[i : i + size]) for i in range(0, len(text), size)]
    return Chunks((*parts, FINISHED))


class Harness:
    """A service over a fake upstream with one account and a memory store."""

    def __init__(self) -> None:
        clock = ManualClock()
        self.upstream = FakeUpstream()
        self.store = memory_store(clock)
        self.service = CompletionService(
            fake_settings(),
            self.upstream,
            catalog(),
            service_pool(clock),
            self.store,
            clock=clock.wall,
            sleep=Sleeps(),
        )

    async def run(self, req: CompletionRequest) -> tuple[Reply, list[list[ReplyEvent]]]:
        """Open the reply and read it to its end; its batches as a face receives them."""
        reply = await self.service.open(req, TENANT)
        batches = []
        while (batch := await reply.next_batch()) is not None:
            batches.append(batch)
        await reply.aclose()
        return reply, batches


async def read_to_the_end(reply: Reply) -> None:
    while await reply.next_batch() is not None:
        pass


def flat(batches: list[list[ReplyEvent]]) -> list[ReplyEvent]:
    return [event for batch in batches for event in batch]


def text_of(events: list[ReplyEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, AnswerDelta))


def calls_of(events: list[ReplyEvent]) -> list[ToolCallEvent]:
    return [e for e in events if isinstance(e, ToolCallEvent)]


async def test_a_plain_request_gets_a_plain_reply_keyed_as_before() -> None:
    h = Harness()
    messages = (user("hi"),)
    reply, _ = await h.run(CompletionRequest(model=MODEL, messages=messages))
    assert type(reply) is Reply
    key = record_keys(TENANT, messages, ChatMessage(role="assistant", text="ok"))
    assert await h.store.get_first([key]) is not None


async def test_a_call_is_emitted_whole_once_its_block_closed_and_text_streams_before_it() -> None:
    h = Harness()
    h.upstream.then(pieces(f"Let me look.\n{BLOCK}", 3))
    reply, batches = await h.run(request(user("look at a.py")))
    assert isinstance(reply, ToolReply)
    events = flat(batches)
    calls = calls_of(events)
    assert [(c.index, c.name, c.arguments) for c in calls] == [(0, "read_file", '{"path": "a.py"}')]
    assert calls[0].id.startswith("call_")
    assert text_of(events) == "Let me look.\n"
    # the text went out in the first batches, long before the block was complete
    assert text_of(batches[0]) == "Let"
    assert reply.made_calls


async def test_the_node_is_recorded_with_the_calls_so_the_agents_echo_continues_the_chat() -> None:
    h = Harness()
    h.upstream.then(Answer(BLOCK))
    first = request(ChatMessage(role="system", text="Be brief."), user("look at a.py"))
    _, batches = await h.run(first)
    (call,) = calls_of(flat(batches))
    echoed = ChatMessage(
        role="assistant", text="", tool_calls=(ToolCall(call.id, call.name, call.arguments),)
    )
    result = ChatMessage(role="tool", text="print(1)", tool_call_id=call.id)
    await h.run(request(*first.messages, echoed, result))
    opened, continued = h.upstream.calls
    assert continued.chat_id == opened.chat_id
    assert continued.parent_id == "response-2"
    assert continued.content.startswith(f'<qp:result id="{call.id}" name="read_file">\nprint(1)\n')
    assert "# Tools" in opened.content
    assert "# Tools" not in continued.content


async def test_call_ids_start_as_the_face_asks_and_its_echo_continues_the_chat() -> None:
    h = Harness()
    h.upstream.then(Answer(BLOCK))
    first = request(user("look at a.py"), call_id_prefix="toolu_")
    _, batches = await h.run(first)
    (call,) = calls_of(flat(batches))
    assert call.id.startswith("toolu_")
    echoed = ChatMessage(
        role="assistant", text="", tool_calls=(ToolCall(call.id, call.name, call.arguments),)
    )
    result = ChatMessage(role="tool", text="print(1)", tool_call_id=call.id)
    await h.run(request(*first.messages, echoed, result, call_id_prefix="toolu_"))
    opened, continued = h.upstream.calls
    assert continued.chat_id == opened.chat_id


async def test_a_changed_tool_set_is_another_conversation() -> None:
    h = Harness()
    h.upstream.then(Answer(BLOCK))
    first = request(user("look at a.py"))
    _, batches = await h.run(first)
    (call,) = calls_of(flat(batches))
    echoed = ChatMessage(
        role="assistant", text="", tool_calls=(ToolCall(call.id, call.name, call.arguments),)
    )
    result = ChatMessage(role="tool", text="print(1)", tool_call_id=call.id)
    await h.run(request(*first.messages, echoed, result, tools=TOOLS[:2]))
    opened, refolded = h.upstream.calls
    assert refolded.chat_id != opened.chat_id
    assert refolded.parent_id is None


async def test_a_call_written_while_thinking_comes_out_when_the_answer_has_none() -> None:
    h = Harness()
    h.upstream.then(Chunks((think("I need the file.\n"), think(BLOCK), FINISHED)))
    _, batches = await h.run(request(user("look")))
    events = flat(batches)
    assert [c.name for c in calls_of(events)] == ["read_file"]
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert reasoning.strip() == "I need the file."


async def test_the_answers_calls_win_over_those_in_the_reasoning() -> None:
    h = Harness()
    other = BLOCK.replace("a.py", "b.py")
    h.upstream.then(Chunks((think(other), answer(BLOCK), FINISHED)))
    _, batches = await h.run(request(user("look")))
    assert [c.arguments for c in calls_of(flat(batches))] == ['{"path": "a.py"}']


async def test_required_without_a_call_is_corrected_once_unseen() -> None:
    h = Harness()
    h.upstream.then(Answer("I would rather chat."), Answer(BLOCK))
    _, batches = await h.run(request(user("hi"), tool_choice=ToolChoice("required")))
    events = flat(batches)
    assert text_of(events) == ""
    assert [c.name for c in calls_of(events)] == ["read_file"]
    first, correction = h.upstream.calls
    assert correction.chat_id == first.chat_id
    assert correction.parent_id == "response-2"
    assert "it made no tool call" in correction.content


async def test_required_corrected_in_vain_returns_the_text_once() -> None:
    h = Harness()
    h.upstream.then(Answer("No."), Answer("Still no."))
    _, batches = await h.run(request(user("hi"), tool_choice=ToolChoice("required")))
    assert text_of(flat(batches)) == "Still no."
    assert len(h.upstream.calls) == 2


async def test_tool_choice_none_never_hands_out_a_call() -> None:
    h = Harness()
    h.upstream.then(Answer(BLOCK), Answer(f"Fine.\n{BLOCK}"))
    _, batches = await h.run(request(user("hi"), tool_choice=ToolChoice("none")))
    events = flat(batches)
    assert calls_of(events) == []
    assert text_of(events) == "Fine.\n"


async def test_structured_output_is_clean_json_recorded_as_sent() -> None:
    h = Harness()
    h.upstream.then(Answer('Here:\n```json\n{"a": 1,}\n```'))
    messages = (user("data please"),)
    fmt = ResponseFormat("json_object")
    _, batches = await h.run(request(*messages, tools=(), response_format=fmt))
    assert text_of(flat(batches)) == '{"a": 1}'
    assert "[Output format:" in h.upstream.calls[0].content
    key = record_keys(TENANT, messages, ChatMessage(role="assistant", text='{"a": 1}'))
    assert await h.store.get_first([key]) is not None


async def test_structured_output_still_invalid_after_the_correction_is_an_error() -> None:
    h = Harness()
    h.upstream.then(Answer("words"), Answer("more words"))
    fmt = ResponseFormat("json_object")
    reply = await h.service.open(request(user("data"), tools=(), response_format=fmt), TENANT)
    with pytest.raises(InvalidStructuredOutput):
        await read_to_the_end(reply)
    assert len(h.upstream.calls) == 2


def test_tool_free_requests_keep_their_identity_and_tool_sets_scope_theirs() -> None:
    assert Tooling.of(CompletionRequest(model=MODEL, messages=(user("hi"),))) is None
    with_tools = Tooling.of(request(user("hi")))
    fewer = Tooling.of(request(user("hi"), tools=TOOLS[:2]))
    json_only = Tooling.of(
        request(user("hi"), tools=(), response_format=ResponseFormat("json_object"))
    )
    assert with_tools is not None
    assert fewer is not None
    assert json_only is not None
    assert json_only.scope(TENANT) == TENANT
    assert with_tools.scope(TENANT) != TENANT
    assert with_tools.scope(TENANT) != fewer.scope(TENANT)


def test_a_new_chat_explains_the_tools_after_the_system_text_and_ends_with_the_reminder() -> None:
    tooling = Tooling.of(request(user("hi")))
    assert tooling is not None
    text = tooling.new_chat_text(
        (
            ChatMessage(role="system", text="You are an agent."),
            user("look at a.py"),
        )
    )
    assert text.startswith("<system>\nYou are an agent.\n\n# Tools\n")
    assert "\n</system>\n\nlook at a.py\n\n[Tools: " in text
    assert text.endswith("Call a tool only when you need one; otherwise answer in text.]")


def test_several_results_reach_the_model_as_one_message() -> None:
    tooling = Tooling.of(request(user("hi")))
    assert tooling is not None
    calls = (ToolCall("c1", "read_file", "{}"), ToolCall("c2", "web_search", '{"query": "q"}'))
    earlier = (user("go"), ChatMessage(role="assistant", text="", tool_calls=calls))
    after = (
        ChatMessage(role="tool", text="one", tool_call_id="c1"),
        ChatMessage(role="tool", text="two", tool_call_id="c2"),
    )
    text = tooling.continued_text(after, earlier)
    assert text.startswith(
        '<qp:result id="c1" name="read_file">\none\n</qp:result>\n\n'
        '<qp:result id="c2" name="client_web_search">\ntwo\n</qp:result>\n\n[Tools: '
    )
