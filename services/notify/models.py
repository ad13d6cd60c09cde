"""Tables of the notify service (inbox messages, channels, deliveries to channels) and the
values of their state columns: a channel's scope, kind and format, a delivery's status,
the languages messages are written in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import BigIntPK, UTCDateTime
from services.common.sealing import Sealed, SealedJSON
from services.common.timeutil import utcnow
from services.notify.schemas import PENDING, ZH


class Base(DeclarativeBase):
    pass


#: The deferred group of a channel's sealed columns.
SEALED = "sealed"


class Message(Base):
    """One in-app message to one user, in that user's language.

    ``event_id`` is the event that caused it (None for the platform's own notices); a user
    gets at most one message per event, whatever the broker redelivers.
    """

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("user_id", "event_id", name="uq_messages_user_event"),
        Index("ix_messages_user_read", "user_id", "read_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column()
    partner_id: Mapped[int | None] = mapped_column()
    kind: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(300))
    #: May name a contact or quote what a person wrote: stored sealed.
    body: Mapped[str] = mapped_column(Sealed)
    subject_type: Mapped[str | None] = mapped_column(String(30))
    subject_id: Mapped[int | None] = mapped_column()
    language: Mapped[str] = mapped_column(String(5), default=ZH)
    event_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Channel(Base):
    """Where messages go besides the inbox: an e-mail address or a webhook URL.

    ``scope`` ``user``: the owner's own messages. ``partner``: the events directed at the
    partner ``partner_id`` (registered by one of its admins, ``owner_user_id``).
    ``secret`` signs webhook bodies; it is shown once, when the channel is created.
    ``robot_secret`` is a DingTalk robot's 加签 secret, which signs the request URL of a
    ``dingtalk`` webhook; it is written, never shown. These two and ``target`` (a robot's
    URL carries its access token) are stored sealed (services/common/sealing.py) and loaded
    only when used (group ``sealed``): deciding who gets what never opens them.
    """

    __tablename__ = "channels"
    __table_args__ = (
        Index("ix_channels_owner", "owner_user_id"),
        Index("ix_channels_partner", "partner_id", "scope"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(10))
    owner_user_id: Mapped[int] = mapped_column()
    partner_id: Mapped[int | None] = mapped_column()
    kind: Mapped[str] = mapped_column(String(10))
    target: Mapped[str] = mapped_column(Sealed, deferred=True, deferred_group=SEALED)
    format: Mapped[str | None] = mapped_column(String(10))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(5), default=ZH)
    secret: Mapped[str | None] = mapped_column(Sealed, deferred=True, deferred_group=SEALED)
    robot_secret: Mapped[str | None] = mapped_column(Sealed, deferred=True, deferred_group=SEALED)
    active: Mapped[bool] = mapped_column(default=True)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def robot_signed(self) -> bool:
        """Whether a robot secret signs the requests (what answers show instead of it)."""
        return self.robot_secret is not None


class Delivery(Base):
    """One message (or one partner-directed event) to send to one channel.

    ``pending`` until sent (``sent``), given up after the last attempt (``failed``), or
    dropped because the channel was disabled or removed (``cancelled``). ``next_attempt_at``
    is when it is due; a claimed delivery's is pushed out by the lease.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("channel_id", "event_id", name="uq_deliveries_channel_event"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_channel", "channel_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column()
    event_id: Mapped[str] = mapped_column(String(36))
    event: Mapped[str] = mapped_column(String(50))
    #: What the channel is sent (it may name a contact): stored sealed.
    payload: Mapped[dict[str, Any]] = mapped_column(SealedJSON)
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
