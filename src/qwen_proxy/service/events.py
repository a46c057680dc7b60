"""What a reply hands every face: the upstream's events, plus the tool calls the service found.

A face reads ``Reply.next_batch()`` and turns each event into its own wire shape. Text comes as
``AnswerDelta``/``ReasoningDelta`` whether or not the request had tools (with tools, the text is
what remains once the calls are taken out of it); a call comes as one :class:`ToolCallEvent`,
only once it is complete.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from qwen_proxy.qwen.events import Event

CALL_ID_PREFIX = "call_"


@dataclass(frozen=True, slots=True)
class ToolCallEvent:
    """A finished tool call: its position among the reply's calls, the id the client echoes
    back with the result, the client's tool name, and the arguments as a JSON object's text.

    Faces must hand ``id`` to the client unchanged: the conversation is recorded with it, so
    the agent's next request (which repeats the call with its result) continues the same chat.
    """

    index: int
    id: str
    name: str
    arguments: str


ReplyEvent = Event | ToolCallEvent


def new_call_id(prefix: str = CALL_ID_PREFIX) -> str:
    """A fresh call id: ``prefix`` (``call_`` unless the face asks for its own) and 24 random
    url-safe characters."""
    return prefix + secrets.token_urlsafe(18)
