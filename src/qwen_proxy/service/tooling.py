"""The tool and output-format side of one request: what the upstream is told, and who it is.

Built only for a request with tools or a JSON ``response_format`` (:meth:`Tooling.of` returns
None otherwise, and a plain request takes none of these paths). It decides:

* **identity**: a request with tools is hashed under its tenant scoped by the tool set's
  digest, so a changed tool set is another conversation, while tool-free conversations keep
  exactly the digests they had;
* **the new chat's text**: the history with past calls and results rewritten into the block
  syntax, the tool definitions after the system text, the reminder at the end;
* **a continued chat's text**: only the new messages (usually tool results, merged into one
  message), then the reminder (and the format instruction, when JSON is asked for).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from qwen_proxy.conversations.fold import continuation_text, fold_history
from qwen_proxy.messages import ChatMessage, CompletionRequest, ResponseFormat, ToolChoice
from qwen_proxy.tools import (
    ToolSet,
    format_instruction,
    rewrite_history,
    tool_set_digest,
    tools_prompt,
    turn_reminder,
)


@dataclass(frozen=True, slots=True)
class Tooling:
    """One request's tools, their choice, and the reply's format (see the module docstring)."""

    tools: ToolSet
    choice: ToolChoice
    parallel: bool
    fmt: ResponseFormat
    #: names the tool set; None when the request has no tools
    digest: bytes | None
    #: how the ids of the reply's calls begin (the face's style)
    call_prefix: str = "call_"

    @classmethod
    def of(cls, request: CompletionRequest) -> Tooling | None:
        """The request's tooling, None for a plain request (no tools, text output)."""
        if not request.tools and not request.response_format.wants_json:
            return None
        tools = ToolSet.from_definitions(request.tools)
        digest = tool_set_digest([t.as_dict() for t in request.tools]) if tools else None
        parallel = request.parallel_tool_calls
        return cls(
            tools,
            request.tool_choice,
            parallel,
            request.response_format,
            digest,
            request.call_id_prefix,
        )

    @property
    def has_tools(self) -> bool:
        """Whether the model is offered tools (False: only the output format is asked)."""
        return self.digest is not None

    def scope(self, tenant: str) -> str:
        """The tenant under which the history is hashed: scoped by the tool set, if any."""
        return tenant if self.digest is None else f"{tenant}\x00tools:{self.digest.hex()}"

    def suffix(self) -> str:
        """What ends every message sent: the tool reminder, the format instruction."""
        parts = []
        if self.has_tools:
            parts.append(turn_reminder(self.tools, self.choice, parallel=self.parallel))
        instruction = format_instruction(self.fmt)
        if instruction is not None:
            parts.append(instruction)
        return "\n\n".join(parts)

    def new_chat_text(self, messages: Sequence[ChatMessage]) -> str:
        """The whole history folded into a new chat's first message, tools explained."""
        if self.has_tools:
            prompt = ChatMessage(role="system", text=tools_prompt(self.tools))
            messages = [*merged_results(messages, self.tools), prompt]
        return joined(fold_history(messages), self.suffix())

    def for_split(
        self, sent: Sequence[ChatMessage], earlier: Sequence[ChatMessage], *, new_chat: bool
    ) -> tuple[list[ChatMessage], str]:
        """The messages of a turn too large for one body, rendered for ``oversize.split_turn``
        as this request renders them (the tool prompt joins a new chat's system text), and the
        suffix that ends the inline part."""
        out = list(sent)
        if self.has_tools:
            out = merged_results(sent, self.tools, earlier=earlier)
            if new_chat:
                out.append(ChatMessage(role="system", text=tools_prompt(self.tools)))
        return out, self.suffix()

    def continued_text(self, after: Sequence[ChatMessage], earlier: Sequence[ChatMessage]) -> str:
        """What a continued chat sends: the messages after the known node, then the suffix."""
        if self.has_tools:
            after = merged_results(after, self.tools, earlier=earlier)
        return joined(continuation_text(after, earlier=earlier), self.suffix())


def merged_results(
    messages: Sequence[ChatMessage], tools: ToolSet, *, earlier: Sequence[ChatMessage] = ()
) -> list[ChatMessage]:
    """The messages in the block syntax, each run of tool results joined into one message
    (an agent answers several calls at once: the model reads their results together)."""
    out: list[ChatMessage] = []
    after_result = False
    for original, shown in zip(
        messages, rewrite_history(messages, tools, earlier=earlier), strict=True
    ):
        is_result = original.role == "tool"
        if is_result and after_result:
            joined = replace(out[-1], text=f"{out[-1].text}\n\n{shown.text}")
            out[-1] = replace(joined, images=out[-1].images + shown.images)
        else:
            out.append(shown)
        after_result = is_result
    return out


def joined(text: str, suffix: str) -> str:
    """``text`` then ``suffix``, a blank line between (just ``text`` without a suffix)."""
    return f"{text}\n\n{suffix}" if suffix else text
