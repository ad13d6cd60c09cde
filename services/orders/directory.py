"""What orders knows of partners: code, name and status, kept from the partners service's
events (``partner_created``, ``partner_updated``, ``partner_suspended``,
``partner_activated``, ``partner_terminated``, each carrying the partner), for reports.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from services.common.timeutil import as_utc
from services.orders.models import PartnerCopy


def apply_partner_event(session: Session, event: dict) -> None:
    """Keep the partner of ``event``; an event older than the one applied last changes
    nothing (each event type has its own queue, so they may arrive out of order)."""
    data = event["data"]
    occurred = as_utc(datetime.fromisoformat(event["occurred_at"]))
    row = session.get(PartnerCopy, data["id"], with_for_update=True)
    if row is None:
        row = PartnerCopy(id=data["id"])
        session.add(row)
    elif row.as_of > occurred:
        return
    row.code = data["code"]
    row.name = data["name"]
    row.status = data["status"]
    row.as_of = occurred
