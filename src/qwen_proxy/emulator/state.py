"""The mutable world of one emulator: accounts, sessions, tokens, chats, faults, records, ids."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

from qwen_proxy.emulator.config import Account, EmulatorConfig, Knobs
from qwen_proxy.emulator.faults import FaultBoard, parse_cli_fault
from qwen_proxy.emulator.records import RecordedRequest, RequestLog
from qwen_proxy.emulator.sessions import BINDING_COOKIE, BrowserSession, SessionBook
from qwen_proxy.emulator.tokens import TokenRejected, mint_token, read_token
from qwen_proxy.emulator.tree import ChatStore

STATE_KEY: web.AppKey[EmulatorState] = web.AppKey("emulator_state")


@dataclass
class AuthFailure:
    """Why a request is not authenticated."""

    reason: Literal["missing", "expired", "invalid"]


@dataclass
class StoredFile:
    """An upload slot handed out by the STS route: the object's key and the temporary keys a
    PUT to it must be signed with; then the bytes, and how far their parsing got."""

    owner: str
    filename: str
    content_type: str = "application/octet-stream"
    data: bytes | None = None
    file_id: str = ""
    #: the object key in the bucket
    path: str = ""
    access_key_id: str = ""
    access_key_secret: str = field(default="", repr=False)
    security_token: str = field(default="", repr=False)
    #: the grant's file type (``image``, ``file``...)
    kind: str = "file"
    #: when parsing was asked for (a clock value), None before
    parse_started: float | None = None


@dataclass(frozen=True)
class Deletion:
    """A delete call that reached a chat route: whose, which chat (None: all of them), and
    whether a chat went."""

    account: str
    chat_id: str | None
    deleted: int


@dataclass
class EmulatorState:
    """Everything the routes share; built once per app by ``from_config``."""

    config: EmulatorConfig
    knobs: Knobs
    accounts: dict[str, Account] = field(default_factory=dict)
    sessions: SessionBook = field(default_factory=SessionBook)
    chats: ChatStore = field(default_factory=ChatStore)
    faults: FaultBoard = field(default_factory=FaultBoard)
    log: RequestLog = field(default_factory=lambda: RequestLog(2000))
    files: dict[str, StoredFile] = field(default_factory=dict)
    #: the same upload slots by object key (the object store's view)
    objects: dict[str, StoredFile] = field(default_factory=dict)
    #: made images by id: their key and bytes
    images: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    #: images each account made (by user id), for the daily quota
    images_made: dict[str, int] = field(default_factory=dict)
    #: tokens answered as expired although their ``exp`` is in the future (``expire_token``)
    expired_tokens: set[str] = field(default_factory=set)
    #: every token minted with the default lifetime, so none is handed out twice
    minted: set[str] = field(default_factory=set)
    ids: random.Random = field(default_factory=random.Random)
    #: the record of each request being handled, by ``id(request)`` (to add the write sizes)
    recording: dict[int, RecordedRequest] = field(default_factory=dict)
    #: every delete call, kept whether or not requests are recorded (tests of the cleanup)
    deletions: list[Deletion] = field(default_factory=list)

    @classmethod
    def from_config(cls, config: EmulatorConfig) -> EmulatorState:
        """A fresh state: tokens minted, global faults switched on."""
        state = cls(
            config=config,
            knobs=config.knobs(),
            log=RequestLog(config.record_limit),
            ids=random.Random(f"ids:{config.seed}"),
        )
        for account in config.accounts:
            state.add_account(account)
        for text in config.faults:
            state.faults.add(parse_cli_fault(text))
        return state

    def now(self) -> int:
        """The timestamp replies carry."""
        fixed = self.config.fixed_time
        return fixed if fixed is not None else int(time.time())

    def new_id(self) -> str:
        """A UUIDv4 from the seeded generator (same seed + same requests = same ids)."""
        return str(uuid.UUID(int=self.ids.getrandbits(128), version=4))

    @property
    def token_lifetime(self) -> int:
        """Seconds a new token lives: 15 minutes (configurable) for 2026-10, long before."""
        config = self.config
        return config.access_token_ttl if config.browser_sessions else config.token_ttl

    def mint(self, account: Account, exp: int | None = None, sid: str | None = None) -> str:
        """A token for ``account`` of session ``sid`` (default: its sample session, in the
        2026-10 era); ``exp`` defaults to now + the token lifetime."""
        if sid is None and self.config.browser_sessions:
            sid = account.sample_session or None
        secret, user, changed = self.config.secret, account.user_id, account.last_password_change
        if exp is not None:
            return mint_token(secret, user, changed, exp, sid)
        exp = int(time.time()) + self.token_lifetime
        token = mint_token(secret, user, changed, exp, sid)
        while token in self.minted:
            # same claims in the same second give the same JWT; a later exp keeps each new
            # token distinct (a renewal must hand out a token unlike the one it replaces)
            exp += 1
            token = mint_token(secret, user, changed, exp, sid)
        self.minted.add(token)
        return token

    def add_account(self, account: Account) -> Account:
        """Know one more account and give it a fresh token (and, in the 2026-10 era, the
        browser session it comes from)."""
        if self.config.browser_sessions and not account.sample_session:
            account.sample_session = self.open_session(account).sid
        account.token = self.mint(account)
        self.accounts[account.user_id] = account
        return account

    def random_hex(self, digits: int) -> str:
        """Seeded random hex digits (cookie values, refresh tokens)."""
        return f"{self.ids.getrandbits(digits * 4):0{digits}x}"

    def open_session(
        self,
        account: Account,
        *,
        acw_tc: str | None = None,
        refresh_token: str | None = None,
        other_cookies: tuple[tuple[str, str], ...] = (),
    ) -> BrowserSession:
        """A new signed-in browser for ``account``; its cookies default to fresh ones."""
        session = BrowserSession(
            sid=self.new_id(),
            user_id=account.user_id,
            acw_tc=acw_tc or self.random_hex(64),
            refresh_token=refresh_token or "rt." + self.random_hex(96),
            refresh_expires=int(time.time()) + self.config.refresh_token_ttl,
            other_cookies=other_cookies,
        )
        return self.sessions.add(session)

    def session_of(self, token: str) -> BrowserSession | None:
        """The browser session a token was minted for (None for one of the 2026-06 era)."""
        try:
            claims = read_token(self.config.secret, token, None)
        except TokenRejected:
            return None
        return self.sessions.get(claims.sid)

    def pair_broken(self, request: web.Request) -> bool:
        """True when a readable token comes with the cookie jar of another session (or with
        none): the firewall's pair gate. An unreadable token is left to authentication."""
        token = bearer(request) or request.cookies.get("token")
        if not token:
            return False
        try:
            read_token(self.config.secret, token, None)
        except TokenRejected:
            return False
        session = self.session_of(token)
        return session is None or request.cookies.get(BINDING_COOKIE) != session.acw_tc

    def by_email(self, email: str) -> Account | None:
        """The account with this email."""
        return next((a for a in self.accounts.values() if a.email == email), None)

    def expire(self, account: Account) -> str:
        """Answer the current token as expired from now on; returns a new valid token."""
        self.expired_tokens.add(account.token)
        account.token = self.mint(account)
        return account.token

    def authenticate(self, request: web.Request) -> Account | AuthFailure:
        """The account of a Bearer header or a ``token`` cookie (the header wins)."""
        token = bearer(request) or request.cookies.get("token")
        if not token:
            return AuthFailure("missing")
        try:
            claims = read_token(self.config.secret, token, time.time())
        except TokenRejected as exc:
            return AuthFailure(exc.reason)
        account = self.accounts.get(claims.user_id)
        if account is None or account.last_password_change != claims.last_password_change:
            return AuthFailure("invalid")
        if token in self.expired_tokens:
            return AuthFailure("expired")
        return account

    def token_exp(self, request: web.Request) -> int | None:
        """The ``exp`` of the token a request carries (unchecked), for the record."""
        token = bearer(request) or request.cookies.get("token")
        if not token:
            return None
        try:
            return read_token(self.config.secret, token, None).exp
        except TokenRejected:
            return None

    def peek_email(self, request: web.Request) -> str | None:
        """The email a request claims to be, without checking expiry (for fault scoping)."""
        token = bearer(request) or request.cookies.get("token")
        if not token:
            return None
        try:
            claims = read_token(self.config.secret, token, None)
        except TokenRejected:
            return None
        account = self.accounts.get(claims.user_id)
        return account.email if account else None


def bearer(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None
