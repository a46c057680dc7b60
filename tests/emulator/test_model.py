from __future__ import annotations

import pytest

from qwen_proxy.emulator.model import UNICODE_ANSWER, Turn, answer, facts, long_text, thinking

pytestmark = pytest.mark.unit


def user(text: str) -> Turn:
    return Turn("user", text)


def test_a_fact_told_earlier_in_the_branch_is_recalled() -> None:
    branch = [user("Hi, my name is Ada."), Turn("assistant", "Hello!"), user("What is my name?")]
    assert answer(branch) == "Your name is Ada."


def test_an_unknown_fact_is_admitted() -> None:
    assert answer([user("what is my favorite color?")]) == "I don't know your favorite color."
    assert answer([user("What's the password?")]) == "I don't know the password."


def test_the_latest_fact_wins_and_keys_are_multi_word() -> None:
    branch = [user("my favorite color is red"), user("MY FAVORITE COLOR IS Blue!")]
    assert answer([*branch, user("what's my favorite color")]) == "Your favorite color is Blue."


def test_the_form_facts_are_separate_from_my_facts() -> None:
    branch = [user("The code is 4711. my code is 12"), user("what is the code?")]
    assert answer(branch) == "The code is 4711."


def test_assistant_text_is_not_a_source_of_facts() -> None:
    branch = [Turn("assistant", "my name is Bot"), user("what is my name?")]
    assert answer(branch) == "I don't know your name."


def test_system_text_and_folded_transcripts_are_sources_of_facts() -> None:
    folded = "system: my city is Oslo\nuser: hi\nassistant: hello\nuser: what is my city?"
    assert answer([user(folded)]) == "Your city is Oslo."
    assert facts([Turn("system", "my city is Oslo.")]) == {("my", "city"): "Oslo"}


def test_turns_are_counted_with_a_folded_transcript_as_one() -> None:
    branch = [user("a"), Turn("assistant", "b"), user("user: x\nuser: y\nhow many turns?")]
    assert answer(branch) == "I see 2 user turns."


def test_echo_answers_verbatim_including_newlines() -> None:
    assert answer([user("please Echo: line one\n  line two ")]) == "line one\n  line two "


def test_long_answer_has_exactly_the_requested_length_with_non_ascii() -> None:
    text = answer([user("long answer 1234")])
    assert len(text) == 1234
    assert any(ord(ch) > 0xFFFF for ch in text)
    assert text == long_text(1234)


def test_unicode_answer_mixes_scripts_emoji_and_combining_marks() -> None:
    text = answer([user("say something in unicode")])
    assert text == UNICODE_ANSWER
    assert "你好" in text
    assert "🚀" in text
    assert "\u0301" in text


def test_default_answer_names_the_turn_and_answer_length_knob_replaces_it() -> None:
    branch = [user("hello"), Turn("assistant", "x"), user("again")]
    assert answer(branch) == "Hello! This is turn 2."
    assert len(answer(branch, answer_length=50)) == 50


def test_magic_fault_words_are_invisible_to_the_model() -> None:
    assert answer([user("echo: hi[[fault:cumulative]]")]) == "hi"


def test_thinking_mentions_the_question() -> None:
    titles, thoughts = thinking([user("what is my name?")])
    assert len(titles) == len(thoughts) == 2
    assert "what is my name?" in thoughts[0]
