"""``POST /api/v2/chat/completions``: validate like the service, grow the tree, stream the reply."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson
from aiohttp import web

from qwen_proxy.emulator import bodies, jsonmodel, model, stream, toolmodel, wire
from qwen_proxy.emulator.attachments import read_files
from qwen_proxy.emulator.config import Account
from qwen_proxy.emulator.faults import Fault, magic_faults
from qwen_proxy.emulator.guard import guard
from qwen_proxy.emulator.images import IMAGE_TYPES, image_turn
from qwen_proxy.emulator.models import find_model
from qwen_proxy.emulator.records import RecordedRequest
from qwen_proxy.emulator.state import STATE_KEY, EmulatorState
from qwen_proxy.emulator.tree import Chat, Node

STREAM_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


def text_of(content: Any) -> str | None:
    """The text of a message's content (string, or the text parts joined), None if malformed."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        ]
        return "\n".join(t for t in texts if isinstance(t, str))
    return None


def last_user_text(body: Any) -> str:
    """The text of the last message of a body, "" when there is none."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return ""
    return text_of(messages[-1].get("content")) or ""


def search_hits(question: str) -> tuple[dict[str, str], ...]:
    """Two deterministic web sources for a search-mode reply."""
    topic = " ".join(model.clean(question).split())[:40]
    return tuple(
        {
            "url": f"https://example.org/search/{i}",
            "title": f"Result {i}: {topic}",
            "snippet": f"Snippet {i} about {topic}.",
            "hostname": "example.org",
            "hostlogo": "",
            "date": "2026-11-20",
        }
        for i in (1, 2)
    )


def validate(state: EmulatorState, chat: Chat, body: Any) -> web.Response | None:
    """The service's rejection of a malformed completion request, or None when it is fine."""
    rid = state.new_id
    if not isinstance(body, dict):
        return bodies.app_error(rid(), "Bad_Request", "Invalid JSON body")
    if state.config.browser_sessions and not body.get("chat_id"):
        # since autumn 2026 the body must name the chat as chat_id (chatId alone fails)
        return bodies.app_error(rid(), "Bad_Request", "Field 'chat_id': Field required")
    messages = body.get("messages")
    if (
        not isinstance(messages, list)
        or not messages
        or not all(isinstance(m, dict) and text_of(m.get("content")) is not None for m in messages)
    ):
        return bodies.app_error(rid(), "Bad_Request", "Invalid input messages")
    chat_type = messages[-1].get("chat_type") or body.get("chat_type") or chat.chat_type
    if body.get("stream") is not True and chat_type != "t2v":
        return bodies.app_error(rid(), "Bad_Request", "The stream parameter must be true.")
    name = body.get("model")
    if not isinstance(name, str) or find_model(name) is None:
        return bodies.app_error(rid(), "Not_Found", f"Model {name} is not found.")
    parent = body.get("parent_id")
    if parent is not None and (not isinstance(parent, str) or parent not in chat.nodes):
        return bodies.app_error(
            rid(), "Bad_Request", f"Invalid input chat parent_id {parent} is not exist."
        )
    if chat.in_progress:
        return bodies.app_error(rid(), "CHAT_IN_PROGRESS", "The chat is in progress!")
    return None


async def completions(request: web.Request) -> web.StreamResponse:
    """Answer one completion: the reply stream, or the error the service would send."""
    state = request.app[STATE_KEY]
    chat_id = request.query.get("chat_id")
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        body = None
    gate = await guard(request, "completions", chat_id, magic_faults(last_user_text(body)))
    if isinstance(gate, web.Response):
        return gate
    account, faults = gate
    if not chat_id:
        return bodies.app_error(state.new_id(), "Bad_Request", "chat_id is required")
    chat = state.chats.get(account.user_id, chat_id)
    if chat is None:
        return bodies.app_error(state.new_id(), "Not_Found", "Chat not found")
    rejected = validate(state, chat, body)
    if rejected is not None:
        return rejected
    assert isinstance(body, dict)
    last = body["messages"][-1]
    if (last.get("chat_type") or body.get("chat_type") or chat.chat_type) in IMAGE_TYPES:
        return await image_turn(request, chat, body, account)
    reply = new_turn(state, chat, body, faults, account)
    chat.in_progress = True
    try:
        return await send(request, state, reply, faults)
    finally:
        chat.in_progress = False


def new_turn(
    state: EmulatorState,
    chat: Chat,
    body: dict[str, Any],
    faults: list[Fault],
    account: Account | None = None,
) -> stream.Reply:
    """Grow the tree by the new message(s) and the assistant node; the reply to stream.

    The text of documents a message attached counts as part of it (``attachments``).
    """
    now = state.now()
    model_id = find_model(str(body["model"])) or chat.model
    parent: str | None = body.get("parent_id")
    context = [model.Turn(n.role, n.text) for n in chat.branch(parent)]
    for message in body["messages"]:
        fid = message.get("fid")
        node_id = fid if isinstance(fid, str) and fid and fid not in chat.nodes else state.new_id()
        text = text_of(message.get("content")) or ""
        attached: tuple[model.Attachment, ...] = ()
        if account is not None:
            attached, documents = read_files(state, account, message)
            text = f"{text}\n\n{documents}" if documents else text
        role = message.get("role") if isinstance(message.get("role"), str) else "user"
        chat.add(Node(node_id, parent, role, text, message.get("content"), now, model_id))
        context.append(model.Turn(role, text, attached))
        parent = node_id
    assert parent is not None
    if chat.title in ("", "New Chat"):
        chat.title = " ".join(model.clean(context[-1].text).split())[:40] or "New Chat"
    last = body["messages"][-1]
    feature = last.get("feature_config") if isinstance(last.get("feature_config"), dict) else {}
    names = {f.name for f in faults}
    tools = toolmodel.tool_reply(context)
    titles, thoughts = model.thinking(context)
    # a call written while thinking needs a thinking phase, whatever the request asked for
    think_call = tools is not None and tools.thought is not None
    if tools is not None and tools.thought is not None:
        thoughts = (thoughts[0], tools.thought)
    thinking_format: stream.ThinkingFormat | None = None
    if feature.get("thinking_enabled") or "think_then_stop" in names or think_call:
        fmt = feature.get("thinking_format", "summary")
        thinking_format = "think" if fmt in ("detail", "full") else "summary"
    chat_type = last.get("chat_type") or body.get("chat_type") or chat.chat_type
    if tools is not None:
        answer = tools.answer
    else:
        answer = jsonmodel.json_reply(context) or model.answer(context, state.knobs.answer_length)
    response_id = state.new_id()
    chat.add(Node(response_id, parent, "assistant", answer, answer, now, model_id))
    return stream.Reply(
        chat_id=chat.id,
        parent_id=parent,
        response_id=response_id,
        answer=answer,
        timestamp=now,
        input_tokens=1000 + model.context_chars(context) // 4,
        titles=titles,
        thoughts=thoughts,
        thinking_format=thinking_format,
        phase=feature.get("output_schema") == "phase",
        search=search_hits(context[-1].text) if chat_type == "search" else None,
        delta_min=state.knobs.delta_min,
        delta_max=state.knobs.delta_max,
        cumulative="cumulative" in names,
    )


async def send(
    request: web.Request, state: EmulatorState, reply: stream.Reply, faults: list[Fault]
) -> web.StreamResponse:
    """Write the reply's events, cut by the fragmenter when it is on, then close the socket."""
    seed = state.config.seed
    events = stream.build(reply, random.Random(f"{seed}:{reply.response_id}"))
    events = stream.apply_faults(events, faults, reply, state.new_id())
    delay = state.knobs.event_delay
    for fault in faults:
        if fault.name == "trickle":
            delay = float(fault.params.get("delay", 0.05))
    wire_rng = random.Random(f"wire:{seed}:{reply.response_id}")
    fragment = state.knobs.fragment
    record: RecordedRequest | None = state.recording.get(id(request))
    if state.knobs.ttfb:
        await asyncio.sleep(state.knobs.ttfb)
    response = web.StreamResponse(headers=STREAM_HEADERS)
    response.force_close()
    await response.prepare(request)
    chunks = [b"".join(data for _, data in events)] if delay <= 0 else [e[1] for e in events]
    try:
        for index, chunk in enumerate(chunks):
            if index and delay > 0:
                await asyncio.sleep(delay)
            for piece in wire.cut(chunk, wire_rng) if fragment else [chunk]:
                if not piece:
                    continue
                await response.write(piece)
                if record is not None:
                    record.writes.append(len(piece))
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away; the turn stays in the tree as the service keeps it
    return response
