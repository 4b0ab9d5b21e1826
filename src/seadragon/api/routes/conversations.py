"""The web chat's conversations: ``/api/conversations``, and ``/api/chat/defaults``.

Conversations belong to one user; another user's conversation answers 404 exactly like
one that does not exist. The browser streams answers from ``/v1/chat/completions`` and
records each turn here, so a conversation follows its user to any browser. Deleting a
message deletes every later one too: that is how "regenerate" and "edit and resend"
rewrite the end of a conversation.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
)

from seadragon.api.deps import DbSession, SettingsDep, UserDep
from seadragon.db import conversations as repo
from seadragon.db.tables import Conversation, ConversationMessage
from seadragon.errors import InvalidRequest, NotFound
from seadragon.queue.base import BaseQueueManager

router = APIRouter(tags=["conversations"])

_MAX_ID = 2**31 - 1
ConversationId = Annotated[int, Path(ge=1, le=_MAX_ID)]
MessageId = Annotated[int, Path(ge=1, le=2**63 - 1)]
MAX_TITLE = 200
AUTO_TITLE = 60
MAX_CONTENT = 1_000_000
MAX_IMAGES = 4
DATA_URI = re.compile(r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]+")


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and no title or message needs one.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[StrictStr, AfterValidator(_no_nul)]


def _data_uri(value: str) -> str:
    if not DATA_URI.fullmatch(value):
        raise ValueError("must be a base64 data: URI of a PNG, JPEG, GIF or WebP image")
    return value


ImageUri = Annotated[StrictStr, AfterValidator(_data_uri)]


class ConversationSettings(BaseModel):
    """The per-conversation settings, all optional (null: the model's default)."""

    model_config = ConfigDict(extra="forbid")

    model: Text | None = Field(default=None, max_length=255)
    system_prompt: Text | None = Field(default=None, max_length=100_000)
    temperature: float | None = Field(default=None, ge=0, le=2, strict=True)
    max_tokens: StrictInt | None = Field(default=None, ge=1, le=_MAX_ID)


class ConversationCreate(ConversationSettings):
    title: Text = Field(default="", max_length=MAX_TITLE)


class ConversationPatch(ConversationSettings):
    title: Text | None = Field(default=None, max_length=MAX_TITLE)


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: Text = Field(max_length=MAX_CONTENT)
    images: list[ImageUri] = Field(default_factory=list, max_length=MAX_IMAGES)
    model: Text | None = Field(default=None, max_length=255)
    status: Literal["ok", "stopped", "failed"] | None = None
    request_id: Text | None = Field(default=None, max_length=64)
    band: Text | None = Field(default=None, max_length=32)
    entry_band: Text | None = Field(default=None, max_length=32)
    prompt_tokens: StrictInt | None = Field(default=None, ge=0, le=_MAX_ID)
    completion_tokens: StrictInt | None = Field(default=None, ge=0, le=_MAX_ID)
    duration_s: float | None = Field(default=None, ge=0, le=10**7, strict=True)


class MessageOut(BaseModel):
    id: int
    role: str
    content: str
    images: list[str]
    model: str | None
    status: str | None
    request_id: str | None
    band: str | None
    entry_band: str | None
    #: The request moved up at least one band while it waited.
    aged: bool
    prompt_tokens: int | None
    completion_tokens: int | None
    duration_s: float | None
    created_at: datetime

    @classmethod
    def of(cls, row: ConversationMessage) -> MessageOut:
        aged = bool(row.band and row.entry_band and row.band != row.entry_band)
        fields = {name: getattr(row, name) for name in cls.model_fields if name != "aged"}
        fields["images"] = json.loads(row.images) if row.images else []
        return cls(**fields, aged=aged)


class ConversationOut(BaseModel):
    id: int
    title: str
    model: str | None
    system_prompt: str | None
    temperature: float | None
    max_tokens: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Conversation) -> ConversationOut:
        return cls.model_validate(row, from_attributes=True)


class ConversationDetail(ConversationOut):
    messages: list[MessageOut]


def auto_title(text: str) -> str:
    """A title from a first message: its words on one line, cut at a word near 60 chars."""
    words = " ".join(text.split())
    if len(words) <= AUTO_TITLE:
        return words or "New chat"
    cut = words[:AUTO_TITLE].rsplit(" ", 1)[0] or words[:AUTO_TITLE]
    return cut.rstrip(" ,.;:") + "…"


async def _owned(db: DbSession, caller: UserDep, conversation_id: int) -> Conversation:
    assert caller.user_id is not None
    conversation = await repo.get_conversation(db, caller.user_id, conversation_id)
    if conversation is None:
        raise NotFound(f"no conversation with id {conversation_id}", param="conversation_id")
    return conversation


@router.get("/api/conversations")
async def list_conversations(
    caller: UserDep,
    db: DbSession,
    q: Annotated[str, Query(max_length=MAX_TITLE)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> dict[str, Any]:
    """Your conversations, most recently active first; ``q`` searches the titles."""
    assert caller.user_id is not None
    if "\x00" in q:
        raise InvalidRequest("q: must not contain NUL characters", param="q")
    rows = await repo.list_conversations(db, caller.user_id, search=q.strip(), limit=limit)
    return {"data": [ConversationOut.of(row) for row in rows]}


@router.post("/api/conversations", status_code=201)
async def create_conversation(
    caller: UserDep, db: DbSession, body: ConversationCreate
) -> ConversationOut:
    assert caller.user_id is not None
    row = await repo.add_conversation(db, caller.user_id, **body.model_dump())
    await db.commit()
    return ConversationOut.of(row)


@router.get("/api/conversations/{conversation_id}")
async def get_conversation(
    caller: UserDep, db: DbSession, conversation_id: ConversationId
) -> ConversationDetail:
    """One of your conversations with every message, oldest first."""
    row = await _owned(db, caller, conversation_id)
    messages = [MessageOut.of(m) for m in await repo.list_messages(db, row.id)]
    return ConversationDetail(**ConversationOut.of(row).model_dump(), messages=messages)


@router.patch("/api/conversations/{conversation_id}")
async def update_conversation(
    caller: UserDep, db: DbSession, conversation_id: ConversationId, body: ConversationPatch
) -> ConversationOut:
    """Rename, or change the settings; fields left out stay, null clears a setting."""
    row = await _owned(db, caller, conversation_id)
    for name in body.model_fields_set:
        value = getattr(body, name)
        if name == "title":
            if value is None or not value.strip():
                raise InvalidRequest("title must not be empty", param="title")
            value = " ".join(value.split())
        setattr(row, name, value)
    await db.flush()
    await db.commit()
    return ConversationOut.of(row)


@router.delete("/api/conversations/{conversation_id}", status_code=204)
async def delete_conversation(
    caller: UserDep, db: DbSession, conversation_id: ConversationId
) -> Response:
    await repo.delete_conversation(db, await _owned(db, caller, conversation_id))
    await db.commit()
    return Response(status_code=204)


@router.post("/api/conversations/{conversation_id}/messages", status_code=201)
async def add_message(
    caller: UserDep, db: DbSession, conversation_id: ConversationId, body: MessageCreate
) -> MessageOut:
    """Record one turn; the first user message names an untitled conversation."""
    row = await _owned(db, caller, conversation_id)
    if body.role == "user" and not row.title:
        row.title = auto_title(body.content)
    fields = body.model_dump()
    fields["images"] = json.dumps(body.images) if body.images else None
    message = await repo.add_message(db, row, **fields)
    await db.commit()
    return MessageOut.of(message)


@router.delete("/api/conversations/{conversation_id}/messages/{message_id}")
async def truncate_conversation(
    caller: UserDep, db: DbSession, conversation_id: ConversationId, message_id: MessageId
) -> dict[str, int]:
    """Delete this message and every later one (regenerate, or edit and resend)."""
    row = await _owned(db, caller, conversation_id)
    if await repo.get_message(db, row.id, message_id) is None:
        raise NotFound(f"no message with id {message_id} in this conversation", param="message_id")
    deleted = await repo.truncate_from(db, row, message_id)
    await db.commit()
    return {"deleted": deleted}


@router.get("/api/chat/defaults")
async def chat_defaults(
    request: Request, caller: UserDep, db: DbSession, settings: SettingsDep
) -> dict[str, Any]:
    """The model a new chat starts with: the configured default, else the most used."""
    queue: BaseQueueManager = request.app.state.queue
    served = sorted(queue.models())
    model: str | None = None
    source = "none"
    if settings.default_model and settings.default_model in served:
        model, source = settings.default_model, "setting"
    else:
        since = datetime.now(UTC) - timedelta(days=30)
        used = [m for m in await repo.most_used_models(db, since) if m in served]
        if used:
            model, source = used[0], "most_used"
        elif served:
            model, source = served[0], "first"
    return {"model": model, "source": source}
