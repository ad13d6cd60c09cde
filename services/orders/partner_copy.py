"""What orders keeps of partners (code, name and status, for reports): the use case that
applies the partners service's events (``partner_created``, ``partner_updated``,
``partner_suspended``, ``partner_activated``, ``partner_terminated``, each carrying the
partner, read through ``services.partners.events.PartnerChanged``) to the local read copy
(``PartnerCopy``).
"""

from __future__ import annotations

from datetime import datetime

from services.common.unit_of_work import UnitOfWork
from services.orders.models import PartnerCopy


def apply_partner(uow: UnitOfWork, partner: dict, occurred: datetime) -> None:
    """Keep ``partner`` as it was at ``occurred`` (read from a partners event); an event
    older than the one applied last changes nothing (each event type has its own queue, so
    they may arrive out of order). Either way the event is marked applied."""
    with uow:
        row = uow.session.get(PartnerCopy, partner["id"], with_for_update=True)
        if row is None:
            row = PartnerCopy(id=partner["id"])
            uow.session.add(row)
        if row.as_of is None or row.as_of <= occurred:
            row.code = partner["code"]
            row.name = partner["name"]
            row.status = partner["status"]
            row.as_of = occurred
        uow.commit()
