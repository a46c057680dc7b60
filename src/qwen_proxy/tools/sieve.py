"""The tool-call sieve: text deltas in (any split), text and finished calls out. Sans-IO.

Rules, in the order a reply meets them:

* Text streams at once. Only a tail that may be the start of a marker waits (``<qp:ca``,
  a backtick or ``{`` at a line start, ...), and only until the next characters decide.
* **Explicit blocks** (``<qp:call>``, native ``<tool_call>``, a bare qwen3-coder
  ``<function=NAME>``) are calls wherever they stand, even inside a code fence whose body
  starts with one (models wrap calls in fences; the fence lines are dropped). A block ends at
  its closing tag, at the next opener, at prose that follows its JSON, or at the end of the
  reply; a block without its closing tag still counts when what it holds is complete.
  Closing tags inside JSON strings (a file's content) do not end a block.
* **JSON calls** (a fenced ```json block or bare JSON at a line start, whose object names a
  tool and has an arguments field) count only at the end of the reply: nothing but blanks or
  further calls may follow them. A JSON call followed by prose is an example and goes out as
  text. Inside a fence that starts with anything else (```python, prose) nothing is a call.
* A call is emitted only once its block is closed and parsed. A block that cannot be read,
  or that the reply cut short, goes out as text and is reported (:class:`Problem`), so the
  caller can make one corrective retry when ``tool_choice`` demands a call.
* A call to a tool the request did not define is not a call: its block goes out as text and
  is reported. Repeats of an identical call in one reply are dropped; with
  ``parallel=False`` only the first call is kept.

Feed reasoning text through a sieve of its own to find calls written while thinking.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Literal

from qwen_proxy.tools import markers
from qwen_proxy.tools.coerce import coerce_arguments
from qwen_proxy.tools.events import Call, Event, Problem, ProblemKind, Text
from qwen_proxy.tools.jsonish import JsonScanner, decode_values
from qwen_proxy.tools.parse import (
    RawCall,
    Unparsable,
    arguments_object,
    calls_from_json,
    parse_block,
)
from qwen_proxy.tools.syntax import CLOSERS, CODER_CLOSE, fold
from qwen_proxy.tools.toolset import ToolSet

_CANDIDATE = re.compile(r"[<`{\[]")
_WORDS = re.compile(r"[\w.-]*\s*")
_LAST_CODER_CLOSE = re.compile(r".*</function\s*>", re.DOTALL)
PARAMETER_OPEN = "<parameter="
#: what ends a qwen3-coder parameter's value (as the parser reads it)
_PARAMETER_END = re.compile(r"</parameter\s*>|<parameter\s*=|</function\s*>")
State = Literal["text", "block", "json_fence", "bare", "after_block", "code"]


class Sieve:
    """Splits one reply into text and calls as it streams (see the module docstring)."""

    def __init__(self, tools: ToolSet, *, parallel: bool = True) -> None:
        self.tools = tools
        self.parallel = parallel
        self.calls: list[Call] = []
        self.problems: list[Problem] = []
        self._buf = ""
        self._state: State = "text"
        self._final = False
        self._line_blank = True  # only blanks since the last newline before ``_buf``
        self._last = ""  # the character just before ``_buf``
        self._out: list[Event] = []
        self._seen: set[tuple[str, str]] = set()
        # the region being held: a block, a JSON fence or bare JSON
        self._head = ""  # opener (and a dropped fence line) of a block
        self._body: list[str] = []
        self._opener = ""
        self._scanner: JsonScanner | None = None
        self._json_body: bool | None = None
        self._coder = False
        self._fenced = False
        self._fence_line = ""
        # JSON calls waiting for the end of the reply: (source, calls), and all held text
        self._pending: list[tuple[str, list[RawCall]]] = []
        self._pending_text: list[str] = []
        self._steps: dict[State, Callable[[], bool]] = {
            "text": self._text,
            "block": self._block,
            "json_fence": self._json_fence,
            "bare": self._bare,
            "after_block": self._after_block,
            "code": self._code,
        }

    # -- public -----------------------------------------------------------------------------

    def feed(self, text: str) -> list[Event]:
        """Take the next piece of the reply; return what can be released now."""
        if self._final:
            raise RuntimeError("feed() after close()")
        self._buf += text
        self._run()
        return self._take()

    def close(self) -> list[Event]:
        """The reply ended: release the rest, finishing what the end decides."""
        if not self._final:
            self._final = True
            self._run()
            self._finish_region()
            self._run()
            self._confirm_pending()
        return self._take()

    # -- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        steps = self._steps
        while self._buf and steps[self._state]():
            pass

    def _take(self) -> list[Event]:
        out, self._out = self._out, []
        merged: list[Event] = []
        for event in out:
            if isinstance(event, Text) and merged and isinstance(merged[-1], Text):
                merged[-1] = Text(merged[-1].text + event.text)
            elif not isinstance(event, Text) or event.text:
                merged.append(event)
        return merged

    def _consume(self, n: int) -> str:
        """Remove ``n`` characters from the front of the buffer, keeping line state."""
        taken, self._buf = self._buf[:n], self._buf[n:]
        if taken:
            self._last = taken[-1]
        newline = taken.rfind("\n")
        if newline != -1:
            self._line_blank = not taken[newline + 1 :].strip(" \t")
        elif taken.strip(" \t"):
            self._line_blank = False
        return taken

    def _line_start(self, view: str, pos: int) -> bool:
        newline = view.rfind("\n", 0, pos)
        blank = not view[newline + 1 : pos].strip(" \t")
        return blank and (newline != -1 or self._line_blank)

    # -- states -----------------------------------------------------------------------------

    def _text(self) -> bool:
        """Outside any block: release text up to the first possible marker."""
        view = fold(self._buf)
        pos = 0
        while (found := _CANDIDATE.search(view, pos)) is not None:
            at = found.start()
            ch = view[at]
            if ch == "<":
                # in inline code (`<qp:call>`) a tag is being talked about, not written
                quoted = (view[at - 1] if at else self._last) == "`"
                match = markers.NO if quoted else markers.opener(view, at)
                if match.verdict == "yes":
                    self._emit_text(self._consume(at))
                    self._open_block(match.end - at, match.detail)
                    return True
            elif not self._line_start(view, at):
                match = markers.NO
            elif ch == "`":
                fence = markers.fence(view, at)
                if fence.verdict == "more" and self._final and fence.kind == "json":
                    fence = markers.Fence("yes", "json", fence.body, fence.first)
                if fence.verdict == "yes":
                    self._emit_text(self._consume(at))
                    self._open_fence(fence.kind, fence.body - at, fence.first - at)
                    return True
                match = markers.Match(fence.verdict)
            else:
                match = markers.first_key(view, at)
                if match.verdict == "yes":
                    self._emit_text(self._consume(at))
                    self._state, self._scanner, self._body = "bare", JsonScanner(), []
                    return True
            if match.verdict == "more" and not self._final:
                self._emit_text(self._consume(at))
                return False
            pos = at + 1
        self._emit_text(self._consume(len(self._buf)))
        return False

    def _open_block(self, end: int, name: str) -> None:
        self._opener = self._consume(end)
        self._head = self._fence_line + self._opener
        self._fenced, self._fence_line = self._fenced or bool(self._fence_line), ""
        self._coder = name == "<function="
        self._body, self._scanner, self._json_body = [], None, None
        self._state = "block"

    def _open_fence(self, kind: str, body: int, first: int) -> None:
        """A fence at the buffer's start whose body starts at ``body`` (first mark ``first``)."""
        if kind == "call":
            # the fence only wraps a call: its line is dropped, kept in case the call fails
            self._fence_line = self._consume(first)
        elif kind == "json":
            self._body, self._head = [], self._consume(body)
            self._state = "json_fence"
        else:
            self._emit_text(self._consume(body))
            self._state = "code"

    def _block(self) -> bool:
        """Inside an explicit block: find where it ends (JSON-aware when it holds JSON)."""
        view = fold(self._buf)
        if self._json_body is None:
            first = len(view) - len(view.lstrip())
            if first == len(view):
                self._body.append(self._consume(first))
                return False
            if not self._coder and view[first] not in "{[<`":
                # words after the opener: a call written as code (``read_file(...)``) is kept
                # to be reported; prose that merely names the tag is text
                words = _WORDS.match(view, first)
                assert words is not None
                if words.end() == len(view) and not self._final:
                    self._body.append(self._consume(first))
                    return False
                if view[words.end() : words.end() + 1] != "(":
                    self._emit_text(self._head + "".join(self._body))
                    self._state = "text"
                    return True
            self._json_body = view[first] in "{["
            self._scanner = JsonScanner() if self._json_body else None
        pos = 0
        while True:
            if self._scanner is not None:
                at = self._scanner.advance(view, pos, stop_at_top_level=True)
            else:
                found = view.find("<", pos)
                at = len(view) if found == -1 else found
            if at == len(view):
                self._body.append(self._consume(at))
                return False
            if self._scanner is None and view.startswith(PARAMETER_OPEN[:2], at):
                skipped = self._skip_parameter(view, at)
                if skipped is None:
                    self._body.append(self._consume(at))
                    return False
                if skipped > at:
                    pos = skipped
                    continue
            if view[at] == "<":
                ends = (CODER_CLOSE,) if self._coder else CLOSERS
                close = markers.closer(view, at, ends)
                if close.verdict == "yes":
                    self._body.append(self._consume(at))
                    self._close_block(self._consume(close.end - at), closed=True)
                    return True
                reopen = markers.opener(view, at)
                if reopen.verdict == "yes" and not (self._coder or reopen.detail == "<function="):
                    self._body.append(self._consume(at))
                    self._close_block("", closed=False)
                    return True
                if "more" in (close.verdict, reopen.verdict) and not self._final:
                    self._body.append(self._consume(at))
                    return False
                if self._scanner is None:
                    pos = at + 1
                    continue
            # prose after the block's JSON: the block ended without its closing tag
            self._body.append(self._consume(at))
            self._close_block("", closed=False)
            return True

    def _skip_parameter(self, view: str, at: int) -> int | None:
        """Where scanning goes on after a qwen3-coder ``<parameter=...>`` opening at ``at``: its
        value is raw text, so a closing tag inside it (a file that holds ``</tool_call>``) does
        not end the block; the value ends where the parser ends it. ``at`` itself when no
        parameter opens there; None to wait for more text."""
        if not view.startswith(PARAMETER_OPEN, at):
            rest = view[at:]
            waiting = len(rest) < len(PARAMETER_OPEN) and PARAMETER_OPEN.startswith(rest)
            return None if waiting and not self._final else at
        head = view.find(">", at)
        stop = _PARAMETER_END.search(view, head + 1) if head != -1 else None
        if stop is None:
            return len(view) if self._final else None
        return stop.start()

    def _close_block(self, closing: str, *, closed: bool) -> None:
        content = "".join(self._body)
        source = self._head + content + closing
        trailing = ""
        if not closed and not self._json_body:
            # a coder block left open: prose after its last </function> is not part of it
            last = _LAST_CODER_CLOSE.match(fold(content))
            if last and content[last.end() :].strip():
                content, trailing = content[: last.end()], content[last.end() :]
                source = self._head + content
        self._state = "text"  # a block that goes back as text keeps the blanks after it
        try:
            if self._coder:
                raw = parse_block(self._opener + content + closing)
            else:
                raw = parse_block(content, self._opener)
        except Unparsable as error:
            kind: ProblemKind = "unparsable" if closed else "cut"
            self._report(kind, f"a tool call block could not be read: {error}", source)
            self._emit_text(source + trailing)
            return
        self._confirm_pending()
        if self._accept(raw, source):
            self._state = "after_block"
        self._emit_text(trailing)

    def _after_block(self) -> bool:
        """Just after a block: drop blanks, a stray closing tag, the fence that wrapped it."""
        view = fold(self._buf)
        first = len(view) - len(view.lstrip())
        if first == len(view):
            self._consume(first)
            return False
        if view[first] == "<":
            match = markers.closer(view, first, (*CLOSERS, CODER_CLOSE))
        elif view[first] == "`" and self._fenced and self._line_start(view, first):
            head = view[first : first + 3]
            match = markers.Match("yes", first + 3) if head == "```" else markers.NO
            if len(head) < 3 and "```".startswith(head):
                match = markers.MORE
        else:
            match = markers.NO
        if match.verdict == "more" and not self._final:
            self._consume(first)
            return False
        if match.verdict == "yes":
            self._fenced = self._fenced and view[first] != "`"
            self._consume(match.end)
            return True
        self._consume(first)
        self._state = "text"
        return True

    def _json_fence(self) -> bool:
        """A JSON fence that may hold a call: hold it until its closing fence."""
        view = fold(self._buf)
        search = 0
        while (newline := view.find("\n", search)) != -1:
            line = view[newline + 1 :]
            stripped = line.lstrip(" \t")
            if stripped.startswith("```"):
                end = len(view) - len(stripped) + 3
                self._body.append(self._consume(newline))
                self._close_json(self._consume(end - newline), closed=True)
                return True
            if len(stripped) < 3 and "```".startswith(stripped) and "\n" not in line:
                self._body.append(self._consume(newline))
                return False
            search = newline + 1
        self._body.append(self._consume(len(view)))
        return False

    def _bare(self) -> bool:
        """Bare JSON at a line start that may be a call: hold it until it closes."""
        assert self._scanner is not None
        end = self._scanner.advance(fold(self._buf))
        self._body.append(self._consume(end))
        if not self._scanner.closed:
            return False
        self._close_json("", closed=True)
        return True

    def _code(self) -> bool:
        """Inside a code fence shown as text: nothing is a call until the fence closes."""
        view = fold(self._buf)
        pos = 0
        while (at := view.find("`", pos)) != -1:
            if self._line_start(view, at):
                head = view[at : at + 3]
                if head == "```":
                    self._emit_text(self._consume(at + 3))
                    self._state = "text"
                    return True
                if len(head) < 3 and "```".startswith(head) and not self._final:
                    self._emit_text(self._consume(at))
                    return False
            pos = at + 1
        self._emit_text(self._consume(len(view)))
        return False

    def _close_json(self, closing: str, *, closed: bool) -> None:
        content = "".join(self._body)
        source = self._head + content + closing
        self._head, self._body, self._scanner = "", [], None
        self._state = "text"
        try:
            values = decode_values(content)
        except ValueError:
            values = []
        calls = [calls_from_json(v, need_arguments=True) for v in values]
        if values and all(calls):
            self._pending_text.append(source)
            self._pending.append((source, [c for found in calls if found for c in found]))
            return
        if not closed:
            self._report("cut", "the reply ended inside a JSON tool call", source)
        self._emit_text(source)

    def _finish_region(self) -> None:
        """At the end of the reply: close what is still open."""
        self._body.append(self._consume(len(self._buf)))
        if self._state == "block":
            self._close_block("", closed=False)
        elif self._state in ("json_fence", "bare"):
            self._close_json("", closed=False)

    # -- output -----------------------------------------------------------------------------

    def _emit_text(self, text: str) -> None:
        if not text:
            return
        if self._pending:
            if not text.strip():
                self._pending_text.append(text)
                return
            # prose after a JSON call: it was an example, all of it is text
            self._out.append(Text("".join(self._pending_text)))
            self._pending, self._pending_text = [], []
        if text.strip():
            self._fenced = False  # prose: a fence that wrapped calls is no longer open
        self._out.append(Text(text))

    def _confirm_pending(self) -> None:
        pending, self._pending, self._pending_text = self._pending, [], []
        for source, raw in pending:
            self._accept(raw, source)

    def _report(self, kind: ProblemKind, detail: str, source: str) -> None:
        self.problems.append(Problem(kind, detail, source))

    def _accept(self, raw: list[RawCall], source: str) -> bool:
        """Turn parsed calls into emitted ones; a block with no usable call goes out as text
        (the return value says whether the block was used as calls)."""
        used = False
        for call in raw:
            spec = self.tools.lookup(call.name)
            if spec is None:
                self._report("unknown_tool", f"there is no tool named {call.name!r}", source)
                continue
            try:
                arguments = coerce_arguments(arguments_object(call.arguments), spec.parameters)
            except Unparsable as error:
                self._report("unparsable", f"the call to {spec.alias} has {error}", source)
                continue
            used = True
            key = (spec.name, json.dumps(arguments, sort_keys=True))
            if key in self._seen:
                self._report("duplicate", f"{spec.alias} was called twice alike", source)
                continue
            if not self.parallel and self.calls:
                self._report(
                    "extra_call", f"only one call is allowed; {spec.alias} dropped", source
                )
                continue
            self._seen.add(key)
            emitted = Call(len(self.calls), spec.name, json.dumps(arguments, ensure_ascii=False))
            self.calls.append(emitted)
            self._out.append(emitted)
        if not used:
            self._out.append(Text(source))
        return used
