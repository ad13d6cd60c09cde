"""The local read copy of partners: commission needs a partner's type (for its rates) and
its code and name (for reports), without reading the partners service's tables.

It follows the partners events that carry a partner's state (created, updated, suspended,
activated, terminated); they travel on separate queues and may arrive out of order, so
the newer state wins (``as_of``). A partner not known yet when it is needed (its event
still on the way) is fetched once from the partners service, before the block that
writes, and kept with the effect that needed it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.commission.models import PartnerCopy
from services.common.schemas import load
from services.common.unit_of_work import UnitOfWork
from services.partners import events as partners_events

#: The partners service's ``get_partner``: a partner's state by its id (NotFound if none).
FetchPartner = Callable[[int], dict]


def keep_partner(uow: UnitOfWork, data: Mapping[str, Any], as_of: datetime) -> None:
    """Keep a partners event's partner state (``data``, loaded through its schema) as of
    ``as_of`` (when the event happened), unless a newer one is kept already; the event is
    marked applied either way."""
    with uow:
        apply_partner(uow.session, data, as_of)
        uow.commit()


def apply_partner(session: Session, data: Mapping[str, Any], as_of: datetime) -> bool:
    """Keep the partner state ``data`` unless a newer one is kept already; True when the
    copy changed. ``as_of`` is when the partners service produced that state."""
    row = session.get(PartnerCopy, data["id"], with_for_update=True)
    if row is not None and row.as_of >= as_of:
        return False
    if row is None:
        row = PartnerCopy(id=data["id"])
        try:
            with session.begin_nested():
                _copy(row, data, as_of)
                session.add(row)
            return True
        except IntegrityError:
            # The same partner was stored concurrently (an event and a fetch): compare again.
            return apply_partner(session, data, as_of)
    _copy(row, data, as_of)
    return True


def _copy(row: PartnerCopy, data: Mapping[str, Any], as_of: datetime) -> None:
    row.code, row.name, row.type = data["code"], data["name"], data["type"]
    row.parent_id, row.status, row.as_of = data["parent_id"], data["status"], as_of


def fetch_unknown(uow: UnitOfWork, partner_id: int, fetch: FetchPartner) -> dict | None:
    """The partners service's state of a partner the copy does not hold yet (NotFound when
    that service knows none either); None when the copy holds it. Asked outside any block,
    so that no lock is held across the call."""
    with uow:
        known = uow.session.get(PartnerCopy, partner_id) is not None
    # ``get_partner`` answers the partner as its events carry it: one schema reads both.
    return None if known else load(partners_events.PartnerChanged, fetch(partner_id))


def known_partner(
    session: Session, partner_id: int, fetched: dict | None, now: datetime
) -> PartnerCopy:
    """The partner from the copy, after keeping the state ``fetch_unknown`` answered (as of
    ``now``, when it was asked) if it did."""
    if fetched is not None:
        apply_partner(session, fetched, now)
    return session.get(PartnerCopy, partner_id)
