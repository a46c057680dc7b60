"""The completion stream of one reply, as the bytes of each SSE event (pure, no I/O).

Shapes follow captured real streams to the byte: Python-style ``", "``/``": "`` separators, the odd
``response.created`` line with its trailing space, cumulative thinking-summary arrays, usage
snapshots on typing events, an answer ``finished`` without usage, no ``[DONE]``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from qwen_proxy.emulator.bodies import challenge_object
from qwen_proxy.emulator.faults import Fault

Kind = Literal[
    "created", "think", "think_end", "search", "answer", "answer_empty", "finished", "error", "bad"
]
StreamEvent = tuple[Kind, bytes]
ThinkingFormat = Literal["summary", "think"]

MALFORMED_LINE = b"data: {not json\n\n"
ERROR_DETAILS = {
    "data_inspection_failed": "Output data may contain inappropriate content.",
    "internal_error": "Allocated quota exceeded, please increase your quota limit.",
}


@dataclass(frozen=True, slots=True)
class Reply:
    """Everything that decides the bytes of one reply stream."""

    chat_id: str
    parent_id: str
    response_id: str
    answer: str
    timestamp: int
    input_tokens: int
    titles: tuple[str, ...] = ()
    thoughts: tuple[str, ...] = ()
    thinking_format: ThinkingFormat | None = None
    phase: bool = True
    search: tuple[dict[str, str], ...] | None = None
    delta_min: int = 1
    delta_max: int = 6
    cumulative: bool = False


def _s(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _line(payload: str) -> bytes:
    return b"data: " + payload.encode() + b"\n\n"


def _phase(reply: Reply, name: str) -> str:
    return f', "phase": "{name}"' if reply.phase else ""


def _pieces(text: str, rng: random.Random, low: int, high: int) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        size = rng.randint(max(1, low), max(1, low, high))
        out.append(text[pos : pos + size])
        pos += size
    return out


def created(reply: Reply) -> bytes:
    """The first line; the spacing quirks and the trailing space are on purpose (captures)."""
    return (
        f'data: {{"response.created":{{"chat_id": "{reply.chat_id}", '
        f'"parent_id": "{reply.parent_id}", "response_id":"{reply.response_id}", '
        f'"response_index": "0"}}}} \n\n'
    ).encode()


def _usage(inp: int, out: int, reasoning: int) -> str:
    details = (
        f'{{"text_tokens": {out}, "reasoning_tokens": {reasoning}}}'
        if reasoning
        else (f'{{"text_tokens": {out}}}')
    )
    return (
        f'{{"input_tokens": {inp}, "output_tokens": {out}, "characters": 0, '
        f'"total_tokens": {inp + out}, "input_tokens_details": {{"text_tokens": {inp}}}, '
        f'"output_tokens_details": {details}, "prompt_tokens_details": {{"cached_tokens": 0}}}}'
    )


def _summary_steps(reply: Reply, rng: random.Random) -> list[tuple[list[str], list[str]]]:
    steps: list[tuple[list[str], list[str]]] = []
    for i, thought in enumerate(reply.thoughts):
        titles = list(reply.titles[: i + 1])
        done = list(reply.thoughts[:i])
        # the last element sometimes grows in place between two events
        if len(thought) > 4 and rng.random() < 0.7:
            steps.append((titles, [*done, thought[: rng.randint(1, len(thought) - 1)]]))
        steps.append((titles, [*done, thought]))
    return steps


def thinking_events(reply: Reply, rng: random.Random) -> tuple[list[StreamEvent], int]:
    """The thinking phase and the reasoning tokens it used."""
    rid, ts, inp = reply.response_id, reply.timestamp, reply.input_tokens
    events: list[StreamEvent] = []
    reasoning = 0
    if reply.thinking_format == "summary":
        for titles, thoughts in _summary_steps(reply, rng):
            reasoning = max(reasoning + 1, sum(map(len, thoughts)) // 4)
            events.append(
                (
                    "think",
                    _line(
                        f'{{"choices": [{{"delta": {{"role": "assistant", "content": ""'
                        f'{_phase(reply, "thinking_summary")}, "extra": {{"summary_title": '
                        f'{{"content": {_s(titles)}}}, "summary_thought": {{"content": '
                        f'{_s(thoughts)}}}}}, "status": "typing"}}}}], "response_id": "{rid}", '
                        f'"usage": {{"input_tokens": {inp}, "output_tokens": {reasoning}, '
                        f'"total_tokens": {inp + reasoning}, "output_tokens_details": '
                        f'{{"reasoning_tokens": {reasoning}, "text_tokens": {reasoning}}}}}, '
                        f'"timestamp": {ts}}}'
                    ),
                )
            )
        events.append(
            (
                "think_end",
                _line(
                    f'{{"choices": [{{"delta": {{"role": "assistant", "content": ""'
                    f'{_phase(reply, "thinking_summary")}, "status": "finished"}}}}], '
                    f'"response_id": "{rid}", "timestamp": {ts}}}'
                ),
            )
        )
    elif reply.thinking_format == "think":
        for piece in _pieces("\n\n".join(reply.thoughts), rng, reply.delta_min, reply.delta_max):
            reasoning += 1
            events.append(
                (
                    "think",
                    _line(
                        f'{{"choices": [{{"delta": {{"role": "assistant", "content": {_s(piece)}'
                        f'{_phase(reply, "think")}, "status": "typing"}}}}], "response_id": '
                        f'"{rid}", "usage": {_usage(inp, reasoning, reasoning)}, '
                        f'"timestamp": {ts}}}'
                    ),
                )
            )
    return events, reasoning


def search_event(reply: Reply) -> bytes:
    """The web_search event of a search-mode reply (named ``web_search``; its phase is a guess)."""
    return _line(
        f'{{"choices": [{{"delta": {{"role": "assistant", "content": "", "name": "web_search"'
        f'{_phase(reply, "web_search")}, "status": "finished", "extra": {{"web_search_info": '
        f'{_s(list(reply.search or ()))}}}}}}}], "response_id": "{reply.response_id}", '
        f'"timestamp": {reply.timestamp}}}'
    )


def _answer_event(reply: Reply, content: str, out: int, reasoning: int) -> bytes:
    return _line(
        f'{{"choices": [{{"delta": {{"role": "assistant", "content": {_s(content)}'
        f'{_phase(reply, "answer")}, "status": "typing"}}}}], "response_id": '
        f'"{reply.response_id}", "usage": {_usage(reply.input_tokens, out, reasoning)}, '
        f'"timestamp": {reply.timestamp}}}'
    )


def finished(reply: Reply) -> bytes:
    """The logical end of the stream: answer ``finished``, no usage, no timestamp."""
    return _line(
        f'{{"choices": [{{"delta": {{"content": "", "role": "assistant", "status": "finished"'
        f'{_phase(reply, "answer")}}}}}], "response_id": "{reply.response_id}"}}'
    )


def build(reply: Reply, rng: random.Random) -> list[StreamEvent]:
    """Every event of the reply, in order, as the service would send it."""
    events: list[StreamEvent] = [("created", created(reply))]
    thinking, reasoning = thinking_events(reply, rng)
    events.extend(thinking)
    if reply.search is not None:
        events.append(("search", search_event(reply)))
    out, sent = reasoning, ""
    for piece in _pieces(reply.answer, rng, reply.delta_min, reply.delta_max):
        out += 1
        sent += piece
        content = sent if reply.cumulative else piece
        events.append(("answer", _answer_event(reply, content, out, reasoning)))
    events.append(
        ("answer_empty", _answer_event(reply, sent if reply.cumulative else "", out, reasoning))
    )
    events.append(("finished", finished(reply)))
    return events


def error_event(reply: Reply, envelope: str, code: str, request_id: str) -> bytes:
    """A mid-stream error in either envelope (``{"error"}`` or ``{"success": false}``)."""
    details = ERROR_DETAILS.get(code, "Internal error")
    if envelope == "bare":
        return _line('{"error": "Internal error!"}')
    if envelope == "success":
        return _line(
            f'{{"success": false, "request_id": "{request_id}", "data": '
            f'{{"code": {_s(code)}, "details": {_s(details)}}}}}'
        )
    return _line(
        f'{{"error": {{"code": {_s(code)}, "details": {_s(details)}}}, '
        f'"response_id": "{reply.response_id}"}}'
    )


def _cut_after_answers(events: list[StreamEvent], after: int) -> list[StreamEvent]:
    """The events up to ``after`` answer deltas (the rest is cut off)."""
    out: list[StreamEvent] = []
    seen = 0
    for event in events:
        if event[0] in ("answer", "answer_empty", "finished") and seen >= after:
            break
        out.append(event)
        seen += event[0] == "answer"
    return out


def apply_faults(
    events: list[StreamEvent], faults: Sequence[Fault], reply: Reply, request_id: str
) -> list[StreamEvent]:
    """The events after the stream-shaping faults (``cumulative`` is applied by ``build``)."""
    for fault in faults:
        p = fault.params
        if fault.name == "empty_stream":
            events = []
        elif fault.name == "think_then_stop":
            events = [e for e in events if e[0] in ("created", "think", "think_end")]
        elif fault.name == "error_midstream":
            envelope = str(p.get("envelope", "error"))
            code = str(p.get("code", "data_inspection_failed"))
            events = _cut_after_answers(events, int(p.get("after", 1)))
            events.append(("error", error_event(reply, envelope, code, request_id)))
        elif fault.name == "challenge_midstream":
            events = _cut_after_answers(events, int(p.get("after", 1)))
            path = "api/v2/chat/completions"
            events.append(("error", _line(_s(challenge_object(path, request_id)))))
        elif fault.name == "malformed_line":
            at = int(p.get("at", 1))
            events = [*events[:at], ("bad", MALFORMED_LINE), *events[at:]]
    for fault in faults:
        if fault.name == "cut_after":
            events = events[: int(fault.params.get("n", 2))]
    return events
