"""Deliveries to channels: queued as rows, claimed when due, retried with back-off. The
queries that queue them (for ``notifications``) and the delivery loop's use cases: claim
what is due, record each outcome.

A delivery is written in the transaction that writes the inbox message, so the inbox
never waits for a channel. The delivery loop claims due rows (``FOR UPDATE SKIP LOCKED``
on PostgreSQL, so replicas never claim the same row) and pushes their due time out by a
lease before it sends, so a replica that dies while sending leaves them to be retried.
A job carries what sending needs, a DingTalk robot's secret included, so that each send
signs its URL afresh. Each outcome is recorded in a transaction of its own. A channel
failing ``channel_max_failures`` attempts in a row is disabled, its queue dropped, and its
owner told in the inbox.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.config import NotifySettings
from services.common.db import is_postgres
from services.common.sealing import SealedValueUnreadable
from services.common.timeutil import iso
from services.common.unit_of_work import UnitOfWork
from services.notify import inbox, rules
from services.notify.channels import cancel_pending
from services.notify.messages import CHANNEL_DISABLED, Rendered, describe_target, render
from services.notify.models import Channel, Delivery
from services.notify.payloads import payload_of
from services.notify.schemas import CANCELLED, DINGTALK, FAILED, PARTNER, PENDING, SENT, USER
from services.notify.transport import Job

log = logging.getLogger(__name__)

SECRETS_UNREADABLE = (
    "the channel's stored secrets cannot be opened with the keys of PRM_SECRETS_KEY;"
    " its deliveries wait until an operator puts the key back"
)


# -- queueing (inside the transaction that tells of an event) -------------------------------


def user_channels(session: Session, user_id: int, kind: str) -> list[Channel]:
    """The active channels a user registered for themselves that take ``kind``."""
    channels = session.scalars(
        select(Channel)
        .where(Channel.scope == USER, Channel.owner_user_id == user_id, Channel.active.is_(True))
        .order_by(Channel.id)
    ).all()
    return [channel for channel in channels if rules.takes(channel, kind)]


def partner_channels(session: Session, partner_id: int, kind: str) -> list[Channel]:
    """The active channels of a partner that take ``kind``."""
    channels = session.scalars(
        select(Channel)
        .where(Channel.scope == PARTNER, Channel.partner_id == partner_id, Channel.active.is_(True))
        .order_by(Channel.id)
    ).all()
    return [channel for channel in channels if rules.takes(channel, kind)]


def schedule(
    session: Session,
    channel: Channel,
    event: dict[str, Any],
    kind: str,
    rendered: Rendered,
    message_id: int | None,
    now: datetime,
    partner_id: int | None,
) -> bool:
    """Queue one delivery of the event to the channel (once per channel and event), bound
    for HQ (``partner_id`` None) or for the partner ``partner_id`` (``payloads``)."""
    exists = session.scalar(
        select(Delivery.id).where(
            Delivery.channel_id == channel.id, Delivery.event_id == event["id"]
        )
    )
    if exists:
        return False
    session.add(
        Delivery(
            channel_id=channel.id,
            message_id=message_id,
            event_id=event["id"],
            event=kind,
            payload=payload_of(event, kind, rendered, partner_id),
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return True


def _job(delivery: Delivery, channel: Channel) -> Job:
    return Job(
        delivery_id=delivery.id,
        channel_id=channel.id,
        event=delivery.event,
        kind=channel.kind,
        target=channel.target,
        format=channel.format,
        secret=channel.secret,
        payload=dict(delivery.payload),
        robot_secret=channel.robot_secret if channel.format == DINGTALK else None,
    )


# -- the delivery loop's use cases ----------------------------------------------------------


def claim_due(
    uow: UnitOfWork,
    now: datetime,
    slots: int,
    settings: NotifySettings,
    busy: Mapping[int, int] | None = None,
) -> list[Job]:
    """Claim up to ``slots`` due deliveries, at most ``settings.per_channel`` per channel
    counting ``busy`` (deliveries this replica is sending now, by channel), oldest channel
    first. Commits the claim: the jobs it answers are leased to this replica."""
    busy = busy or {}
    with uow:
        session = uow.session
        candidates = session.execute(
            select(Delivery.channel_id, func.min(Delivery.next_attempt_at).label("due"))
            .where(Delivery.status == PENDING, Delivery.next_attempt_at <= now)
            .group_by(Delivery.channel_id)
            .order_by("due")
            .limit(slots + len(busy))
        ).all()
        jobs: list[Job] = []
        lease_until = now + timedelta(seconds=settings.lease)
        for channel_id, _due in candidates:
            room = min(settings.per_channel - busy.get(channel_id, 0), slots - len(jobs))
            if room <= 0:
                continue
            rows = _due_rows(session, channel_id, now, room)
            if not rows:
                continue
            channel = session.get(Channel, channel_id)
            if channel is not None and channel.active and not _secrets_open(channel):
                # Not an attempt: the channel is not at fault, and the key may come back.
                log.error("channel %s: %s", channel_id, SECRETS_UNREADABLE)
                for row in rows:
                    row.next_attempt_at = now + timedelta(seconds=settings.retry_max)
                    row.last_error = SECRETS_UNREADABLE
                continue
            for row in rows:
                if channel is None or not channel.active:
                    row.status, row.last_error = CANCELLED, "channel switched off"
                    continue
                row.next_attempt_at = lease_until
                jobs.append(_job(row, channel))
            if len(jobs) >= slots:
                break
        return uow.commit(jobs)


def _due_rows(session: Session, channel_id: int, now: datetime, room: int) -> list[Delivery]:
    """Up to ``room`` due deliveries of the channel, oldest first, that no other replica
    holds (locked on PostgreSQL)."""
    stmt = (
        select(Delivery)
        .where(
            Delivery.channel_id == channel_id,
            Delivery.status == PENDING,
            Delivery.next_attempt_at <= now,
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(room)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt).all())


def _secrets_open(channel: Channel) -> bool:
    """Whether the channel's sealed columns open with the configured keys."""
    try:
        return channel.target is not None
    except SealedValueUnreadable:
        return False


def _locked(session: Session, model: type, row_id: int) -> Any:
    return session.get(model, row_id, with_for_update=True)


def record_success(uow: UnitOfWork, job: Job, now: datetime) -> None:
    """The target took it: the delivery is sent and the channel's failure run ends."""
    with uow:
        delivery = _locked(uow.session, Delivery, job.delivery_id)
        if delivery is None or delivery.status != PENDING:
            return
        delivery.attempts += 1
        delivery.status, delivery.sent_at, delivery.last_attempt_at = SENT, now, now
        delivery.last_error = None
        channel = _locked(uow.session, Channel, job.channel_id)
        if channel is not None:
            channel.consecutive_failures = 0
        uow.commit()


def record_failure(
    uow: UnitOfWork, job: Job, error: str, now: datetime, settings: NotifySettings
) -> bool:
    """The attempt failed: retry later, or give up after the last attempt. Disables the
    channel after too many failures in a row; True when this failure disabled it."""
    with uow:
        delivery = _locked(uow.session, Delivery, job.delivery_id)
        if delivery is None or delivery.status != PENDING:
            return False
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_error = error[: rules.ERROR_MAX]
        if rules.gives_up(delivery.attempts, settings):
            delivery.status = FAILED
        else:
            delivery.next_attempt_at = now + rules.backoff(delivery.attempts, settings)
        channel = _locked(uow.session, Channel, job.channel_id)
        disabled = False
        if channel is not None:
            channel.consecutive_failures += 1
            if rules.wears_out(channel, settings):
                _disable_channel(uow.session, channel, error, now)
                disabled = True
        return uow.commit(disabled)


def _disable_channel(session: Session, channel: Channel, error: str, now: datetime) -> None:
    """Switch a failing channel off, drop its queue and tell its owner in the inbox."""
    channel.active = False
    channel.disabled_at = now
    channel.disabled_reason = rules.disabled_reason(channel.consecutive_failures, error)
    cancel_pending(session, channel.id, "channel disabled after repeated failures")
    facts = {
        "channel_id": channel.id,
        "target": describe_target(channel.kind, channel.target),
        "failures": channel.consecutive_failures,
        "error": error,
        "at": iso(now),
    }
    rendered = render(CHANNEL_DISABLED, facts, channel.language)
    inbox.write_message(
        session, channel.owner_user_id, channel.partner_id, CHANNEL_DISABLED, rendered, None, now
    )
