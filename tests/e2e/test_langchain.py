"""LangChain's OpenAI chat model against the gateway: tools bound, and structured output."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from gateway_support import MODEL
from qwen_proxy.emulator.testing import EmulatorHandle
from qwen_proxy.server.run import BackgroundGateway

pytestmark = pytest.mark.e2e


@tool
def read_file(path: str) -> str:
    """Read a file of the workspace."""
    return f"contents of {path}"


@tool
def list_dir(path: str, recursive: bool = False) -> list[str]:
    """List a directory."""
    return [path]


class Person(BaseModel):
    """Someone described."""

    name: str
    age: int


def chat(gateway: BackgroundGateway, **options: object) -> ChatOpenAI:
    return ChatOpenAI(
        model=MODEL,
        base_url=gateway.url + "/v1",
        api_key="test",  # type: ignore[arg-type]
        max_retries=0,
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "streamed"])
def test_bind_tools_gets_tool_calls_and_the_result_round_trips(
    gateway: BackgroundGateway, emulator: EmulatorHandle, streaming: bool
) -> None:
    model = chat(gateway, streaming=streaming).bind_tools([read_file, list_dir])
    history = [HumanMessage('call read_file {"path": "a.py"}')]
    first = model.invoke(history)
    assert [(c["name"], c["args"]) for c in first.tool_calls] == [("read_file", {"path": "a.py"})]
    call = first.tool_calls[0]
    result = read_file.invoke(call["args"])
    second = model.invoke([*history, first, ToolMessage(result, tool_call_id=call["id"])])
    assert second.content == f"Result of read_file ({call['id']}): contents of a.py"
    chats = {r.json["chat_id"] for r in emulator.requests("/chat/completions")}
    assert len(chats) == 1  # the second turn continued the chat


def test_bind_tools_with_a_forced_tool(gateway: BackgroundGateway) -> None:
    model = chat(gateway).bind_tools([read_file, list_dir], tool_choice="list_dir")
    reply = model.invoke("what is in src?")
    assert [c["name"] for c in reply.tool_calls] == ["list_dir"]


@pytest.mark.parametrize("method", ["json_schema", "function_calling", "json_mode"])
def test_with_structured_output_gives_the_typed_object(
    gateway: BackgroundGateway, method: str
) -> None:
    model = chat(gateway).with_structured_output(Person, method=method)  # type: ignore[arg-type]
    prompt = "describe someone"
    if method == "json_mode":
        prompt = 'echo: {"name": "Ada", "age": 36}'
    person = model.invoke(prompt)
    expected = (
        Person(name="Ada", age=36) if method == "json_mode" else Person(name="example", age=1)
    )
    assert person == expected
