"""Seadragon's tables: users, their API keys and login sessions, failed sign-ins, the
request log, the web chat's conversations, the one-time first-start setup token,
limits with their shared counters, and the audit log of queue control.

``migrations/versions`` creates exactly these; a change here needs a new revision.
Every timestamp is timezone-aware UTC, on SQLite too (see ``UtcDateTime``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Deterministic constraint names, so migrations name the same things on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always aware UTC in Python.

    SQLite has no time zones: SQLAlchemy stores the wall-clock digits and reads back
    naive datetimes, so values are normalised to UTC on the way in and tagged on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; Seadragon stores aware UTC timestamps only")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime()}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The highest band this user may give their own keys; None: the default API band.
    max_band: Mapped[str | None] = mapped_column(String(32), default=None)


class ApiKey(Base):
    """An API key; only its SHA-256 digest is stored, plus what is needed to recognise it."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    last4: Mapped[str] = mapped_column(String(4))
    hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    band: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def display(self) -> str:
        return f"{self.prefix}…{self.last4}"


class LoginSession(Base):
    """A signed-in web session; the JWT's ``jti`` must name a row here, so logout is real."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class LoginFailure(Base):
    """One failed sign-in, counted by every gateway sharing the database (throttling).

    ``key`` is a hash of the username and the client address, ``account`` one of the
    username alone, so neither is stored.
    """

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    account: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    failed_at: Mapped[datetime] = mapped_column(index=True)


class RequestLog(Base):
    """One row per request that reached the queue (or was refused on the way).

    ``user_id``/``key_id`` are plain integers, not foreign keys: the log outlives
    deleted users and keys, and a batch insert must never fail on one of them.
    """

    __tablename__ = "request_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True, default=None)
    key_id: Mapped[int | None] = mapped_column(Integer, default=None)
    kind: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(255))
    backend: Mapped[str | None] = mapped_column(String(64), default=None)
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    entry_band: Mapped[str] = mapped_column(String(32))
    dispatch_band: Mapped[str | None] = mapped_column(String(32), default=None)
    #: ok | cancelled | cleared | rejected | error | timeout
    status: Mapped[str] = mapped_column(String(16))
    error_kind: Mapped[str | None] = mapped_column(String(64), default=None)
    http_status: Mapped[int | None] = mapped_column(Integer, default=None)
    queued_at: Mapped[datetime] = mapped_column(index=True)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    first_token_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    #: The route template, e.g. ``/v1/chat/completions``.
    route: Mapped[str | None] = mapped_column(String(64), default=None)
    #: Queued until a slot took it, and from then until the end, in milliseconds.
    wait_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    run_ms: Mapped[int | None] = mapped_column(Integer, default=None)

    __table_args__ = (Index("ix_request_log_key_id", "key_id"),)


class Conversation(Base):
    """One web-chat conversation with its settings; only its owner ever sees it."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    model: Mapped[str | None] = mapped_column(String(255), default=None)
    system_prompt: Mapped[str | None] = mapped_column(Text, default=None)
    temperature: Mapped[float | None] = mapped_column(Float, default=None)
    max_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ConversationMessage(Base):
    """One turn of a conversation, with what the chat shows under an answer."""

    __tablename__ = "conversation_messages"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    #: Images sent with a user message, as data URIs (JSON list), or None.
    images: Mapped[str | None] = mapped_column(Text, default=None)
    model: Mapped[str | None] = mapped_column(String(255), default=None)
    #: ok | stopped | failed (assistant messages)
    status: Mapped[str | None] = mapped_column(String(16), default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    band: Mapped[str | None] = mapped_column(String(32), default=None)
    entry_band: Mapped[str | None] = mapped_column(String(32), default=None)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    duration_s: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SetupToken(Base):
    """The first-start setup link's token (its SHA-256 only), while no user exists."""

    __tablename__ = "setup_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column()


class Limit(Base):
    """Limits an admin set on one user or one key (exactly one of ``user_id``, ``key_id``).

    ``None`` means "no limit" for each figure.
    """

    __tablename__ = "limits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True, default=None
    )
    key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), unique=True, default=None
    )
    requests_per_minute: Mapped[int | None] = mapped_column(Integer, default=None)
    tokens_per_minute: Mapped[int | None] = mapped_column(Integer, default=None)
    concurrent_requests: Mapped[int | None] = mapped_column(Integer, default=None)
    allowed_models: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    token_budget: Mapped[int | None] = mapped_column(BigInteger, default=None)
    #: day | month (UTC calendar periods)
    budget_period: Mapped[str | None] = mapped_column(String(8), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LimitCounter(Base):
    """A count shared by every gateway: requests or tokens of a subject in one window."""

    __tablename__ = "limit_counters"

    #: ``u:<user id>`` or ``k:<key id>``
    subject: Mapped[str] = mapped_column(String(24), primary_key=True)
    #: requests | tokens | budget | lock
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    #: Start of the window, epoch seconds (a minute, a day or a month).
    window: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class LimitLease(Base):
    """One running request counted against a concurrency limit, until it ends or expires."""

    __tablename__ = "limit_leases"

    subject: Mapped[str] = mapped_column(String(24), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column()


class QueueAudit(Base):
    """One queue control action of an administrator: who, what, when, on what.

    Pauses and drains are replayed from here when a gateway starts (``db/queue_audit.py``):
    ``at`` is the switch's stamp, to the microsecond. ``user_id``/``key_id`` are plain
    integers, so the log outlives deleted users and keys; ``user_name`` keeps the name.
    """

    __tablename__ = "queue_audit"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, default=None)
    user_name: Mapped[str | None] = mapped_column(String(64), default=None)
    key_id: Mapped[int | None] = mapped_column(Integer, default=None)
    #: api_key | session
    via: Mapped[str] = mapped_column(String(16))
    #: pause | resume | drain | undrain | clear
    action: Mapped[str] = mapped_column(String(16))
    band: Mapped[str | None] = mapped_column(String(32), default=None)
    model: Mapped[str | None] = mapped_column(String(255), default=None)
    #: A backend name or a worker id (drain, undrain).
    target: Mapped[str | None] = mapped_column(String(255), default=None)
    #: clear: how many queued requests it ended.
    cleared: Mapped[int | None] = mapped_column(Integer, default=None)
