"""Repository for web-chat conversations and their messages.

Every lookup takes the owner's user id: another user's conversation is simply not found.
Nothing here commits: the caller owns the unit of work.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from seadragon.db.tables import Conversation, ConversationMessage, RequestLog, utcnow


def _like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` literally anywhere (``%`` and ``_`` escaped)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_conversations(
    session: AsyncSession, user_id: int, *, search: str = "", limit: int = 200
) -> Sequence[Conversation]:
    """The user's conversations, most recently active first, optionally by title."""
    query = select(Conversation).where(Conversation.user_id == user_id)
    if search:
        query = query.where(func.lower(Conversation.title).like(_like_pattern(search), escape="\\"))
    query = query.order_by(Conversation.updated_at.desc(), Conversation.id.desc()).limit(limit)
    return (await session.execute(query)).scalars().all()


async def add_conversation(session: AsyncSession, user_id: int, **fields: Any) -> Conversation:
    conversation = Conversation(user_id=user_id, **fields)
    session.add(conversation)
    await session.flush()
    return conversation


async def get_conversation(
    session: AsyncSession, user_id: int, conversation_id: int
) -> Conversation | None:
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or conversation.user_id != user_id:
        return None
    return conversation


async def delete_conversation(session: AsyncSession, conversation: Conversation) -> None:
    # Explicit, so SQLite without foreign keys (an old file opened elsewhere) leaves no orphans.
    await session.execute(
        delete(ConversationMessage).where(ConversationMessage.conversation_id == conversation.id)
    )
    await session.delete(conversation)
    await session.flush()


async def list_messages(
    session: AsyncSession, conversation_id: int
) -> Sequence[ConversationMessage]:
    query = (
        select(ConversationMessage)
        .where(ConversationMessage.conversation_id == conversation_id)
        .order_by(ConversationMessage.id)
    )
    return (await session.execute(query)).scalars().all()


async def add_message(
    session: AsyncSession, conversation: Conversation, **fields: Any
) -> ConversationMessage:
    message = ConversationMessage(conversation_id=conversation.id, **fields)
    session.add(message)
    conversation.updated_at = utcnow()
    await session.flush()
    return message


async def get_message(
    session: AsyncSession, conversation_id: int, message_id: int
) -> ConversationMessage | None:
    message = await session.get(ConversationMessage, message_id)
    if message is None or message.conversation_id != conversation_id:
        return None
    return message


async def truncate_from(session: AsyncSession, conversation: Conversation, message_id: int) -> int:
    """Delete a message and every later one (regenerate, edit and resend); returns how many."""
    result = await session.execute(
        delete(ConversationMessage).where(
            ConversationMessage.conversation_id == conversation.id,
            ConversationMessage.id >= message_id,
        )
    )
    conversation.updated_at = utcnow()
    await session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


async def most_used_models(session: AsyncSession, since: datetime) -> list[str]:
    """Chat models by how often they answered since ``since``, most used first."""
    count = func.count(RequestLog.id)
    query = (
        select(RequestLog.model, count)
        .where(
            RequestLog.kind == "chat",
            RequestLog.status == "ok",
            RequestLog.queued_at >= since,
        )
        .group_by(RequestLog.model)
        .order_by(count.desc(), RequestLog.model)
        .limit(50)
    )
    return [row[0] for row in (await session.execute(query)).all()]
