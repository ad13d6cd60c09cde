"""Telling people of an event: the use case that ties recipients, messages and channels.

For each person an event concerns (``recipients``): one inbox message in their language
(``messages``, ``inbox``) and one queued delivery per active channel of theirs that takes
the event. For a partner-directed event, one delivery per active channel of that partner
too. The delivery loop sends the queued rows later (``delivery``), so nothing here waits
for a channel.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from services.common.unit_of_work import UnitOfWork
from services.notify import delivery, inbox
from services.notify.messages import render
from services.notify.recipients import Audience, Directory, MalformedEvent, audiences, resolve


def _event_data(event: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(event.get("id"), str):
        raise MalformedEvent("the event has no id")
    data = event.get("data")
    if not isinstance(data, dict):
        raise MalformedEvent("the event has no data")
    return data


def _tell_people(
    session: Session,
    kind: str,
    event: dict[str, Any],
    audience: Audience,
    people: list[dict],
    seen: set[int],
    now: datetime,
) -> int:
    data = event["data"]
    queued = 0
    for person in people:
        if person["id"] in seen:
            continue
        seen.add(person["id"])
        rendered = render(kind, data, person.get("language") or "zh", audience.variant)
        message = inbox.write_message(
            session, person["id"], person.get("partner_id"), kind, rendered, event["id"], now
        )
        if message is None:
            continue
        for channel in delivery.user_channels(session, person["id"], kind):
            queued += delivery.schedule(
                session, channel, event, kind, rendered, message.id, now, person.get("partner_id")
            )
    return queued


def _tell_partner(
    session: Session, kind: str, event: dict[str, Any], audience: Audience, now: datetime
) -> int:
    queued = 0
    for channel in delivery.partner_channels(session, audience.partner_id, kind):
        rendered = render(kind, event["data"], channel.language, audience.variant)
        queued += delivery.schedule(
            session, channel, event, kind, rendered, None, now, audience.partner_id
        )
    return queued


def notify(
    uow: UnitOfWork,
    directory: Directory,
    kind: str,
    event: dict[str, Any],
    now: datetime,
    wake: Callable[[], None],
) -> int:
    """Tell everybody ``event`` (of type ``kind``) concerns, and wake the delivery loop
    when channel deliveries were queued; how many were. Applying the same event twice
    adds nothing."""
    data = _event_data(event)
    # Everybody is asked of partners before the transaction starts: no write transaction
    # stays open across a call to another service.
    resolved = [(audience, resolve(audience, directory)) for audience in audiences(kind, data)]
    with uow:
        seen: set[int] = set()
        queued = 0
        for audience, people in resolved:
            queued += _tell_people(uow.session, kind, event, audience, people, seen, now)
            if audience.partner_directed and audience.partner_id is not None:
                queued += _tell_partner(uow.session, kind, event, audience, now)
        uow.commit()
    if queued:
        wake()
    return queued
