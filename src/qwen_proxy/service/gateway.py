"""The gateway's running parts, wired together: upstream client, accounts, store, catalog."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import TYPE_CHECKING

from qwen_proxy.accounts import AccountPool, Credentials, accounts_path
from qwen_proxy.accounts.renewal import Renewal
from qwen_proxy.accounts.shared import LocalShare, SessionShare
from qwen_proxy.accounts.status import MODEL_LIST
from qwen_proxy.accounts.sync import ENV_ACCOUNT, AccountsFile
from qwen_proxy.config import Settings
from qwen_proxy.conversations import open_store, tenant_id
from qwen_proxy.conversations.factory import open_response_store
from qwen_proxy.conversations.redis import RedisStore
from qwen_proxy.conversations.responses import ResponseStore
from qwen_proxy.conversations.store import ConversationStore
from qwen_proxy.conversations.tenants import load_secret, new_secret
from qwen_proxy.errors import GatewayError, ServiceUnavailable
from qwen_proxy.keys import KeyError_, KeyRegistry, open_key_store, open_limiter
from qwen_proxy.qwen.auth import sharing_settings
from qwen_proxy.qwen.client import QwenClient
from qwen_proxy.qwen.errors import UpstreamError
from qwen_proxy.service.admission import Gate
from qwen_proxy.service.caller import UsageBook
from qwen_proxy.service.cleanup import ChatCleanup
from qwen_proxy.service.completion import CompletionService
from qwen_proxy.service.images import ImageService
from qwen_proxy.service.live import LiveStats
from qwen_proxy.service.models import ModelCatalog
from qwen_proxy.service.outcomes import outcome_for, rules_out_account
from qwen_proxy.uploads import MAX_IMAGE_BYTES, Attacher, RemoteFetcher, Uploader

if TYPE_CHECKING:
    from qwen_proxy.accounts.redis_state import RedisStateStore

log = logging.getLogger("qwen_proxy")

PURGE_INTERVAL = 3600.0
#: the longest wait between two looks for tokens to renew (or to warn about)
RENEW_INTERVAL = 300.0
#: the shortest (a renewal due now is started by the look itself)
RENEW_MIN_WAIT = 0.25
#: how often accounts.json is checked for the operator's changes (a stat call)
ACCOUNTS_POLL_INTERVAL = 2.0
#: how often the key store is checked for changes (a running gateway follows within 2 s)
KEYS_POLL_INTERVAL = 1.0
#: how often the named keys' usage is added to the key store
USAGE_FLUSH_INTERVAL = 2.0


def configured_accounts(settings: Settings, file: AccountsFile | None = None) -> list[Credentials]:
    """Accounts from the data directory, plus QWEN_PROXY_TOKEN as the account "env"."""
    file = file or AccountsFile(accounts_path(settings.data_dir))
    accounts = file.load()
    if settings.token:
        if any(a.name == ENV_ACCOUNT for a in accounts):
            log.warning(
                "the account %s of accounts.json is not used: QWEN_PROXY_TOKEN takes its "
                "place; unset QWEN_PROXY_TOKEN, or give that account another name",
                ENV_ACCOUNT,
            )
        accounts = [a for a in accounts if a.name != ENV_ACCOUNT]
        accounts.append(
            Credentials(name=ENV_ACCOUNT, token=settings.token, cookies=settings.cookies)
        )
    return accounts


def shared_state_store(settings: Settings) -> RedisStateStore | None:
    """Account state in Redis when the store is Redis (instances then share it), else None."""
    if not settings.uses_redis:
        return None
    # imported here: redis is an optional dependency
    from qwen_proxy.accounts.redis_state import RedisStateStore

    return RedisStateStore(settings.store, prefix=settings.redis_prefix)


def session_share(state: RedisStateStore | None, settings: Settings) -> SessionShare:
    """Where renewed sessions are shared: the instances' Redis, or nowhere (one process)."""
    if state is None:
        return LocalShare()
    from qwen_proxy.accounts.redis_share import RedisSessionShare

    return RedisSessionShare(state.client, prefix=settings.redis_prefix)


class Gateway:
    """Everything a request needs, created at startup and closed at shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = QwenClient(settings)
        self.accounts_file = AccountsFile(
            accounts_path(settings.data_dir),
            keep_in_memory=(ENV_ACCOUNT,) if settings.token else (),
        )
        self._shared_state = shared_state_store(settings)
        self.pool = AccountPool(
            configured_accounts(settings, self.accounts_file),
            max_concurrent=settings.account_max_concurrent,
            min_interval=settings.account_min_interval,
            store=self._shared_state,
            # instances compare times through Redis, so a shared store needs wall time
            clock=time.monotonic if self._shared_state is None else time.time,
            renew=self._sign_in,
            refresh=self._refresh,
            share=session_share(self._shared_state, settings),
            signin_interval=settings.signin_interval,
            make_private=self._make_private,
            on_change=self.accounts_file.save,
        )
        self.catalog = ModelCatalog(self._fetch_models, ttl=settings.models_ttl)
        self.uploader = Uploader(self.client, oss_url=settings.oss_url)
        self.fetcher = RemoteFetcher(
            timeout=settings.fetch_timeout,
            max_bytes=MAX_IMAGE_BYTES,
            allow_private=settings.fetch_private,
        )
        self.keys = KeyRegistry(
            open_key_store(
                settings.store, data_dir=settings.data_dir, redis_prefix=settings.redis_prefix
            )
        )
        self.book = UsageBook()
        self._keys_problem: str | None = None
        self.gate = Gate(open_limiter(settings.store, redis_prefix=settings.redis_prefix))
        #: requests, errors, time to first token and open streams of the last 15 minutes
        self.live = LiveStats()
        self._store: ConversationStore | None = None
        self._responses: ResponseStore | None = None
        self._tenant_secret: bytes | None = None
        self._service: CompletionService | None = None
        self._images: ImageService | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def store(self) -> ConversationStore:
        """The conversation store (open after ``start``)."""
        if self._store is None:
            raise ServiceUnavailable("The gateway is starting up.")
        return self._store

    @property
    def responses(self) -> ResponseStore:
        """The stored Responses API records, beside the conversations (open after ``start``)."""
        if self._responses is None:
            raise ServiceUnavailable("The gateway is starting up.")
        return self._responses

    @property
    def service(self) -> CompletionService:
        """The completion service (ready after ``start``)."""
        if self._service is None:
            raise ServiceUnavailable("The gateway is starting up.")
        return self._service

    @property
    def images(self) -> ImageService:
        """The image service (ready after ``start``)."""
        if self._images is None:
            raise ServiceUnavailable("The gateway is starting up.")
        return self._images

    async def start(self) -> None:
        """Open connections and the store."""
        if not self.pool.snapshot():
            log.warning(
                "no Qwen account configured: run 'qwen-proxy accounts import-curl NAME' with a "
                "request copied from your browser (or set QWEN_PROXY_TOKEN); completions will "
                "answer 503 until then"
            )
        await self.client.start()
        self._store = open_store(
            self.settings.store,
            data_dir=self.settings.data_dir,
            ttl=self.settings.conversation_ttl,
            max_nodes=self.settings.conversation_max_nodes,
            redis_prefix=self.settings.redis_prefix,
        )
        self._responses = open_response_store(
            self.settings.store,
            data_dir=self.settings.data_dir,
            ttl=self.settings.conversation_ttl,
            max_records=self.settings.conversation_max_nodes,
            redis_prefix=self.settings.redis_prefix,
        )
        if not await self._load_tenant_secret():
            # Redis is down (redis_client logged it once): requests answer 503 meanwhile
            self._tasks.append(
                asyncio.create_task(self._retry_tenant_secret(), name="tenant-secret")
            )
        attacher = Attacher(self.uploader, self.fetcher)
        self._service = CompletionService(
            self.settings,
            self.client,
            self.catalog,
            self.pool,
            self._store,
            attacher=attacher,
            live=self.live,
        )
        self._images = ImageService(self.settings, self.client, self.catalog, self.pool, attacher)
        await self._load_keys()
        self._tasks.append(asyncio.create_task(self._follow_keys(), name="keys"))
        self._tasks.append(asyncio.create_task(self._flush_usage(), name="key-usage"))
        if self.settings.cleanup_interval > 0:
            self._tasks.append(asyncio.create_task(self._clean_up_chats(), name="chat-cleanup"))
        self._tasks.append(asyncio.create_task(self._purge_expired(), name="purge-expired"))
        self._tasks.append(asyncio.create_task(self._renew_tokens(), name="renew-tokens"))
        self._tasks.append(asyncio.create_task(self._follow_accounts_file(), name="accounts-file"))

    def tenant_of(self, client_key: str) -> str:
        """The tenant a client key's conversations belong to (keyed by the installation)."""
        if self._tenant_secret is None:
            raise ServiceUnavailable(
                "The conversation store is unavailable (Redis does not answer).",
                code="store_unavailable",
            )
        return tenant_id(client_key, self._tenant_secret)

    async def _load_tenant_secret(self) -> bool:
        """Read (or make) the installation's secret; False while a Redis store is down."""
        store = self._store
        if isinstance(store, RedisStore):
            try:
                self._tenant_secret = await store.shared_secret(new_secret())
            except ServiceUnavailable:
                return False
        elif self.settings.store == "memory":
            self._tenant_secret = new_secret()  # the conversations die with the process too
        else:
            self._tenant_secret = load_secret(self.settings.data_dir)
        return True

    async def _retry_tenant_secret(self) -> None:
        """Until Redis answers: nothing else signals its return, so ask once a second."""
        while True:
            await asyncio.sleep(1.0)
            if await self._load_tenant_secret():
                return

    async def stop(self) -> None:
        """Close everything ``start`` opened."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self._write_usage()
        await self.keys.store.close()
        await self.gate.limiter.close()
        await self.pool.aclose()
        await self.fetcher.close()
        await self.client.close()
        if self._shared_state is not None:
            await self._shared_state.aclose()
        if self._store is not None:
            await self._store.close()
        if self._responses is not None:
            await self._responses.close()

    async def _purge_expired(self) -> None:
        """Forget conversation nodes past their TTL, hourly (reads already treat them as gone)."""
        while True:
            await asyncio.sleep(PURGE_INTERVAL)
            try:
                removed = await self.store.purge()
                await self.responses.purge_responses()
            except Exception as exc:  # a store hiccup must not end the loop
                log.warning("purging expired conversation nodes failed: %s", exc)
                continue
            if removed:
                log.info("forgot %d expired conversation node(s)", removed)

    async def _load_keys(self) -> bool:
        """Read the named keys; until they are read, a request with a named key gets a 503."""
        try:
            await self.keys.refresh()
        except KeyError_ as error:
            if str(error) != self._keys_problem:  # once per problem, not once a second
                log.error("cannot read the client keys: %s", error)
            self._keys_problem = str(error)
            return False
        except GatewayError:
            return False  # Redis is down: redis_client logged it once
        self._keys_problem = None
        return True

    async def _follow_keys(self) -> None:
        """Follow keys added or revoked by the CLI, the admin route or another instance."""
        while True:
            await asyncio.sleep(KEYS_POLL_INTERVAL)
            await self._load_keys()

    async def _write_usage(self) -> None:
        """Add what the named keys used since the last write to the key store."""
        deltas = self.book.take()
        if not deltas:
            return
        try:
            await self.keys.store.add_usage(deltas, time.time())
        except Exception as exc:  # usage is bookkeeping: losing a few seconds of it is no outage
            log.warning("could not record client key usage: %s", type(exc).__name__)

    async def _flush_usage(self) -> None:
        """Write the keys' usage every few seconds, off the request path."""
        while True:
            await asyncio.sleep(USAGE_FLUSH_INTERVAL)
            await self._write_usage()

    def chat_cleanup(self) -> ChatCleanup:
        """The cleanup of upstream chats, on the accounts of this gateway's pool."""

        def accounts() -> dict[str, Credentials | None]:
            active = {s.name for s in self.pool.snapshot() if s.state == "active"}
            return {c.name: c if c.name in active else None for c in self.pool.accounts()}

        return ChatCleanup(self.store, self.client, accounts, pace=self.settings.cleanup_pace)

    async def _clean_up_chats(self) -> None:
        """Delete the chats no conversation can continue any more, every cleanup interval;
        one instance of those sharing a store does it per interval."""
        interval = self.settings.cleanup_interval
        cleanup = self.chat_cleanup()
        while True:
            await asyncio.sleep(interval)
            try:
                if await self.store.claim_cleanup(time.time(), interval * 0.9):
                    await cleanup.run(older_than=self.settings.conversation_ttl)
            except Exception as exc:  # one failed pass must not end the loop
                log.warning("cleaning up upstream chats failed: %s", type(exc).__name__)

    async def _sign_in(self, credentials: Credentials) -> str | Renewal:
        """A fresh token by password sign-in (the pool paces and serialises these): at the
        auth host as the account's browser, or, for an account without one, the old way."""
        if not credentials.email or not credentials.password:
            raise ValueError("no email and password stored")
        digest = hashlib.sha256(credentials.password.encode()).hexdigest()
        if credentials.is_browser_session:
            answer = await self.client.sign_in_session(credentials, credentials.email, digest)
            return Renewal.from_answer(answer)
        return await self.client.sign_in(credentials.email, digest)

    async def _refresh(self, credentials: Credentials) -> Renewal:
        """A fresh token for the account's browser session, from its cookie jar."""
        return Renewal.from_answer(await self.client.refresh_session(credentials))

    async def _make_private(self, credentials: Credentials) -> None:
        """Switch Qwen's memory and built-in tools off for the account."""
        await self.client.update_settings(credentials, sharing_settings())

    async def _renew_tokens(self) -> None:
        """Renew tokens ahead of their end (or warn when one cannot be renewed)."""
        while True:
            try:
                await self.pool.renew_due()
            except Exception as exc:  # one failed round must not end the loop
                log.warning("renewing account tokens failed: %s", type(exc).__name__)
            wait = self.pool.next_renewal_in(RENEW_INTERVAL)
            await asyncio.sleep(max(RENEW_MIN_WAIT, wait))

    async def _follow_accounts_file(self) -> None:
        """Apply the operator's edits of accounts.json (CLI add/remove/import-cookies)."""
        while True:
            await asyncio.sleep(ACCOUNTS_POLL_INTERVAL)
            try:
                if await self.accounts_file.apply_changes(self.pool):
                    log.info("accounts.json changed; the account pool follows it")
            except OSError as exc:
                log.warning("could not re-read accounts.json: %s", type(exc).__name__)

    async def readiness_problems(self) -> list[str]:
        """Why the gateway cannot serve now (empty when ready)."""
        problems = []
        if not self.pool.usable():
            problems.append("no Qwen account is usable")
        try:
            if not await self.store.ping():
                problems.append("the conversation store does not answer")
        except Exception:
            problems.append("the conversation store does not answer")
        if self._shared_state is not None and not await self._shared_state.ping():
            problems.append("the shared account state (Redis) does not answer")
        return problems

    async def _fetch_models(self) -> list[dict[str, object]]:
        """The upstream's model list, from another account when one's token or WAF fails."""
        failed: set[str] = set()
        while True:
            lease = await self.pool.acquire(MODEL_LIST, exclude=failed)
            # the lease reports a success on exit, and a cancelled fetch as abandoned
            async with lease:
                try:
                    models = await self.client.list_models(lease.credentials)
                except UpstreamError as error:
                    # an expired token or a captcha on the model list says as much about the
                    # account as on a completion
                    await lease.release(outcome_for(error))
                    if not rules_out_account(error):
                        raise
                    failed.add(lease.name)
                    continue
            return list(models)
