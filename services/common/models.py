"""Tables every service keeps in its own database: the outbox, the processed events and
the answers of idempotent calls.

They live on their own metadata; each service's migrations create them next to its
own tables (see ``migrations.run_migrations``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import BigIntPK, UTCDateTime
from services.common.timeutil import utcnow


class CommonBase(DeclarativeBase):
    pass


class OutboxEvent(CommonBase):
    """An event written in the same transaction as the change it tells of.

    ``pending`` until the relay has it confirmed by the broker; then ``sent``, or
    ``unrouted`` when no queue was bound for it (kept for an operator to see).
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "status", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ProcessedEvent(CommonBase):
    """An event a handler has applied, recorded in the transaction of its effect."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    handler: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdempotentCall(CommonBase):
    """The answer to a call made with an ``Idempotency-Key``, saved in the transaction of
    its effect: the same key from the same caller gets this answer again instead of a
    second effect (see ``services.common.idempotency``)."""

    __tablename__ = "idempotent_calls"
    __table_args__ = (
        UniqueConstraint("caller", "method", "key", name="uq_idempotent_calls"),
        Index("ix_idempotent_calls_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    caller: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    answer: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
