"""One chat completion, from a validated request to a stream of upstream events.

Decides which Qwen chat and parent continue the history (``conversations``), which account
serves it (``accounts``), retries what failed before the client saw a byte, and records the new
conversation node once the reply has completed. The api layer only maps events to OpenAI.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qwen_proxy.accounts import (
    AccountPool,
    Lease,
    NoAccountAvailable,
    Outcome,
    OwnerUnavailable,
)
from qwen_proxy.config import Settings
from qwen_proxy.conversations.fold import continuation_text, fold_history
from qwen_proxy.conversations.resolver import History, find_continuation, hash_history, reply_key
from qwen_proxy.conversations.store import ConversationStore, Node
from qwen_proxy.errors import GatewayError, InvalidRequest
from qwen_proxy.messages import ChatMessage, ChatRequest
from qwen_proxy.qwen.client import QwenClient, UpstreamStream
from qwen_proxy.qwen.errors import (
    ChatInProgress,
    ContentFiltered,
    EmptyReply,
    ParentNotFound,
    StreamCut,
    UpstreamError,
)
from qwen_proxy.qwen.events import (
    Event,
    Finished,
    StreamFailed,
    Usage,
)
from qwen_proxy.qwen.payloads import completion_body
from qwen_proxy.service.models import ModelCatalog, ResolvedModel
from qwen_proxy.service.outcomes import outcome_for, rules_out_account

log = logging.getLogger("qwen_proxy.service.completion")

#: waits before retrying a chat that is busy upstream, then the request forks into a new chat
BUSY_CHAT_WAITS = (0.25, 0.5, 1.0)


@dataclass(frozen=True, slots=True)
class Plan:
    """Where a request goes upstream: a known chat node to continue, or a new chat."""

    content: str
    #: the request's messages, hashed once for the lookup and again used to key the reply
    history: History
    node: Node | None = None

    @property
    def owner(self) -> str | None:
        """The account that owns the continued chat."""
        return self.node.account if self.node is not None else None


class Reply:
    """An upstream reply the client is about to receive: its first events are already in hand.

    Call ``next_batch()`` until it returns None, and ``aclose()`` once done however the reply
    went (it is idempotent). The lease is released and the conversation node recorded when the
    reply completes; a cut, failed or given-up reply records nothing.
    """

    # one per open stream: it keeps what recording the node needs, not the request
    __slots__ = (
        "_failure",
        "_finished",
        "_first",
        "_released",
        "_service",
        "_stream",
        "chat_id",
        "history",
        "lease",
        "model",
        "tenant",
        "turn",
    )

    def __init__(
        self,
        service: CompletionService,
        *,
        tenant: str,
        history: History,
        turn: int,
        model: ResolvedModel,
        lease: Lease,
        chat_id: str,
        stream: UpstreamStream,
        first: list[Event],
    ) -> None:
        self._service = service
        self.tenant = tenant
        self.history = history
        #: the new node's depth: the request's message count plus this reply
        self.turn = turn
        self.model = model
        self.lease = lease
        self.chat_id = chat_id
        self._stream = stream
        self._first: list[Event] | None = first
        self._finished = False
        self._failure: GatewayError | None = None
        self._released = False

    @property
    def usage(self) -> Usage | None:
        """The upstream's last usage snapshot."""
        return self._stream.parser.usage

    async def next_batch(self) -> list[Event] | None:
        """The reply's next events as they arrive; None once it has completed and been recorded.

        Raises GatewayError when the reply fails, after closing it. A coroutine, not an async
        generator: an open stream waiting on it keeps no suspended generator.
        """
        try:
            batch = self._first
            if batch is not None:
                self._first = (
                    None  # its events are the client's once sent: an open stream drops them
                )
            elif self._failure is not None:
                raise self._failure
            elif self._finished:
                await self._record()
                await self._close(Outcome.ok())
                return None
            else:
                batch = await self._stream.next_batch()
                if batch is None:
                    raise StreamCut(
                        "The upstream closed the reply before it finished; the partial answer "
                        "above is incomplete. Retry the request."
                    )
            return self._scan(batch)
        except UpstreamError as error:
            await self._close(outcome_for(error))
            raise
        except BaseException:
            # the client went away (cancelled) or our side failed: nothing to learn about
            # the account, and a success would wrongly clear its strikes
            await self._close(Outcome.abandoned())
            raise

    def _scan(self, batch: list[Event]) -> list[Event]:
        """The batch up to a failure (raised on the next call); notes the reply's end."""
        for index, event in enumerate(batch):
            kind = type(event)
            if kind is StreamFailed:
                assert isinstance(event, StreamFailed)
                self._failure = event.error
                return batch[:index]
            if kind is Finished:
                self._finished = True
        return batch

    async def _record(self) -> None:
        created = self._stream.parser.created
        if created is None:
            return
        settings = self._service.settings
        parent = (
            created.response_id if settings.continue_from == "response_id" else created.parent_id
        )
        if not parent:
            return
        reply = ChatMessage(role="assistant", text=self._stream.parser.answer_text)
        key = reply_key(self.history, reply)
        now = self._service.clock()
        node = Node(
            key=key,
            tenant=self.tenant,
            account=self.lease.name,
            chat_id=created.chat_id or self.chat_id,
            parent_id=parent,
            model=self.model.upstream.id,
            created_at=now,
            last_used_at=now,
            turn=self.turn,
        )
        try:
            await self._service.store.put(node)
        except Exception:  # the reply itself succeeded: a store fault must not fail it
            log.exception("could not record conversation node for chat %s", node.chat_id)

    async def _close(self, outcome: Outcome) -> None:
        if self._released:
            return
        self._released = True
        try:
            self._stream.close()
        finally:
            try:
                await self.lease.release(outcome)
            except GatewayError as error:
                # the reply itself is done: losing its bookkeeping (a shared state store that
                # went away) must not turn a delivered answer into an error; the lease lapses
                log.warning("could not release account %s: %s", self.lease.name, error.message)

    async def aclose(self) -> None:
        """Give up the reply (a limit cut it, the client went away): nothing is recorded, and
        the account is released as abandoned (a no-op once the reply completed)."""
        await self._close(Outcome.abandoned())


class CompletionService:
    """Opens replies: plan, pick an account, call the upstream, retry what failed early."""

    def __init__(
        self,
        settings: Settings,
        client: QwenClient,
        catalog: ModelCatalog,
        pool: AccountPool,
        store: ConversationStore,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.client = client
        self.catalog = catalog
        self.pool = pool
        self.store = store
        self.clock = clock
        #: continued chats whose empty reply was recovered by a folded new chat
        self.empty_continuations_recovered = 0

    async def plan(self, tenant: str, messages: tuple[ChatMessage, ...]) -> Plan:
        """Continue the longest known prefix of the history, or fold it into a new chat."""
        history = hash_history(tenant, messages)
        found = await find_continuation(self.store, tenant, messages, history=history)
        if found is None:
            return Plan(content=fold_history(messages), history=history)
        after, known = messages[found.index + 1 :], messages[: found.index + 1]
        content = continuation_text(after, earlier=known)
        return Plan(content=content, history=history, node=found.node)

    def new_chat_plan(self, messages: tuple[ChatMessage, ...], history: History) -> Plan:
        """A plan that starts over: a new chat with the whole history folded in."""
        return Plan(content=fold_history(messages), history=history)

    async def open(self, request: ChatRequest, tenant: str) -> Reply:
        """Start the reply; returns once its first content is in hand, or raises GatewayError."""
        check_supported(request)
        model = await self.catalog.resolve(request.model)
        plan = await self.plan(tenant, request.messages)
        thinking = self._thinking(request, model)
        failures = 0
        busy_waits = 0
        empties = 0
        excluded: set[str] = set()
        last_error: GatewayError | None = None
        while True:
            try:
                lease = await self.pool.acquire(
                    model.upstream.id, owner=plan.owner, exclude=excluded
                )
            except OwnerUnavailable:
                plan = self.new_chat_plan(request.messages, plan.history)
                continue
            except NoAccountAvailable:
                if last_error is not None:
                    raise last_error from None
                raise
            try:
                return await self._attempt(request, tenant, model, plan, lease, thinking)
            except UpstreamError as error:
                last_error = error
                continued = plan.node is not None
                outcome = outcome_for(error)
                if isinstance(error, EmptyReply) and (continued or empties == 0):
                    # one empty answer is retried before it counts against the account
                    outcome = Outcome.transient()
                await lease.release(outcome)
                if plan.node is not None and isinstance(error, ParentNotFound):
                    log.info("chat %s lost its parent upstream; folding", plan.node.chat_id)
                    await self._forget(plan.node)
                    plan = self.new_chat_plan(request.messages, plan.history)
                    continue
                if plan.node is not None and isinstance(error, ChatInProgress):
                    if busy_waits < len(BUSY_CHAT_WAITS):
                        await asyncio.sleep(BUSY_CHAT_WAITS[busy_waits])
                        busy_waits += 1
                    else:
                        plan = self.new_chat_plan(request.messages, plan.history)
                    continue
                if isinstance(error, EmptyReply):
                    if continued:
                        # the known failure of reused chats: retry once as a new folded chat
                        self.empty_continuations_recovered += 1
                        plan = self.new_chat_plan(request.messages, plan.history)
                        continue
                    empties += 1
                    if empties == 1:
                        continue
                    excluded.add(lease.name)
                    continue
                if rules_out_account(error):
                    excluded.add(lease.name)
                    if plan.node is not None:
                        plan = self.new_chat_plan(request.messages, plan.history)
                    continue
                failures += 1
                if not error.retryable:
                    raise
                if failures > self.settings.retries:
                    # the gateway already retried: the SDK retrying too would multiply the calls
                    error.should_retry = False
                    raise
                await asyncio.sleep(self._backoff(failures))
            except BaseException:
                # cancelled (the client hung up) before the first text: neutral for the account
                await lease.release(Outcome.abandoned())
                raise

    async def _attempt(
        self,
        request: ChatRequest,
        tenant: str,
        model: ResolvedModel,
        plan: Plan,
        lease: Lease,
        thinking: bool,
    ) -> Reply:
        cred = lease.credentials
        node = plan.node
        chat_id = (
            node.chat_id
            if node is not None
            else await self.client.create_chat(
                cred,
                model.upstream.id,
                chat_type="search" if model.search or request.web_search else "t2t",
            )
        )
        body = self._body(request, model, chat_id, node.parent_id if node else None, plan, thinking)
        stream = await self.client.open_completion(cred, chat_id, body)
        del body  # an open reply keeps nothing of its request
        try:
            first = await self._first_content(stream)
        except BaseException:
            stream.close()
            raise
        if node is not None:
            await self._touch(node)
        return Reply(
            self,
            tenant=tenant,
            history=plan.history,
            turn=len(request.messages) + 1,
            model=model,
            lease=lease,
            chat_id=chat_id,
            stream=stream,
            first=first,
        )

    async def _first_content(self, stream: UpstreamStream) -> list[Event]:
        """Read until there is something to show the client; failures so far can be retried.

        A content filter after some text is the reply's end, not a failure: the partial
        answer is kept and the client gets ``finish_reason: "content_filter"``.
        """
        held: list[Event] = []
        while (batch := await stream.next_batch()) is not None:
            held.extend(batch)
            for event in batch:
                if type(event) is StreamFailed:
                    assert isinstance(event, StreamFailed)
                    if isinstance(event.error, ContentFiltered) and stream.parser.saw_content:
                        return held
                    raise event.error
            if stream.parser.finished and not stream.parser.saw_content:
                raise EmptyReply(
                    "The upstream finished the reply without any content "
                    "(the account is probably throttled)."
                )
            if stream.parser.saw_content or stream.parser.finished:
                return held
        raise stream.parser.eof_error() or StreamCut()

    def _thinking(self, request: ChatRequest, model: ResolvedModel) -> bool:
        if model.upstream.thinking_only:
            return True
        if model.thinking is not None:
            return model.thinking
        if request.enable_thinking is not None:
            return request.enable_thinking
        if request.reasoning_effort is not None:
            return request.reasoning_effort in ("medium", "high", "xhigh")
        return False

    def _body(
        self,
        request: ChatRequest,
        model: ResolvedModel,
        chat_id: str,
        parent_id: str | None,
        plan: Plan,
        thinking: bool,
    ) -> dict[str, Any]:
        last = request.messages[-1]
        content: str | list[dict[str, Any]] = plan.content
        if last.images:
            content = [{"type": "text", "text": plan.content}] + [
                {"type": "image", "image": image.url} for image in last.images
            ]
        return completion_body(
            chat_id=chat_id,
            model=model.upstream.id,
            parent_id=parent_id,
            content=content,
            fid=str(uuid.uuid4()),
            child_id=str(uuid.uuid4()),
            now_s=int(self.clock()),
            chat_type="search" if model.search or request.web_search else "t2t",
            thinking=thinking,
            thinking_format=self.settings.thinking_format,
        )

    def _backoff(self, failures: int) -> float:
        base = self.settings.backoff_base * (2 ** (failures - 1))
        return float(min(self.settings.backoff_max, base) * random.uniform(0.5, 1.5))

    async def _touch(self, node: Node) -> None:
        try:
            await self.store.touch(node.key, self.clock())
        except Exception:
            log.warning("could not refresh conversation node of chat %s", node.chat_id)

    async def _forget(self, node: Node) -> None:
        try:
            await self.store.delete(node.key)
        except Exception:
            log.warning("could not forget conversation node of chat %s", node.chat_id)


def check_supported(request: ChatRequest) -> None:
    """Refuse, clearly, what the gateway cannot serve yet (never drop it silently)."""
    needs_tools = bool(request.tools) and request.tool_choice != "none"
    if needs_tools or any(m.tool_calls or m.role == "tool" for m in request.messages):
        raise InvalidRequest(
            "Tool calling is not supported by this gateway yet; send the request without "
            "'tools' (or with tool_choice 'none') and without tool messages.",
            param="tools",
            code="tools_not_supported",
        )
    if request.n != 1:
        raise InvalidRequest(
            "Only n=1 is supported: the upstream produces one answer per request.",
            param="n",
            code="unsupported_value",
        )
    for image in request.messages[-1].images:
        if not image.url.startswith(("http://", "https://")):
            raise InvalidRequest(
                "Only http(s) image URLs are supported yet; inline data: images are not.",
                param="messages",
                code="unsupported_value",
            )
