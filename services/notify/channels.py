"""Channels: where a user's messages, or a partner's events, go besides the inbox. The use
cases of registering, reading, changing and removing them, and reading their delivery log.

A user registers channels for themselves. A partner admin (``channel.manage``) registers
channels of its own partner, which receive the events directed at that partner. A channel
is seen and changed only by its owner (a partner channel: by its partner's admins);
anybody else is told it does not exist. A ``dingtalk`` webhook may hold its robot's 加签
secret; no answer ever contains it, only ``robot_signed``.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, undefer_group

from services.common.config import NotifySettings
from services.common.context import Caller
from services.common.errors import InvalidState, NotFound
from services.common.schemas import dump, ordered, page_of
from services.common.unit_of_work import UnitOfWork
from services.notify import rules
from services.notify.models import SEALED, Channel, Delivery
from services.notify.schemas import (
    CANCELLED,
    EMAIL,
    JSON_FORMAT,
    PARTNER,
    PENDING,
    USER,
    ZH,
    ChannelCreatedOut,
    ChannelOut,
    DeliveryOut,
)
from services.notify.targets import Resolver, resolve_host


def dump_channel(channel: Channel) -> dict:
    """A channel as its owner sees it (never a secret)."""
    return dump(ChannelOut, channel)


def dump_delivery(delivery: Delivery) -> dict:
    """A line of a channel's delivery log."""
    return dump(
        DeliveryOut,
        {
            "id": delivery.id,
            "event": delivery.event,
            "event_id": delivery.event_id,
            "status": delivery.status,
            "attempts": delivery.attempts,
            "last_error": delivery.last_error,
            "at": delivery.last_attempt_at or delivery.created_at,
            "created_at": delivery.created_at,
            "next_attempt_at": delivery.next_attempt_at if delivery.status == PENDING else None,
            "sent_at": delivery.sent_at,
        },
    )


# -- queries shared by the use cases ------------------------------------------------------


def _visible(caller: Caller) -> ColumnElement[bool]:
    """The condition on channels the caller may see."""
    conditions = [and_(Channel.scope == USER, Channel.owner_user_id == rules.channel_user(caller))]
    if rules.administers_partner_channels(caller):
        conditions.append(and_(Channel.scope == PARTNER, Channel.partner_id == caller.partner_id))
    return or_(*conditions)


def visible_channel(session: Session, caller: Caller, channel_id: int) -> Channel:
    """The channel if the caller owns it (or administers its partner); else NotFound."""
    channel = session.scalar(select(Channel).where(Channel.id == channel_id, _visible(caller)))
    if channel is None:
        raise NotFound(f"notification channel {channel_id} not found")
    return channel


def _channels_owned(session: Session, scope: str, user_id: int, partner_id: int | None) -> int:
    owned = Channel.owner_user_id == user_id if scope == USER else Channel.partner_id == partner_id
    count = session.scalar(
        select(func.count()).select_from(Channel).where(Channel.scope == scope, owned)
    )
    return count or 0


def cancel_pending(session: Session, channel_id: int, reason: str) -> None:
    """Drop what is queued for the channel; an attempted delivery keeps its last error."""
    session.execute(
        update(Delivery)
        .where(Delivery.channel_id == channel_id, Delivery.status == PENDING)
        .values(status=CANCELLED, last_error=func.coalesce(Delivery.last_error, reason))
    )


# -- use cases ----------------------------------------------------------------------------


def create_channel(
    uow: UnitOfWork,
    caller: Caller,
    data: dict,
    settings: NotifySettings,
    now: datetime,
    resolve: Resolver = resolve_host,
) -> dict:
    """Register a channel. A webhook gets a signing secret, returned here only."""
    scope = data["scope"]
    user_id, partner_id = rules.owner_of_new_channel(caller, scope)
    target = data["target"].strip()
    secret = None
    fmt = None
    if data["kind"] == EMAIL:
        if not settings.smtp_configured:
            raise InvalidState("e-mail is not configured on this platform", "email_not_configured")
    else:
        # Resolving the name takes a moment: done before the transaction starts.
        rules.check_webhook_target(target, settings, resolve)
        fmt = data.get("format") or JSON_FORMAT
        secret = secrets.token_hex(32)
    with uow:
        rules.check_room(_channels_owned(uow.session, scope, user_id, partner_id))
        channel = Channel(
            scope=scope,
            owner_user_id=user_id,
            partner_id=partner_id,
            kind=data["kind"],
            target=target,
            format=fmt,
            events=sorted(set(data.get("events") or [])),
            language=data.get("language") or ZH,
            secret=secret,
            robot_secret=data.get("robot_secret"),  # ChannelIn allows it on dingtalk only
            active=True,
            consecutive_failures=0,
            created_at=now,
            updated_at=now,
        )
        uow.session.add(channel)
        uow.session.flush()
        return uow.commit(dump(ChannelCreatedOut, channel) | {"secret": secret})


def list_channels(uow: UnitOfWork, caller: Caller, args: dict) -> dict:
    """The caller's own channels, and its partner's if it administers them."""
    with uow:
        stmt = select(Channel).options(undefer_group(SEALED)).where(_visible(caller))
        if args.get("scope"):
            stmt = stmt.where(Channel.scope == args["scope"])
        stmt = ordered(stmt.order_by(Channel.id), args.get("sort"), {"id": Channel.id}, Channel.id)
        return page_of(uow.session, stmt, args["page"], args["per_page"], dump_channel)


def get_channel(uow: UnitOfWork, caller: Caller, channel_id: int) -> dict:
    """One of the caller's channels (NotFound for anybody else's)."""
    with uow:
        return dump_channel(visible_channel(uow.session, caller, channel_id))


def update_channel(
    uow: UnitOfWork, caller: Caller, channel_id: int, data: dict, now: datetime
) -> dict:
    """Change what a channel receives, or switch it off and on. Switching a disabled
    channel on starts its failure count afresh; switching it off drops what was queued.
    A robot secret is judged against the format the channel has after the change."""
    with uow:
        channel = visible_channel(uow.session, caller, channel_id)
        rules.check_channel_change(channel, data)
        if "robot_secret" in data:
            channel.robot_secret = data["robot_secret"]
        if "events" in data:
            channel.events = sorted(set(data["events"]))
        if "format" in data:
            channel.format = data["format"]
        if "language" in data:
            channel.language = data["language"]
        if data.get("active") is True and not channel.active:
            channel.active = True
            channel.consecutive_failures = 0
            channel.disabled_at = None
            channel.disabled_reason = None
        elif data.get("active") is False and channel.active:
            channel.active = False
            cancel_pending(uow.session, channel.id, "channel switched off")
        channel.updated_at = now
        uow.session.flush()
        return uow.commit(dump_channel(channel))


def delete_channel(uow: UnitOfWork, caller: Caller, channel_id: int) -> None:
    """Remove a channel with its delivery log."""
    with uow:
        channel = visible_channel(uow.session, caller, channel_id)
        uow.session.execute(delete(Delivery).where(Delivery.channel_id == channel.id))
        uow.session.delete(channel)
        uow.commit()


def list_deliveries(uow: UnitOfWork, caller: Caller, channel_id: int, args: dict) -> dict:
    """A channel's delivery log, newest first (its owner only)."""
    with uow:
        channel = visible_channel(uow.session, caller, channel_id)
        stmt = select(Delivery).where(Delivery.channel_id == channel.id)
        if args.get("status"):
            stmt = stmt.where(Delivery.status == args["status"])
        stmt = stmt.order_by(Delivery.id.desc())
        stmt = ordered(stmt, args.get("sort"), {"id": Delivery.id}, Delivery.id)
        return page_of(uow.session, stmt, args["page"], args["per_page"], dump_delivery)
