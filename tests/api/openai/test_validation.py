"""Chat completion bodies are validated like OpenAI does: same params, wording and status codes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_proxy.api.openai.request import OpenAIChatRequest
from qwen_proxy.api.openai.validation import parse_chat_request
from qwen_proxy.errors import (
    GatewayError,
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from qwen_proxy.messages import ChatMessage, ImagePart, ToolCall

pytestmark = pytest.mark.unit

LIMIT = 1_000_000
USER = {"role": "user", "content": "hi"}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def body(**fields: Any) -> dict[str, Any]:
    """A valid request with ``fields`` merged in (a value of ... removes the field)."""
    request: dict[str, Any] = {"model": "qwen3-max", "messages": [USER]}
    request.update(fields)
    return {key: value for key, value in request.items() if value is not ...}


def parse(request: object, content_type: str | None = "application/json") -> OpenAIChatRequest:
    """Serialize ``request`` and validate it under a generous size limit."""
    return parse_chat_request(
        orjson.dumps(request), content_type=content_type, max_body_bytes=LIMIT
    )


def rejection(request: object) -> InvalidRequest:
    """The 400 error ``request`` is rejected with."""
    with pytest.raises(InvalidRequest) as caught:
        parse(request)
    error = caught.value
    assert error.status == 400
    assert error.type == "invalid_request_error"
    return error


def assert_rejected(request: object, param: str | None, code: str) -> InvalidRequest:
    """Assert ``request`` fails with a 400 naming ``param`` with ``code``; return the error."""
    error = rejection(request)
    assert (error.param, error.code) == (param, code), error.message
    return error


# --- transport-level problems -----------------------------------------------------------------


def test_body_over_the_limit_is_rejected_with_413() -> None:
    raw = orjson.dumps(body())
    with pytest.raises(PayloadTooLarge) as caught:
        parse_chat_request(raw, content_type="application/json", max_body_bytes=len(raw) - 1)
    error = caught.value
    assert (error.status, error.type, error.code, error.param) == (
        413,
        "invalid_request_error",
        "request_too_large",
        None,
    )


def test_body_exactly_at_the_limit_is_accepted() -> None:
    raw = orjson.dumps(body())
    request = parse_chat_request(raw, content_type="application/json", max_body_bytes=len(raw))
    assert request.model == "qwen3-max"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_non_json_content_type_is_rejected_with_415(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        parse(body(), content_type=content_type)
    error = caught.value
    assert (error.status, error.type, error.code, error.param) == (
        415,
        "invalid_request_error",
        "unsupported_media_type",
        None,
    )
    assert "application/json" in error.message


@pytest.mark.parametrize(
    "content_type",
    [None, "", "application/json", "application/json; charset=utf-8", "Application/JSON"],
)
def test_json_or_missing_content_type_is_accepted(content_type: str | None) -> None:
    assert parse(body(), content_type=content_type).model == "qwen3-max"


@pytest.mark.parametrize("raw", [b"", b"{", b'{"model": "m",}', b"\xff\xfe", b"nul"])
def test_unparseable_json_gets_openais_parse_message(raw: bytes) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_chat_request(raw, content_type="application/json", max_body_bytes=LIMIT)
    error = caught.value
    assert (error.status, error.type, error.param) == (400, "invalid_request_error", None)
    assert error.message.startswith("We could not parse the JSON body of your request.")


@pytest.mark.parametrize("request_body", [[], "text", 3, None])
def test_json_that_is_not_an_object_is_rejected(request_body: object) -> None:
    assert_rejected(request_body, None, "invalid_type")


# --- model and messages -----------------------------------------------------------------------


def test_missing_model_is_named() -> None:
    error = assert_rejected(body(model=...), "model", "missing_required_parameter")
    assert error.message == "Missing required parameter: 'model'."


def test_empty_model_is_rejected() -> None:
    assert_rejected(body(model=""), "model", "empty_string")


def test_model_of_the_wrong_type_is_rejected() -> None:
    error = assert_rejected(body(model=4), "model", "invalid_type")
    assert (
        error.message == "Invalid type for 'model': expected a string, but got an integer instead."
    )


def test_missing_messages_is_named() -> None:
    assert_rejected(body(messages=...), "messages", "missing_required_parameter")


def test_empty_messages_is_rejected_like_openai() -> None:
    error = assert_rejected(body(messages=[]), "messages", "empty_array")
    assert error.message == (
        "Invalid 'messages': empty array. Expected an array with minimum length 1, "
        "but got an empty array instead."
    )


def test_messages_that_are_not_an_array_are_rejected() -> None:
    assert_rejected(body(messages={"role": "user"}), "messages", "invalid_type")


def test_message_that_is_not_an_object_is_named_by_index() -> None:
    assert_rejected(body(messages=[USER, "hello"]), "messages[1]", "invalid_type")


def test_unknown_role_lists_the_supported_roles() -> None:
    messages = [USER, {"role": "assistant", "content": "a"}, {"role": "robot", "content": "x"}]
    error = assert_rejected(body(messages=messages), "messages[2].role", "invalid_value")
    assert error.message == (
        "Invalid value: 'robot'. Supported values are: "
        "'system', 'developer', 'user', 'assistant', and 'tool'."
    )


def test_legacy_function_role_is_rejected_pointing_to_tool_messages() -> None:
    messages = [USER, {"role": "function", "name": "f", "content": "42"}]
    error = assert_rejected(body(messages=messages), "messages[1].role", "invalid_value")
    assert "'tool'" in error.message


def test_missing_role_is_named() -> None:
    assert_rejected(
        body(messages=[{"content": "x"}]), "messages[0].role", "missing_required_parameter"
    )


@pytest.mark.parametrize("role", ["user", "system", "developer"])
def test_message_without_content_is_rejected(role: str) -> None:
    messages = [{"role": role}]
    assert_rejected(body(messages=messages), "messages[0].content", "missing_required_parameter")


def test_null_user_content_counts_as_missing() -> None:
    messages = [{"role": "user", "content": None}]
    assert_rejected(body(messages=messages), "messages[0].content", "missing_required_parameter")


def test_content_of_the_wrong_type_is_rejected() -> None:
    messages = [{"role": "user", "content": 7}]
    error = assert_rejected(body(messages=messages), "messages[0].content", "invalid_type")
    assert "but got an integer instead" in error.message


def test_empty_content_array_is_rejected() -> None:
    messages = [{"role": "user", "content": []}]
    assert_rejected(body(messages=messages), "messages[0].content", "empty_array")


def test_unknown_content_part_type_is_named() -> None:
    messages = [USER, {"role": "user", "content": [{"type": "video", "video": "v"}]}]
    error = assert_rejected(body(messages=messages), "messages[1].content[0].type", "invalid_value")
    assert error.message == (
        "Invalid value: 'video'. Supported values are: 'text', 'image_url', and 'file'."
    )


@pytest.mark.parametrize("kind", ["input_audio"])
def test_audio_parts_are_not_supported(kind: str) -> None:
    parts = [{"type": "text", "text": "listen"}, {"type": kind, kind: {"data": "AAAA"}}]
    messages = [{"role": "user", "content": parts}]
    error = assert_rejected(
        body(messages=messages), "messages[0].content[1].type", "unsupported_value"
    )
    assert "not supported" in error.message


def test_system_message_cannot_carry_an_image() -> None:
    parts = [{"type": "image_url", "image_url": {"url": "https://x/a.png"}}]
    messages = [{"role": "system", "content": parts}, USER]
    assert_rejected(body(messages=messages), "messages[0].content[0].type", "invalid_value")


def test_content_part_without_type_is_named() -> None:
    messages = [{"role": "user", "content": [{"text": "hi"}]}]
    assert_rejected(
        body(messages=messages), "messages[0].content[0].type", "missing_required_parameter"
    )


def test_text_part_without_text_is_named() -> None:
    messages = [{"role": "user", "content": [{"type": "text"}]}]
    assert_rejected(
        body(messages=messages), "messages[0].content[0].text", "missing_required_parameter"
    )


def test_content_part_that_is_not_an_object_is_named() -> None:
    messages = [{"role": "user", "content": ["hi"]}]
    assert_rejected(body(messages=messages), "messages[0].content[0]", "invalid_type")


@pytest.mark.parametrize(
    ("image_url", "param", "code"),
    [
        ("https://x/a.png", "messages[0].content[0].image_url", "invalid_type"),
        ({}, "messages[0].content[0].image_url.url", "missing_required_parameter"),
        ({"url": 5}, "messages[0].content[0].image_url.url", "invalid_type"),
        (
            {"url": "https://x", "detail": "ultra"},
            "messages[0].content[0].image_url.detail",
            "invalid_value",
        ),
    ],
)
def test_malformed_image_part_is_named(image_url: object, param: str, code: str) -> None:
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": image_url}]}]
    assert_rejected(body(messages=messages), param, code)


def test_assistant_without_content_or_tool_calls_is_rejected() -> None:
    messages = [USER, {"role": "assistant"}, USER]
    assert_rejected(body(messages=messages), "messages[1].content", "missing_required_parameter")


def call(**fields: object) -> dict[str, object]:
    """A valid assistant tool call with ``fields`` replaced (a value of ... removes the field)."""
    base: dict[str, object] = {
        "id": "c1",
        "type": "function",
        "function": {"name": "f", "arguments": "{}"},
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not ...}


@pytest.mark.parametrize(
    ("tool_call", "param", "code"),
    [
        (call(id=...), "tool_calls[0].id", "missing_required_parameter"),
        (call(type="custom"), "tool_calls[0].type", "invalid_value"),
        (call(function=...), "tool_calls[0].function", "missing_required_parameter"),
        (
            call(function={"name": "a.b", "arguments": "{}"}),
            "tool_calls[0].function.name",
            "invalid_value",
        ),
        (
            call(function={"name": "f", "arguments": {}}),
            "tool_calls[0].function.arguments",
            "invalid_type",
        ),
        ("c1", "tool_calls[0]", "invalid_type"),
    ],
)
def test_malformed_assistant_tool_call_is_named(tool_call: object, param: str, code: str) -> None:
    messages = [USER, {"role": "assistant", "content": None, "tool_calls": [tool_call]}]
    assert_rejected(body(messages=messages), f"messages[1].{param}", code)


def test_empty_tool_calls_array_is_rejected() -> None:
    messages = [USER, {"role": "assistant", "content": "a", "tool_calls": []}]
    assert_rejected(body(messages=messages), "messages[1].tool_calls", "empty_array")


def test_tool_message_without_tool_call_id_is_rejected() -> None:
    messages = [USER, {"role": "tool", "content": "42"}]
    assert_rejected(
        body(messages=messages), "messages[1].tool_call_id", "missing_required_parameter"
    )


def test_tool_message_without_content_is_rejected() -> None:
    messages = [USER, {"role": "tool", "tool_call_id": "c1"}]
    assert_rejected(body(messages=messages), "messages[1].content", "missing_required_parameter")


def test_message_name_of_the_wrong_type_is_rejected() -> None:
    messages = [{"role": "user", "content": "hi", "name": 3}]
    assert_rejected(body(messages=messages), "messages[0].name", "invalid_type")


# --- scalar parameters ------------------------------------------------------------------------


def test_stream_must_be_a_boolean() -> None:
    assert_rejected(body(stream="true"), "stream", "invalid_type")


@pytest.mark.parametrize("stream", [..., False, None])
def test_stream_options_without_stream_is_rejected(stream: object) -> None:
    error = assert_rejected(
        body(stream=stream, stream_options={"include_usage": True}),
        "stream_options",
        "invalid_request",
    )
    assert (
        error.message == "The 'stream_options' parameter is only allowed when 'stream' is enabled."
    )


def test_stream_options_must_be_an_object() -> None:
    assert_rejected(body(stream=True, stream_options=True), "stream_options", "invalid_type")


def test_include_usage_must_be_a_boolean() -> None:
    request = body(stream=True, stream_options={"include_usage": "yes"})
    assert_rejected(request, "stream_options.include_usage", "invalid_type")


@pytest.mark.parametrize(
    "param", ["max_tokens", "max_completion_tokens", "n", "seed", "top_logprobs"]
)
def test_boolean_is_not_accepted_as_an_integer(param: str) -> None:
    error = assert_rejected(body(**{param: True}), param, "invalid_type")
    assert error.message == (
        f"Invalid type for '{param}': expected an integer, but got a boolean instead."
    )


def test_decimal_max_tokens_is_rejected() -> None:
    error = assert_rejected(body(max_tokens=1.5), "max_tokens", "invalid_type")
    assert "but got a decimal instead" in error.message


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"max_tokens": 0}, "max_tokens", "integer_below_min_value"),
        ({"max_completion_tokens": -5}, "max_completion_tokens", "integer_below_min_value"),
        ({"n": 0}, "n", "integer_below_min_value"),
        ({"n": 129}, "n", "integer_above_max_value"),
        ({"top_logprobs": 21}, "top_logprobs", "integer_above_max_value"),
        ({"temperature": 2.5}, "temperature", "decimal_above_max_value"),
        ({"temperature": -0.1}, "temperature", "decimal_below_min_value"),
        ({"top_p": 1.01}, "top_p", "decimal_above_max_value"),
        ({"presence_penalty": -2.5}, "presence_penalty", "decimal_below_min_value"),
        ({"frequency_penalty": 3}, "frequency_penalty", "decimal_above_max_value"),
    ],
)
def test_out_of_range_numbers_are_rejected(
    fields: dict[str, object], param: str, code: str
) -> None:
    assert_rejected(body(**fields), param, code)


def test_out_of_range_message_states_the_bound_and_the_value() -> None:
    error = assert_rejected(body(temperature=3), "temperature", "decimal_above_max_value")
    assert error.message == (
        "Invalid 'temperature': decimal above maximum value. "
        "Expected a value <= 2, but got 3 instead."
    )


def test_string_temperature_reads_like_openai() -> None:
    error = assert_rejected(body(temperature="0.7"), "temperature", "invalid_type")
    assert error.message == (
        "Invalid type for 'temperature': expected a number, but got a string instead."
    )


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"logprobs": "yes"}, "logprobs"),
        ({"parallel_tool_calls": "true"}, "parallel_tool_calls"),
        ({"enable_thinking": 1}, "enable_thinking"),
        ({"store": "no"}, "store"),
        ({"user": 42}, "user"),
        ({"service_tier": 1}, "service_tier"),
        ({"reasoning_effort": 3}, "reasoning_effort"),
        ({"metadata": ["a"]}, "metadata"),
        ({"web_search_options": "on"}, "web_search_options"),
        ({"logit_bias": [1]}, "logit_bias"),
        ({"modalities": "text"}, "modalities"),
        ({"response_format": "json"}, "response_format"),
    ],
)
def test_parameter_of_the_wrong_type_is_named(fields: dict[str, object], param: str) -> None:
    assert_rejected(body(**fields), param, "invalid_type")


def test_unknown_reasoning_effort_lists_supported_values() -> None:
    error = assert_rejected(body(reasoning_effort="extreme"), "reasoning_effort", "invalid_value")
    assert "'minimal'" in error.message
    assert "'xhigh'" in error.message


def test_unknown_response_format_type_is_rejected() -> None:
    request = body(response_format={"type": "xml"})
    assert_rejected(request, "response_format.type", "invalid_value")


def test_json_schema_response_format_needs_its_schema() -> None:
    request = body(response_format={"type": "json_schema"})
    assert_rejected(request, "response_format.json_schema", "missing_required_parameter")


@pytest.mark.parametrize(
    ("stop", "param", "code"),
    [
        (["a", "b", "c", "d", "e"], "stop", "array_above_max_length"),
        (["a", 1], "stop[1]", "invalid_type"),
        (7, "stop", "invalid_type"),
    ],
)
def test_invalid_stop_is_rejected(stop: object, param: str, code: str) -> None:
    assert_rejected(body(stop=stop), param, code)


# --- tools ------------------------------------------------------------------------------------


def tool(name: str = "get_weather", **function: object) -> dict[str, object]:
    """A function tool definition called ``name`` with extra ``function`` fields."""
    return {"type": "function", "function": {"name": name, **function}}


@pytest.mark.parametrize(
    ("tools", "param", "code"),
    [
        ({"type": "function"}, "tools", "invalid_type"),
        ([], "tools", "empty_array"),
        (["get_weather"], "tools[0]", "invalid_type"),
        ([tool(), {"type": "custom", "custom": {}}], "tools[1].type", "invalid_value"),
        ([{"type": "function"}], "tools[0].function", "missing_required_parameter"),
        (
            [{"type": "function", "function": {}}],
            "tools[0].function.name",
            "missing_required_parameter",
        ),
        ([tool("weather.get")], "tools[0].function.name", "invalid_value"),
        ([tool("")], "tools[0].function.name", "invalid_value"),
        ([tool("x" * 65)], "tools[0].function.name", "string_above_max_length"),
        ([tool(parameters="{}")], "tools[0].function.parameters", "invalid_type"),
        ([tool(description=["d"])], "tools[0].function.description", "invalid_type"),
        ([tool(strict="yes")], "tools[0].function.strict", "invalid_type"),
    ],
)
def test_malformed_tool_is_named(tools: object, param: str, code: str) -> None:
    assert_rejected(body(tools=tools), param, code)


def test_tool_name_pattern_error_reads_like_openai() -> None:
    error = assert_rejected(body(tools=[tool("a b")]), "tools[0].function.name", "invalid_value")
    assert error.message == (
        "Invalid 'tools[0].function.name': string does not match pattern. "
        "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."
    )


def test_tool_choice_naming_an_unknown_tool_is_rejected() -> None:
    choice = {"type": "function", "function": {"name": "get_time"}}
    error = assert_rejected(
        body(tools=[WEATHER_TOOL], tool_choice=choice), "tool_choice", "invalid_value"
    )
    assert "'get_time'" in error.message


@pytest.mark.parametrize(
    "choice", ["auto", "none", {"type": "function", "function": {"name": "f"}}]
)
def test_tool_choice_without_tools_is_rejected(choice: object) -> None:
    error = assert_rejected(body(tool_choice=choice), "tool_choice", "invalid_value")
    assert "only allowed when 'tools' are specified" in error.message


@pytest.mark.parametrize(
    ("choice", "param", "code"),
    [
        ("sometimes", "tool_choice", "invalid_value"),
        (1, "tool_choice", "invalid_type"),
        ({"type": "function"}, "tool_choice.function", "missing_required_parameter"),
        (
            {"type": "function", "function": {}},
            "tool_choice.function.name",
            "missing_required_parameter",
        ),
        ({"type": "allowed_tools", "tools": []}, "tool_choice.type", "invalid_value"),
    ],
)
def test_malformed_tool_choice_is_named(choice: object, param: str, code: str) -> None:
    assert_rejected(body(tools=[WEATHER_TOOL], tool_choice=choice), param, code)


# --- what a valid request turns into ----------------------------------------------------------


def test_minimal_request_gets_openais_defaults() -> None:
    request = parse(body())
    assert request == OpenAIChatRequest(
        model="qwen3-max", messages=(ChatMessage(role="user", text="hi"),)
    )


def test_text_parts_are_joined_with_newlines_and_images_kept() -> None:
    parts = [
        {"type": "text", "text": "What is in"},
        {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "high"}},
        {"type": "text", "text": "this picture?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    message = parse(body(messages=[{"role": "user", "content": parts}])).messages[0]
    assert message.text == "What is in\nthis picture?"
    assert message.images == (
        ImagePart(url="https://x/a.png", detail="high"),
        ImagePart(url="data:image/png;base64,AAAA"),
    )


def test_system_and_developer_text_parts_are_accepted() -> None:
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "developer", "content": "Answer in French."},
        USER,
    ]
    parsed = parse(body(messages=messages)).messages
    assert [(m.role, m.text) for m in parsed] == [
        ("system", "Be brief."),
        ("developer", "Answer in French."),
        ("user", "hi"),
    ]


def test_tool_call_round_trip_is_parsed() -> None:
    weather = call(id="call_1", function={"name": "get_weather", "arguments": '{"city":"Oslo"}'})
    messages = [
        USER,
        {"role": "assistant", "content": None, "tool_calls": [weather]},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "-3C"}]},
    ]
    _, assistant, result = parse(body(messages=messages, tools=[WEATHER_TOOL])).messages
    assert assistant == ChatMessage(
        role="assistant",
        text="",
        tool_calls=(ToolCall(id="call_1", name="get_weather", arguments='{"city":"Oslo"}'),),
    )
    assert result == ChatMessage(role="tool", text="-3C", tool_call_id="call_1")


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
def test_echoed_reasoning_is_kept_apart_from_the_text(key: str) -> None:
    messages = [USER, {"role": "assistant", "content": "4", key: "2+2 is 4"}, USER]
    assistant = parse(body(messages=messages)).messages[1]
    assert (assistant.text, assistant.reasoning) == ("4", "2+2 is 4")


def test_assistant_refusal_part_counts_as_text() -> None:
    content = [{"type": "refusal", "refusal": "I can't help with that."}]
    messages = [USER, {"role": "assistant", "content": content}, USER]
    assert parse(body(messages=messages)).messages[1].text == "I can't help with that."


def test_message_name_is_kept() -> None:
    messages = [{"role": "user", "content": "hi", "name": "alice"}]
    assert parse(body(messages=messages)).messages[0].name == "alice"


def test_unknown_fields_are_ignored() -> None:
    request = parse(
        body(
            messages=[{"role": "user", "content": "hi", "annotations": [], "cache_control": {}}],
            top_k=20,
            repetition_penalty=1.1,
            safe_prompt=False,
        )
    )
    assert request.messages == (ChatMessage(role="user", text="hi"),)
    assert request.ignored_params == ()
    assert request.extra == {}


def test_sampling_params_the_upstream_cannot_apply_are_listed_sorted() -> None:
    request = parse(
        body(
            top_p=0.9,
            temperature=0.2,
            seed=7,
            presence_penalty=None,
            logprobs=True,
            top_logprobs=2,
            response_format={"type": "json_object"},
            service_tier="auto",
            logit_bias={"50256": -100},
            frequency_penalty=0.5,
            parallel_tool_calls=False,
        )
    )
    # response_format and parallel_tool_calls are applied (by the tool layer): not listed
    assert request.ignored_params == (
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "seed",
        "temperature",
        "top_logprobs",
        "top_p",
    )
    assert (request.temperature, request.top_p) == (0.2, 0.9)
    assert request.response_format == {"type": "json_object"}
    assert request.parallel_tool_calls is False


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    assert parse(body(max_tokens=50, max_completion_tokens=200)).max_tokens == 200
    assert parse(body(max_tokens=50)).max_tokens == 50


def test_streaming_with_usage_is_recognised() -> None:
    request = parse(body(stream=True, stream_options={"include_usage": True}))
    assert (request.stream, request.include_usage) == (True, True)


def test_null_optional_params_count_as_absent() -> None:
    nulls = ["stream", "stream_options", "n", "stop", "temperature", "tools", "tool_choice"]
    request = parse(body(**dict.fromkeys(nulls)))
    assert (request.stream, request.n, request.stop, request.temperature) == (False, 1, (), None)


@pytest.mark.parametrize(
    ("stop", "expected"),
    [("END", ("END",)), (["a", "b"], ("a", "b")), ([], ()), (["", "x"], ("x",))],
)
def test_stop_becomes_a_tuple_of_strings(stop: object, expected: tuple[str, ...]) -> None:
    assert parse(body(stop=stop)).stop == expected


def test_tools_and_tool_choice_are_kept() -> None:
    choice = {"type": "function", "function": {"name": "get_weather"}}
    request = parse(body(tools=[WEATHER_TOOL], tool_choice=choice))
    assert (request.tools, request.tool_choice) == ((WEATHER_TOOL,), choice)
    assert parse(body(tools=[WEATHER_TOOL], tool_choice="required")).tool_choice == "required"


def test_qwen_extensions_and_reasoning_effort_are_kept() -> None:
    request = parse(
        body(reasoning_effort="xhigh", enable_thinking=False, web_search_options={}, n=3, user="u1")
    )
    assert (request.reasoning_effort, request.enable_thinking, request.web_search) == (
        "xhigh",
        False,
        True,
    )
    assert (request.n, request.user) == (3, "u1")


# --- robustness -------------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**31), 2**31)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
)
MESSAGE_KEYS = ["role", "content", "type", "text", "image_url", "url", "tool_calls", "function"]
MESSAGE_KEYS += ["name", "id", "arguments", "tool_call_id"]
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(MESSAGE_KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)
TOP_LEVEL = st.sampled_from(["stream", "stop", "n", "tools", "tool_choice", "temperature"])


def outcome(request: object) -> OpenAIChatRequest | GatewayError:
    """The parsed request, or the gateway error it was rejected with."""
    try:
        return parse(request)
    except GatewayError as error:
        return error


@settings(max_examples=300, deadline=None)
@given(messages=JSON, extra=st.dictionaries(TOP_LEVEL, JSON, max_size=3))
def test_arbitrary_json_yields_a_request_or_an_openai_error(
    messages: object, extra: dict[str, object]
) -> None:
    result = outcome(body(messages=messages, **extra))
    if isinstance(result, GatewayError):
        assert isinstance(result, InvalidRequest)
        assert result.message
        assert result.param is not None
    else:
        assert result.messages


def test_parameters_left_at_their_no_op_value_are_not_reported_as_ignored() -> None:
    request = parse_chat_request(
        orjson.dumps(
            {
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}],
                "logprobs": False,
                "frequency_penalty": 0,
                "response_format": {"type": "text"},
                "presence_penalty": 0.5,
            }
        ),
        content_type="application/json",
        max_body_bytes=1 << 20,
    )
    assert request.ignored_params == ("presence_penalty",)
