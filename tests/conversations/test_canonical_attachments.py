"""Attachments in a message's identity: the same bytes keep a conversation's keys, other bytes
make another conversation (so a continued chat sends only its new attachments)."""

from __future__ import annotations

import pytest

from qwen_proxy.conversations.canonical import canonical_message, prefix_digests
from qwen_proxy.conversations.fold import fold_history
from qwen_proxy.messages import ChatMessage, FilePart, ImagePart

pytestmark = pytest.mark.unit


def with_file(
    data_url: str, name: str = "a.txt", param: str = "messages[0].content[1].file"
) -> ChatMessage:
    return ChatMessage("user", "read", files=(FilePart(data_url, name, param),))


def test_a_resent_attachment_keeps_the_key_whatever_part_it_came_in() -> None:
    one = with_file("data:text/plain;base64,aGk=", param="messages[0].content[1].file")
    same = with_file("data:text/plain;base64,aGk=", param="messages[3].content[0].file")
    assert prefix_digests("t", [one]) == prefix_digests("t", [same])
    image = ChatMessage("user", "x", images=(ImagePart("data:image/png;base64,AA==", param="a"),))
    moved = ChatMessage("user", "x", images=(ImagePart("data:image/png;base64,AA==", param="b"),))
    assert canonical_message(image) == canonical_message(moved)


def test_other_bytes_or_another_name_make_another_message() -> None:
    base = canonical_message(with_file("data:text/plain;base64,aGk="))
    assert canonical_message(with_file("data:text/plain;base64,aG8=")) != base
    assert canonical_message(with_file("data:text/plain;base64,aGk=", "b.txt")) != base
    assert canonical_message(ChatMessage("user", "read")) != base


def test_a_message_without_attachments_keeps_its_old_form() -> None:
    assert canonical_message(ChatMessage("user", "hi")) == b'["user","hi"]'


def test_a_folded_history_names_attached_files() -> None:
    history = [
        with_file("data:text/plain;base64,aGk=", "notes.txt"),
        ChatMessage("assistant", "ok"),
    ]
    history.append(ChatMessage("user", "and?"))
    assert "[file: notes.txt]" in fold_history(history)
