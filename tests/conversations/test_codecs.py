"""Nodes stored by earlier versions still read back: the stored field orders are a format."""

from __future__ import annotations

import pytest

from qwen_proxy.conversations.redis import _decode, _encode
from qwen_proxy.conversations.store import NODE_FIELDS, Node

pytestmark = pytest.mark.unit

NODE = Node(
    key="k",
    tenant="t",
    account="acc",
    chat_id="chat",
    parent_id="resp",
    model="qwen3-max",
    created_at=0.5,
    last_used_at=1.5,
    turn=3,
)


def test_a_redis_node_written_by_wave_one_reads_back() -> None:
    assert _decode("k", b'[1.5,"t","acc","chat","resp","qwen3-max",0.5,3]') == NODE


def test_a_redis_node_keeps_last_used_first_for_the_touch_script() -> None:
    assert _encode(NODE) == b'[1.5,"t","acc","chat","resp","qwen3-max",0.5,3]'


def test_sqlite_columns_follow_the_node_fields() -> None:
    assert NODE_FIELDS == (
        "key",
        "tenant",
        "account",
        "chat_id",
        "parent_id",
        "model",
        "created_at",
        "last_used_at",
        "turn",
    )
