"""The text sent upstream as one user message: a whole history, or what follows a known node.

Formats (stable: other modules' tests assert on them). Parts are joined by one blank line.

1. System and developer messages, wherever they stand, come first as one block::

       <system>
       {text of each, in order, separated by a blank line}
       </system>

2. When the remaining messages are a single user message, its text follows **unchanged**,
   without labels, so the common first turn (with or without a system prompt) reads naturally.
   A history of one user message folds to exactly that message's text.

3. Otherwise :func:`fold_history` writes the line
   ``Conversation so far (reply to the last message):`` and then one block per message::

       [User]                          or  [User (name)]
       {text}
       [image: {url}]                  one line per image; "[image: attached]" for data: URLs
       [file: {filename}]              one line per attached document
       [Assistant]
       {text, reasoning dropped}
       [Tool call {id}] {name}({arguments})        one line per call
       [Tool result {id} {name}]
       {text}

   The last block's label ends with `` <- reply to this message`` (a user or tool message) so
   the model knows which one to answer. :func:`continuation_text` writes the same blocks
   without the introductory line.

4. :func:`transcript` writes the older part of a history too long for one request (it goes up
   as a text file): the system block, the line ``TRANSCRIPT_INTRO``, then the blocks, none
   marked for reply.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from qwen_proxy.conversations.canonical import without_reasoning
from qwen_proxy.messages import ChatMessage

HISTORY_INTRO = "Conversation so far (reply to the last message):"
REPLY_MARK = " <- reply to this message"
_SYSTEM_ROLES = frozenset({"system", "developer"})


def _tool_names(messages: Iterable[ChatMessage]) -> dict[str, str]:
    return {call.id: call.name for m in messages for call in m.tool_calls}


def _label(m: ChatMessage, tool_names: dict[str, str]) -> str:
    if m.role == "user":
        return f"[User ({m.name})]" if m.name else "[User]"
    if m.role == "assistant":
        return "[Assistant]"
    call_id = m.tool_call_id or "?"
    name = tool_names.get(call_id) or m.name
    return f"[Tool result {call_id} {name}]" if name else f"[Tool result {call_id}]"


def _block(m: ChatMessage, tool_names: dict[str, str], *, last: bool) -> str:
    label = _label(m, tool_names)
    if last:
        label += REPLY_MARK
    text = without_reasoning(m.text) if m.role == "assistant" else m.text
    lines = [label]
    if text.strip():
        lines.append(text.strip())
    for image in m.images:
        shown = "attached" if image.url.startswith("data:") else image.url
        lines.append(f"[image: {shown}]")
    for part in m.files:
        lines.append(f"[file: {part.filename}]")
    for call in m.tool_calls:
        lines.append(f"[Tool call {call.id}] {call.name}({call.arguments.strip()})")
    return "\n".join(lines)


def _system_block(messages: Sequence[ChatMessage]) -> str | None:
    texts = [m.text.strip() for m in messages if m.role in _SYSTEM_ROLES and m.text.strip()]
    if not texts:
        return None
    return "<system>\n" + "\n\n".join(texts) + "\n</system>"


def _render(
    messages: Sequence[ChatMessage], *, intro: str | None, earlier: Sequence[ChatMessage] = ()
) -> str:
    parts: list[str] = []
    system = _system_block(messages)
    if system is not None:
        parts.append(system)
    turns = [m for m in messages if m.role not in _SYSTEM_ROLES]
    if len(turns) == 1 and turns[0].role == "user":
        parts.append(turns[0].text)
    elif turns:
        names = _tool_names([*earlier, *messages])
        if intro is not None:
            parts.append(intro)
        last = len(turns) - 1
        parts.extend(_block(m, names, last=i == last) for i, m in enumerate(turns))
    return "\n\n".join(parts)


def fold_history(messages: Sequence[ChatMessage]) -> str:
    """The whole history as the first message of a new chat, so no context is lost."""
    return _render(messages, intro=HISTORY_INTRO)


def continuation_text(
    messages_after_prefix: Sequence[ChatMessage], *, earlier: Sequence[ChatMessage] = ()
) -> str:
    """What a continued chat sends: the messages after the known node (``earlier`` only
    supplies tool names for results whose call lies in the prefix)."""
    return _render(messages_after_prefix, intro=None, earlier=earlier)


TRANSCRIPT_INTRO = "Conversation so far (it continues in the message this file is attached to):"


def transcript(messages: Sequence[ChatMessage], *, earlier: Sequence[ChatMessage] = ()) -> str:
    """Messages as a transcript to read, not to answer: system block, the introductory line,
    then every block without the reply mark (the older part of a history sent as a file)."""
    parts: list[str] = []
    system = _system_block(messages)
    if system is not None:
        parts.append(system)
    turns = [m for m in messages if m.role not in _SYSTEM_ROLES]
    if turns:
        names = _tool_names([*earlier, *messages])
        parts.append(TRANSCRIPT_INTRO)
        parts.extend(_block(m, names, last=False) for m in turns)
    return "\n\n".join(parts)
