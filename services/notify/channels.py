"""Channels: where a user's messages, or a partner's events, go besides the inbox.

A user registers channels for themselves. A partner admin (``channel.manage``) registers
channels of its own partner, which receive the events directed at that partner. A channel
is seen and changed only by its owner (a partner channel: by its partner's admins);
anybody else is told it does not exist. A ``dingtalk`` webhook may hold its robot's 加签
secret; no answer ever contains it, only ``robot_signed``.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, undefer_group

from services.common.context import Caller
from services.common.errors import Conflict, Forbidden, InvalidInput, InvalidState, NotFound
from services.common.schemas import page_of
from services.notify.models import SEALED, Channel, Delivery
from services.notify.schemas import (
    NOT_A_DINGTALK_ROBOT,
    SIGNED_ROBOT_FORMAT,
    ChannelCreatedOut,
    ChannelOut,
    DeliveryOut,
)
from services.notify.settings import NotifySettings
from services.notify.targets import Resolver, resolve_host, webhook_target_problem

USER, PARTNER = "user", "partner"
EMAIL, WEBHOOK = "email", "webhook"
MANAGE = "channel.manage"
MAX_CHANNELS = 20  # per user, and per partner


def dump_channel(channel: Channel) -> dict:
    return ChannelOut().dump(channel)


def dump_delivery(delivery: Delivery) -> dict:
    return DeliveryOut().dump(
        {
            "id": delivery.id,
            "event": delivery.event,
            "event_id": delivery.event_id,
            "status": delivery.status,
            "attempts": delivery.attempts,
            "last_error": delivery.last_error,
            "at": delivery.last_attempt_at or delivery.created_at,
            "created_at": delivery.created_at,
            "next_attempt_at": delivery.next_attempt_at if delivery.status == "pending" else None,
            "sent_at": delivery.sent_at,
        }
    )


def _user_id(caller: Caller) -> int:
    if caller.user_id is None:
        raise Forbidden("channels belong to a user")
    return caller.user_id


def _visible(caller: Caller):  # type: ignore[no-untyped-def]
    """The condition on channels the caller may see."""
    conditions = [and_(Channel.scope == USER, Channel.owner_user_id == _user_id(caller))]
    if caller.partner_id is not None and caller.has(MANAGE):
        conditions.append(and_(Channel.scope == PARTNER, Channel.partner_id == caller.partner_id))
    return or_(*conditions)


def visible_channel(session: Session, caller: Caller, channel_id: int) -> Channel:
    """The channel if the caller owns it (or administers its partner); else NotFound."""
    channel = session.scalar(select(Channel).where(Channel.id == channel_id, _visible(caller)))
    if channel is None:
        raise NotFound(f"notification channel {channel_id} not found")
    return channel


def _owner_of_new(caller: Caller, scope: str) -> tuple[int, int | None]:
    """(owner user id, partner id) of a channel the caller registers in ``scope``."""
    user_id = _user_id(caller)
    if scope == USER:
        return user_id, None
    if caller.partner_id is None:
        raise Forbidden("partner channels are registered by a partner's admin")
    caller.require(MANAGE)
    return user_id, caller.partner_id


def _check_room(session: Session, scope: str, user_id: int, partner_id: int | None) -> None:
    owned = Channel.owner_user_id == user_id if scope == USER else Channel.partner_id == partner_id
    count = session.scalar(
        select(func.count()).select_from(Channel).where(Channel.scope == scope, owned)
    )
    if (count or 0) >= MAX_CHANNELS:
        raise Conflict(f"at most {MAX_CHANNELS} channels", "too_many_channels")


def check_webhook_target(
    url: str, settings: NotifySettings, resolve: Resolver = resolve_host
) -> None:
    problem = webhook_target_problem(url, settings.webhook_allow_private, resolve)
    if problem:
        raise InvalidInput(
            "the webhook URL is not allowed", "webhook_target_not_allowed", {"target": [problem]}
        )


def create_channel(
    session: Session,
    caller: Caller,
    data: dict,
    settings: NotifySettings,
    now: datetime,
    resolve: Resolver = resolve_host,
) -> dict:
    """Register a channel. A webhook gets a signing secret, returned here only."""
    scope = data["scope"]
    user_id, partner_id = _owner_of_new(caller, scope)
    target = data["target"].strip()
    secret = None
    fmt = None
    if data["kind"] == EMAIL:
        if not settings.smtp_configured:
            raise InvalidState("e-mail is not configured on this platform", "email_not_configured")
    else:
        check_webhook_target(target, settings, resolve)
        fmt = data.get("format") or "json"
        secret = secrets.token_hex(32)
    _check_room(session, scope, user_id, partner_id)
    channel = Channel(
        scope=scope,
        owner_user_id=user_id,
        partner_id=partner_id,
        kind=data["kind"],
        target=target,
        format=fmt,
        events=sorted(set(data.get("events") or [])),
        language=data.get("language") or "zh",
        secret=secret,
        robot_secret=data.get("robot_secret"),  # ChannelIn allows it on dingtalk only
        active=True,
        consecutive_failures=0,
        created_at=now,
        updated_at=now,
    )
    session.add(channel)
    session.flush()
    return ChannelCreatedOut().dump(channel) | {"secret": secret}


def list_channels(session: Session, caller: Caller, args: dict) -> dict:
    """The caller's own channels, and its partner's if it administers them."""
    stmt = select(Channel).options(undefer_group(SEALED)).where(_visible(caller))
    if args.get("scope"):
        stmt = stmt.where(Channel.scope == args["scope"])
    stmt = stmt.order_by(Channel.id)
    return page_of(session, stmt, args["page"], args["per_page"], dump_channel)


def get_channel(session: Session, caller: Caller, channel_id: int) -> dict:
    return dump_channel(visible_channel(session, caller, channel_id))


def cancel_pending(session: Session, channel_id: int, reason: str) -> None:
    """Drop what is queued for the channel; an attempted delivery keeps its last error."""
    session.execute(
        update(Delivery)
        .where(Delivery.channel_id == channel_id, Delivery.status == "pending")
        .values(status="cancelled", last_error=func.coalesce(Delivery.last_error, reason))
    )


def _check_robot_secret_change(channel: Channel, data: dict) -> None:
    """Refuse a change that would leave a robot secret on a channel that is not a
    ``dingtalk`` webhook (the secret would sign nothing, or sign the wrong robot)."""
    fmt = data.get("format", channel.format)
    if fmt == SIGNED_ROBOT_FORMAT and channel.kind == WEBHOOK:
        return
    if data.get("robot_secret") is not None:
        raise InvalidInput(
            "the request is not valid", errors={"robot_secret": [NOT_A_DINGTALK_ROBOT]}
        )
    if "robot_secret" not in data and channel.robot_secret is not None:
        kept = "the channel keeps a robot secret, which only dingtalk takes: send null to remove it"
        raise InvalidInput("the request is not valid", errors={"robot_secret": [kept]})


def update_channel(
    session: Session, caller: Caller, channel_id: int, data: dict, now: datetime
) -> dict:
    """Change what a channel receives, or switch it off and on. Switching a disabled
    channel on starts its failure count afresh; switching it off drops what was queued.
    A robot secret is judged against the format the channel has after the change."""
    channel = visible_channel(session, caller, channel_id)
    if "format" in data and channel.kind != WEBHOOK:
        raise InvalidInput("e-mail channels have no format", errors={"format": ["not for e-mail"]})
    _check_robot_secret_change(channel, data)
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
        cancel_pending(session, channel.id, "channel switched off")
    channel.updated_at = now
    session.flush()
    return dump_channel(channel)


def delete_channel(session: Session, caller: Caller, channel_id: int) -> None:
    """Remove a channel with its delivery log."""
    channel = visible_channel(session, caller, channel_id)
    session.execute(delete(Delivery).where(Delivery.channel_id == channel.id))
    session.delete(channel)


def list_deliveries(session: Session, caller: Caller, channel_id: int, args: dict) -> dict:
    """A channel's delivery log, newest first (its owner only)."""
    channel = visible_channel(session, caller, channel_id)
    stmt = select(Delivery).where(Delivery.channel_id == channel.id)
    if args.get("status"):
        stmt = stmt.where(Delivery.status == args["status"])
    stmt = stmt.order_by(Delivery.id.desc())
    return page_of(session, stmt, args["page"], args["per_page"], dump_delivery)
