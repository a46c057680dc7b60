"""One chat completion, from the internal request to a reply whose first content is in hand.

``CompletionService.open`` plans the conversation (``plan``), leases an account, makes the
attempt, and applies the retry policy (``retry``) to what failed before the client saw a byte.
The policy decides; this module only does the I/O its decisions ask for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from qwen_proxy.accounts import (
    AccountPool,
    Lease,
    NoAccountAvailable,
    Outcome,
    OwnerUnavailable,
)
from qwen_proxy.config import Settings
from qwen_proxy.conversations.store import ConversationStore
from qwen_proxy.messages import CompletionRequest
from qwen_proxy.qwen.errors import UpstreamError, UpstreamTimeout
from qwen_proxy.service import plan as plans
from qwen_proxy.service.body import attempt_body, chat_type, thinking_for
from qwen_proxy.service.models import ModelCatalog, ResolvedModel
from qwen_proxy.service.plan import Plan
from qwen_proxy.service.reply import Recorder, Reply, first_content
from qwen_proxy.service.retry import Decision, RetryPolicy, Then, Why
from qwen_proxy.service.upstream import Upstream

log = logging.getLogger("qwen_proxy.service.completion")

Sleep = Callable[[float], Awaitable[None]]


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
    ) -> None:
        self.settings = settings
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
        #: continued chats whose empty reply was recovered by a folded new chat
        self.empty_continuations_recovered = 0

    async def open(self, request: CompletionRequest, tenant: str) -> Reply:
        """Start the reply; returns once its first content is in hand, or raises GatewayError.

        The first content must come within ``first_content_timeout`` seconds, however many
        attempts it takes and whatever the upstream sends meanwhile (comments, empty events).
        """
        limit = self.settings.first_content_timeout
        try:
            async with asyncio.timeout(limit):
                return await self._open(request, tenant)
        except TimeoutError:
            raise UpstreamTimeout(
                f"Qwen sent no content within {limit:g} s (QWEN_PROXY_FIRST_CONTENT_TIMEOUT). "
                "Retry in a moment."
            ) from None

    async def _open(self, request: CompletionRequest, tenant: str) -> Reply:
        model = await self.catalog.resolve(request.model)
        plan = await plans.plan_request(self.store, tenant, request.messages)
        thinking = thinking_for(request, model)
        tried = self.policy.start(continued=plan.node is not None)
        excluded: set[str] = set()
        started = time.monotonic()
        while True:
            try:
                lease = await self.pool.acquire(
                    model.upstream.id, owner=plan.owner, exclude=excluded
                )
            except (OwnerUnavailable, NoAccountAvailable) as refusal:
                decision = self.policy.decide(refusal, tried)
            else:
                try:
                    return await self._attempt(request, tenant, model, plan, lease, thinking)
                except UpstreamError as error:
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
            plan = await self._follow(decision, plan, request, started)

    async def _follow(
        self, decision: Decision, plan: Plan, request: CompletionRequest, started: float
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
            return plans.folded(request.messages, plan.history)
        return plan

    async def _attempt(
        self,
        request: CompletionRequest,
        tenant: str,
        model: ResolvedModel,
        plan: Plan,
        lease: Lease,
        thinking: bool,
    ) -> Reply:
        """One try on one account: the chat, the posted turn, the reply's first content."""
        cred = lease.credentials
        node = plan.node
        chat_id = (
            node.chat_id
            if node is not None
            else await self.client.create_chat(
                cred, model.upstream.id, chat_type=chat_type(request, model)
            )
        )
        body = attempt_body(
            request,
            model,
            plan,
            chat_id=chat_id,
            thinking=thinking,
            thinking_format=self.settings.thinking_format,
            now=self.clock(),
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
