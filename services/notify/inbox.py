"""The in-app inbox: the use cases of reading and marking messages (every user reads and
marks only their own), and the writing of a message into an inbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.common.context import Caller
from services.common.errors import NotFound
from services.common.schemas import dump, ordered, page_of
from services.common.unit_of_work import UnitOfWork
from services.notify import rules
from services.notify.messages import Rendered
from services.notify.models import Message
from services.notify.schemas import NotificationOut


def dump_message(message: Message) -> dict:
    """A message as its reader sees it."""
    return dump(NotificationOut, message)


def _own(session: Session, caller: Caller, message_id: int) -> Message:
    """The caller's message ``message_id``; another user's is not found."""
    message = session.scalar(
        select(Message).where(
            Message.id == message_id, Message.user_id == rules.inbox_owner(caller)
        )
    )
    if message is None:
        raise NotFound(f"notification {message_id} not found")
    return message


def write_message(
    session: Session,
    user_id: int,
    partner_id: int | None,
    kind: str,
    rendered: Rendered,
    event_id: str | None,
    now: datetime,
) -> Message | None:
    """Put a message in a user's inbox; None when the user already has this event's
    message (a redelivered event adds nothing)."""
    if event_id is not None and session.scalar(
        select(Message.id).where(Message.user_id == user_id, Message.event_id == event_id)
    ):
        return None
    message = Message(
        user_id=user_id,
        partner_id=partner_id,
        kind=kind,
        title=rendered.title,
        body=rendered.body,
        subject_type=rendered.subject_type,
        subject_id=rendered.subject_id,
        language=rendered.language,
        event_id=event_id,
        created_at=now,
    )
    session.add(message)
    session.flush()
    return message


def list_messages(uow: UnitOfWork, caller: Caller, args: dict) -> dict:
    """The caller's messages, newest first; ``unread`` keeps the unread ones."""
    with uow:
        stmt = select(Message).where(Message.user_id == rules.inbox_owner(caller))
        if args.get("unread") is True:
            stmt = stmt.where(Message.read_at.is_(None))
        elif args.get("unread") is False:
            stmt = stmt.where(Message.read_at.is_not(None))
        if args.get("kind"):
            stmt = stmt.where(Message.kind == args["kind"])
        stmt = stmt.order_by(Message.id.desc())
        stmt = ordered(stmt, args.get("sort"), {"created_at": Message.created_at}, Message.id)
        return page_of(uow.session, stmt, args["page"], args["per_page"], dump_message)


def unread_count(uow: UnitOfWork, caller: Caller) -> dict:
    """How many of the caller's messages are unread."""
    with uow:
        count = uow.session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.user_id == rules.inbox_owner(caller), Message.read_at.is_(None))
        )
        return {"count": count or 0}


def mark_read(uow: UnitOfWork, caller: Caller, message_id: int, now: datetime) -> dict:
    """Mark one of the caller's messages read (again is harmless: the first time stays)."""
    with uow:
        message = _own(uow.session, caller, message_id)
        if message.read_at is None:
            message.read_at = now
        return uow.commit(dump_message(message))


def mark_all_read(uow: UnitOfWork, caller: Caller, now: datetime) -> dict:
    """Mark every unread message of the caller read; how many were."""
    with uow:
        result = uow.session.execute(
            update(Message)
            .where(Message.user_id == rules.inbox_owner(caller), Message.read_at.is_(None))
            .values(read_at=now)
        )
        return uow.commit({"count": result.rowcount or 0})
