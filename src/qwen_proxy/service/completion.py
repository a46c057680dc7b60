"""One chat completion, from the internal request to a reply whose first content is in hand.

``CompletionService.open`` plans the conversation (``plan``), leases an account, makes the
attempt, and applies the retry policy (``retry``) to what failed before the client saw a byte.
The policy decides; this module only does the I/O its decisions ask for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from qwen_proxy.accounts import (
    AccountPool,
    Lease,
    NoAccountAvailable,
    Outcome,
    OwnerUnavailable,
)
from qwen_proxy.config import Settings
from qwen_proxy.conversations.store import ConversationStore
from qwen_proxy.errors import InvalidRequest
from qwen_proxy.messages import ChatMessage, CompletionRequest
from qwen_proxy.qwen.errors import UpstreamError, UpstreamTimeout
from qwen_proxy.qwen.files import UploadedFile, file_entry
from qwen_proxy.service import plan as plans
from qwen_proxy.service.body import attempt_body, chat_type, thinking_for, turn_body
from qwen_proxy.service.caller import check_model
from qwen_proxy.service.live import LiveStats
from qwen_proxy.service.metrics import TIME_TO_FIRST_TOKEN, count_upstream_failure
from qwen_proxy.service.models import ModelCatalog, ResolvedModel
from qwen_proxy.service.oversize import FILE_NAME, split_turn
from qwen_proxy.service.plan import Plan
from qwen_proxy.service.reply import Recorder, Reply, first_content
from qwen_proxy.service.retry import Decision, RetryPolicy, Then, Why
from qwen_proxy.service.tool_reply import Reopen, ToolReply
from qwen_proxy.service.tooling import Tooling, joined
from qwen_proxy.service.upstream import ReplyStream, Upstream
from qwen_proxy.uploads import Attacher, Loaded, Media, text_document

log = logging.getLogger("qwen_proxy.service.completion")

Sleep = Callable[[float], Awaitable[None]]

#: stands in for a chat id (same length) while a body is measured before the chat exists
_SOME_CHAT_ID = "00000000-0000-4000-8000-000000000000"
#: stands in for the entry of a transcript file while a body is measured before its upload
#: (a storage URL signed with temporary keys runs to several hundred characters)
_SOME_FILE = file_entry(
    UploadedFile(_SOME_CHAT_ID, "x" * 2048, FILE_NAME, 10**9, "text/plain", "document")
)


class CompletionService:
    """Opens replies: plan, pick an account, call the upstream, retry what failed early."""

    def __init__(
        self,
        settings: Settings,
        client: Upstream,
        catalog: ModelCatalog,
        pool: AccountPool,
        store: ConversationStore,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        policy: RetryPolicy | None = None,
        attacher: Attacher | None = None,
        live: LiveStats | None = None,
    ) -> None:
        self.settings = settings
        #: images and documents (None: a request with attachments is refused)
        self.attacher = attacher
        self.client = client
        self.catalog = catalog
        self.pool = pool
        self.store = store
        self.clock = clock
        self._sleep = sleep
        self.policy = policy or RetryPolicy(
            retries=settings.retries,
            backoff_base=settings.backoff_base,
            backoff_max=settings.backoff_max,
        )
        self._recorder = Recorder(store, clock, settings.continue_from)
        #: the live numbers the faces update per request (the admin page shows them)
        self.live = live or LiveStats()
        #: continued chats whose empty reply was recovered by a folded new chat
        self.empty_continuations_recovered = 0

    async def open(self, request: CompletionRequest, tenant: str) -> Reply:
        """Start the reply; returns once its first content is in hand, or raises GatewayError.

        The first content must come within ``first_content_timeout`` seconds, however many
        attempts it takes and whatever the upstream sends meanwhile (comments, empty events).
        """
        limit = self.settings.first_content_timeout
        check_model(request.model)
        started = time.monotonic()
        try:
            async with asyncio.timeout(limit):
                reply = await self._open(request, tenant)
        except TimeoutError:
            raise UpstreamTimeout(
                f"Qwen sent no content within {limit:g} s (QWEN_PROXY_FIRST_CONTENT_TIMEOUT). "
                "Retry in a moment."
            ) from None
        reply.started = started
        TIME_TO_FIRST_TOKEN.labels(reply.model.upstream.id).observe(time.monotonic() - started)
        return reply

    async def _open(self, request: CompletionRequest, tenant: str) -> Reply:
        model = await self.catalog.resolve(request.model)
        tooling = Tooling.of(request)
        plan = await plans.plan_request(self.store, tenant, request.messages, tooling)
        thinking = thinking_for(request, model)
        tried = self.policy.start(continued=plan.node is not None)
        excluded: set[str] = set()
        started = time.monotonic()
        loaded: Loaded = {}
        while True:
            # fetched and checked before an account is held (a folded retry adds the history's)
            media = await self._media(request, plan, loaded)
            try:
                lease = await self.pool.acquire(
                    model.upstream.id, owner=plan.owner, exclude=excluded
                )
            except (OwnerUnavailable, NoAccountAvailable) as refusal:
                decision = self.policy.decide(refusal, tried)
            else:
                try:
                    return await self._attempt(
                        request, tenant, model, plan, lease, thinking, media, tooling
                    )
                except UpstreamError as error:
                    count_upstream_failure(error)
                    decision = self.policy.decide(error, tried)
                    assert decision.outcome is not None  # an upstream failure always has one
                    await lease.release(decision.outcome)
                    if decision.exclude:
                        excluded.add(lease.name)
                    if decision.renew:
                        await self.pool.wait_for_renewal(lease.name)
                except BaseException:
                    # cancelled (the client hung up) before the first text: neutral for the
                    # account; any other escape is our fault, not the account's
                    await lease.release(Outcome.abandoned())
                    raise
            tried = decision.attempts
            plan = await self._follow(decision, plan, request, tooling, started)

    async def _follow(
        self,
        decision: Decision,
        plan: Plan,
        request: CompletionRequest,
        tooling: Tooling | None,
        started: float,
    ) -> Plan:
        """Carry out a decision: forget a lost node, raise, wait; the plan of the next attempt."""
        if decision.forget and plan.node is not None:
            log.info("chat %s lost its parent upstream; folding", plan.node.chat_id)
            await plans.forget(self.store, plan.node)
        if decision.then is Then.GIVE_UP:
            error = decision.error
            assert error is not None  # every give-up names what to raise
            if decision.stop_client_retries:
                error.should_retry = False
                # one attempt's own figure ("60 s before the first byte") is not what the
                # client waited: say the whole of it
                waited = time.monotonic() - started
                attempts = decision.attempts.failures
                error.message = (
                    f"{error.message} Gave up after {attempts} "
                    f"attempt{'s' if attempts != 1 else ''} over {waited:.1f} s."
                )
            raise error
        if decision.why is Why.EMPTY_CONTINUATION:
            self.empty_continuations_recovered += 1
        if decision.wait > 0:
            await self._sleep(decision.wait)
        if decision.then is Then.FOLD:
            return plans.folded(request.messages, plan.history, tooling)
        return plan

    async def _attempt(
        self,
        request: CompletionRequest,
        tenant: str,
        model: ResolvedModel,
        plan: Plan,
        lease: Lease,
        thinking: bool,
        media: list[Media],
        tooling: Tooling | None,
    ) -> Reply:
        """One try on one account: the uploads, the chat, the posted turn, the reply's first
        content."""
        cred = lease.credentials
        node = plan.node
        files = await self._upload(lease, media)
        content, extra = await self._fit(request, model, plan, lease, thinking, files, tooling)
        if node is not None:
            chat_id = node.chat_id
        else:
            chat_id = await self.client.create_chat(
                cred, model.upstream.id, chat_type=chat_type(request, model)
            )
            await plans.note_new_chat(self.store, chat_id, lease.name, self.clock())
        body = attempt_body(
            request,
            model,
            plan,
            chat_id=chat_id,
            thinking=thinking,
            thinking_format=self.settings.thinking_format,
            now=self.clock(),
            files=[*files, *extra],
            content=content,
        )
        stream = await self.client.open_completion(cred, chat_id, body)
        del body  # an open reply keeps nothing of its request
        try:
            first = await first_content(stream)
        except BaseException:
            stream.close()
            raise
        if node is not None:
            await plans.touch(self.store, node, self.clock())
        if tooling is not None:
            return ToolReply(
                self._recorder,
                tenant=tenant,
                history=plan.history,
                turn=len(request.messages) + 1,
                model=model,
                lease=lease,
                chat_id=chat_id,
                stream=stream,
                first=first,
                tooling=tooling,
                reopen=self._reopener(request, model, lease, chat_id, thinking),
            )
        return Reply(
            self._recorder,
            tenant=tenant,
            history=plan.history,
            turn=len(request.messages) + 1,
            model=model,
            lease=lease,
            chat_id=chat_id,
            stream=stream,
            first=first,
        )

    async def _media(self, request: CompletionRequest, plan: Plan, loaded: Loaded) -> list[Media]:
        """The images and documents of the messages ``plan`` sends, fetched and checked."""
        sent = request.messages[plan.sent_from :]
        if not any(m.images or m.files for m in sent):
            return []
        if self.attacher is None:
            raise InvalidRequest("This gateway takes no images or files.", param="messages")
        return await self.attacher.load(sent, loaded, trim=plan.node is None)

    async def _upload(self, lease: Lease, media: list[Media]) -> list[dict[str, Any]]:
        """The ``files[]`` entries of ``media``, uploaded for the lease's account."""
        if not media:
            return []
        assert self.attacher is not None  # media are only loaded with one
        return await self.attacher.entries(lease.name, lease.credentials, media)

    async def _fit(
        self,
        request: CompletionRequest,
        model: ResolvedModel,
        plan: Plan,
        lease: Lease,
        thinking: bool,
        files: list[dict[str, Any]],
        tooling: Tooling | None = None,
    ) -> tuple[str | None, list[dict[str, Any]]]:
        """Keep the body under the upstream's cap: None and no file when the plan's text fits;
        else the text to send instead and the entry of the older part, uploaded as a file.
        With tools, the inline part is rendered as the plan's was (the tool prompt of a new
        chat stays inline with the system text; the reminder ends the message)."""
        cap = self.settings.max_upstream_body

        def size(content: str | None, entries: list[dict[str, Any]]) -> int:
            body = attempt_body(
                request,
                model,
                plan,
                chat_id=_SOME_CHAT_ID,
                thinking=thinking,
                thinking_format=self.settings.thinking_format,
                now=self.clock(),
                files=entries,
                content=content,
            )
            return len(orjson.dumps(body))

        if size(None, files) <= cap:
            return None, []
        reserved = [*files, _SOME_FILE]
        sent: Sequence[ChatMessage] = request.messages[plan.sent_from :]
        earlier = request.messages[: plan.sent_from]
        suffix = ""
        if tooling is not None:
            sent, suffix = tooling.for_split(sent, earlier, new_chat=plan.node is None)
        split = split_turn(
            sent,
            earlier=earlier,
            fits=lambda text: size(joined(text, suffix), reserved) <= cap,
        )
        if split is None or self.attacher is None:
            raise InvalidRequest(
                "The newest message is too long for the upstream: with it the request would "
                f"be over {cap} bytes (QWEN_PROXY_MAX_UPSTREAM_BODY). Shorten it, or attach "
                "the text as a file.",
                param="messages",
                code="context_length_exceeded",
            )
        transcript = text_document(FILE_NAME, split.attached)
        log.info(
            "turn over %d bytes: %d bytes of older messages go up as a file", cap, transcript.size
        )
        entries = await self.attacher.entries(lease.name, lease.credentials, [transcript])
        return joined(split.inline, suffix), entries

    def _reopener(
        self,
        request: CompletionRequest,
        model: ResolvedModel,
        lease: Lease,
        chat_id: str,
        thinking: bool,
    ) -> Reopen:
        """How a tool reply sends its hidden corrective turn: same chat, account, settings."""

        async def reopen(content: str, parent_id: str) -> ReplyStream:
            body = turn_body(
                request,
                model,
                chat_id=chat_id,
                parent_id=parent_id,
                content=content,
                thinking=thinking,
                thinking_format=self.settings.thinking_format,
                now=self.clock(),
            )
            return await self.client.open_completion(lease.credentials, chat_id, body)

        return reopen
