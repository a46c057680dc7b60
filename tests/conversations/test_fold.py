"""Folding a history into one upstream message so a new chat loses no context."""

from __future__ import annotations

import pytest

from qwen_proxy.conversations.fold import (
    HISTORY_INTRO,
    REPLY_MARK,
    continuation_text,
    fold_history,
)
from qwen_proxy.messages import ChatMessage, ImagePart, ToolCall

pytestmark = pytest.mark.unit

SYSTEM = ChatMessage(role="system", text="You are terse.")
WEATHER_CALL = ToolCall("call_1", "get_weather", '{"city": "Paris"}')
AGENT_HISTORY = [
    SYSTEM,
    ChatMessage(role="user", text="My name is Ann. Weather in Paris?"),
    ChatMessage(role="assistant", text="", tool_calls=(WEATHER_CALL,)),
    ChatMessage(role="tool", text="sunny, 21 C", tool_call_id="call_1"),
    ChatMessage(role="assistant", text="<think>easy</think>It is sunny.", reasoning="r"),
    ChatMessage(role="user", text="What is my name?"),
]


def test_a_single_user_message_is_sent_unchanged() -> None:
    text = "  Hello there!\nHow are you?  "
    assert fold_history([ChatMessage(role="user", text=text)]) == text


def test_a_first_turn_with_a_system_prompt_reads_naturally() -> None:
    folded = fold_history([SYSTEM, ChatMessage(role="user", text="Hi")])
    assert folded == "<system>\nYou are terse.\n</system>\n\nHi"


def test_folded_transcript_contains_every_message_and_ends_with_the_last_user_message() -> None:
    folded = fold_history(AGENT_HISTORY)
    assert folded.startswith("<system>\nYou are terse.\n</system>\n\n" + HISTORY_INTRO)
    for needle in ["My name is Ann", "get_weather", '{"city": "Paris"}', "sunny, 21 C", "sunny."]:
        assert needle in folded
    assert folded.endswith(f"[User]{REPLY_MARK}\nWhat is my name?")
    assert folded.count(REPLY_MARK) == 1


def test_folded_transcript_keeps_the_order_of_turns() -> None:
    folded = fold_history(AGENT_HISTORY)
    positions = [folded.index(s) for s in ["Ann", "[Tool call call_1]", "21 C", "It is sunny"]]
    assert positions == sorted(positions)


def test_tool_calls_and_results_are_rendered_readably() -> None:
    folded = fold_history(AGENT_HISTORY)
    assert '[Tool call call_1] get_weather({"city": "Paris"})' in folded
    assert "[Tool result call_1 get_weather]\nsunny, 21 C" in folded


def test_reasoning_is_not_folded_into_the_history() -> None:
    assert "easy" not in fold_history(AGENT_HISTORY)


def test_system_prompts_anywhere_come_first() -> None:
    history = [
        ChatMessage(role="user", text="a"),
        ChatMessage(role="assistant", text="b"),
        ChatMessage(role="developer", text="Answer in French."),
        ChatMessage(role="user", text="c"),
    ]
    folded = fold_history(history)
    assert folded.startswith("<system>\nAnswer in French.\n</system>")


def test_images_of_earlier_messages_are_mentioned() -> None:
    history = [
        ChatMessage(role="user", text="see", images=(ImagePart("https://x/cat.png"),)),
        ChatMessage(role="assistant", text="a cat"),
        ChatMessage(role="user", text="and this?", images=(ImagePart("data:image/png;base64,AA"),)),
    ]
    folded = fold_history(history)
    assert "[image: https://x/cat.png]" in folded
    assert "[image: attached]" in folded
    assert "base64" not in folded


def test_user_names_label_the_speaker() -> None:
    history = [
        ChatMessage(role="user", text="hi", name="ann"),
        ChatMessage(role="assistant", text="hello"),
        ChatMessage(role="user", text="hey", name="bo"),
    ]
    folded = fold_history(history)
    assert "[User (ann)]\nhi" in folded
    assert f"[User (bo)]{REPLY_MARK}\nhey" in folded


def test_continuing_with_one_user_message_sends_its_text_unchanged() -> None:
    assert continuation_text([ChatMessage(role="user", text=" next? ")]) == " next? "


def test_continuing_with_tool_results_names_the_tool_from_the_earlier_call() -> None:
    text = continuation_text(AGENT_HISTORY[3:4], earlier=AGENT_HISTORY[:3])
    assert text == f"[Tool result call_1 get_weather]{REPLY_MARK}\nsunny, 21 C"


def test_continuing_with_tool_results_and_a_user_message_marks_the_user_message() -> None:
    text = continuation_text(
        [ChatMessage(role="tool", text="42", tool_call_id="c9"), ChatMessage("user", "so?")]
    )
    assert text == f"[Tool result c9]\n42\n\n[User]{REPLY_MARK}\nso?"
    assert HISTORY_INTRO not in text


def test_a_new_system_message_in_a_continuation_is_shown_to_the_model() -> None:
    text = continuation_text(
        [ChatMessage("system", "Now answer in French."), ChatMessage("user", "hi")]
    )
    assert text == "<system>\nNow answer in French.\n</system>\n\nhi"
