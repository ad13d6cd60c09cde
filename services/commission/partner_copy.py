"""The local read copy of partners: commission needs a partner's type (for its rates) and
its code and name (for reports), without reading the partners service's tables.

It is fed by the partners events ``partner_created`` and ``partner_updated``. A partner
that is not known yet when an order event arrives (its event still on the way) is fetched
once from the partners service and kept.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.commission.models import PartnerCopy
from services.commission.schemas import PartnerData
from services.common.schemas import load

FetchPartner = Callable[[int], dict]


def apply_partner(session: Session, payload: dict, as_of: datetime) -> bool:
    """Keep the partner state ``payload`` (a partners event's data, or ``get_partner``'s
    answer) unless a newer one is kept already; True when the copy changed.

    The created and updated events travel on separate queues and may arrive out of order;
    ``as_of`` (when the partners service produced the state) decides which one wins.
    """
    data = load(PartnerData, payload)
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
            return apply_partner(session, payload, as_of)
    _copy(row, data, as_of)
    return True


def _copy(row: PartnerCopy, data: dict, as_of: datetime) -> None:
    row.code, row.name, row.type = data["code"], data["name"], data["type"]
    row.parent_id, row.status, row.as_of = data["parent_id"], data["status"], as_of


def known_partner(
    session: Session, partner_id: int, fetch: FetchPartner, now: datetime
) -> PartnerCopy:
    """The partner from the copy, or fetched once from the partners service and kept."""
    row = session.get(PartnerCopy, partner_id)
    if row is None:
        apply_partner(session, fetch(partner_id), now)
        row = session.get(PartnerCopy, partner_id)
    return row
