"""Identity of messages and prefixes: what makes two requests the same conversation so far."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_proxy.conversations.canonical import (
    canonical_message,
    node_key,
    prefix_digests,
    tenant_id,
)
from qwen_proxy.messages import ChatMessage, ImagePart, ToolCall

pytestmark = pytest.mark.unit


def user(text: str, **kw: object) -> ChatMessage:
    return ChatMessage(role="user", text=text, **kw)  # type: ignore[arg-type]


def assistant(text: str, **kw: object) -> ChatMessage:
    return ChatMessage(role="assistant", text=text, **kw)  # type: ignore[arg-type]


def test_same_first_message_under_two_tenants_gets_different_keys() -> None:
    history = [user("Hello")]
    assert prefix_digests("alice", history) != prefix_digests("bob", history)


def test_each_prefix_has_its_own_digest_and_extending_keeps_earlier_ones() -> None:
    history = [user("a"), assistant("b"), user("c")]
    digests = prefix_digests("t", history)
    assert len(set(digests)) == 3
    assert prefix_digests("t", history[:2]) == digests[:2]


def test_trimmed_whitespace_and_windows_line_endings_do_not_change_identity() -> None:
    assert canonical_message(assistant("  line one\r\nline two\n\n")) == canonical_message(
        assistant("line one\nline two")
    )


def test_inner_text_changes_change_identity() -> None:
    assert canonical_message(user("the cat")) != canonical_message(user("the  cat"))


def test_reasoning_is_not_part_of_identity_whether_a_field_or_inlined() -> None:
    plain = canonical_message(assistant("Paris."))
    assert canonical_message(assistant("Paris.", reasoning="capital of France")) == plain
    assert canonical_message(assistant("<think>capital of France</think>\n\nParis.")) == plain


def test_developer_and_system_prompts_are_the_same_identity() -> None:
    system = ChatMessage(role="system", text="Be terse.")
    developer = ChatMessage(role="developer", text="Be terse.")
    assert canonical_message(system) == canonical_message(developer)


def test_roles_are_part_of_identity() -> None:
    assert canonical_message(user("hi")) != canonical_message(assistant("hi"))


def test_tool_call_arguments_match_regardless_of_json_spacing_and_key_order() -> None:
    a = assistant("", tool_calls=(ToolCall("call_1", "f", '{"b": 1, "a": [1, 2]}'),))
    b = assistant("", tool_calls=(ToolCall("call_1", "f", '{"a":[1,2],"b":1}'),))
    c = assistant("", tool_calls=(ToolCall("call_1", "f", '{"a":[1,2],"b":2}'),))
    assert canonical_message(a) == canonical_message(b)
    assert canonical_message(a) != canonical_message(c)


def test_unparseable_tool_arguments_still_identify_by_text() -> None:
    a = assistant("", tool_calls=(ToolCall("c", "f", " not json "),))
    b = assistant("", tool_calls=(ToolCall("c", "f", "not json"),))
    assert canonical_message(a) == canonical_message(b)


def test_tool_results_for_different_calls_differ() -> None:
    r1 = ChatMessage(role="tool", text="42", tool_call_id="call_1")
    r2 = ChatMessage(role="tool", text="42", tool_call_id="call_2")
    assert canonical_message(r1) != canonical_message(r2)


def test_images_are_part_of_identity_and_data_urls_are_hashed() -> None:
    data_url = "data:image/png;base64," + "A" * 10_000
    with_image = canonical_message(user("look", images=(ImagePart(data_url),)))
    other = canonical_message(user("look", images=(ImagePart(data_url + "B"),)))
    assert with_image != canonical_message(user("look"))
    assert with_image != other
    assert len(with_image) < 200


def test_user_names_tell_speakers_apart_but_assistant_names_do_not() -> None:
    assert canonical_message(user("hi", name="ann")) != canonical_message(user("hi", name="bo"))
    assert canonical_message(assistant("hi", name="bot")) == canonical_message(assistant("hi"))


def test_keys_are_hex_and_the_tenant_id_hides_the_client_key() -> None:
    key = node_key(prefix_digests("t", [user("x")])[0])
    assert len(key) == 32
    int(key, 16)
    secret = b"s" * 64
    tenant = tenant_id("sk-secret-123", secret)
    assert "sk-secret-123" not in tenant
    assert tenant == tenant_id("sk-secret-123", secret) != tenant_id("sk-other", secret)


def test_tenant_names_depend_on_the_installation_secret() -> None:
    # without the secret, a stolen store's tenant names cannot be matched to guessed keys
    assert tenant_id("sk-1", b"a" * 64) != tenant_id("sk-1", b"b" * 64)


_turns = st.lists(
    st.tuples(st.sampled_from(["user", "assistant"]), st.text(max_size=40)), max_size=8
)


@settings(max_examples=200, deadline=None)
@given(_turns, st.sampled_from(["", " ", "\n", " \r\n\t"]))
def test_any_history_echoed_with_padded_text_keeps_every_prefix_key(
    turns: list[tuple[str, str]], pad: str
) -> None:
    original = [ChatMessage(role=r, text=t) for r, t in turns]  # type: ignore[arg-type]
    echoed = [ChatMessage(role=r, text=pad + t + pad) for r, t in turns]  # type: ignore[arg-type]
    assert prefix_digests("t", echoed) == prefix_digests("t", original)
