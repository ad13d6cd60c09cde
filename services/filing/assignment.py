"""HQ hands a lead to a partner by hand (分配线索): one that routing left in the HQ queue
(nobody covered its region, or everyone declined it or let it expire), or one a partner
holds unclaimed, to any active partner covering its region.

The partners service is asked before the block that writes: no row lock is held across a
call.
"""

from __future__ import annotations

from collections.abc import Callable

from services.common.context import Caller
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common.timeutil import utcnow
from services.common.unit_of_work import UnitOfWork
from services.filing import events, rules
from services.filing.customers import Covering
from services.filing.leads import dump_lead
from services.filing.models import Lead
from services.filing.routing import lead_event

#: ``partners.get_partner`` as the caller: the partner with its ``status``.
GetPartner = Callable[[int], dict]


def _lead(uow: UnitOfWork, caller: Caller, lead_id: int, lock: bool) -> Lead:
    # HQ sees every lead, a regional HQ user those of its partners and regions only; a
    # locked read reads the row afresh.
    lead = uow.session.get(Lead, lead_id, with_for_update=lock, populate_existing=lock)
    if lead is None or not caller.sees_row(lead.assigned_partner_id, lead.region_code):
        raise NotFound(f"lead {lead_id} not found")
    return lead


def _unknown(partner_id: int) -> InvalidInput:
    return InvalidInput(
        "no such partner", "unknown_partner", {"partner_id": [f"unknown partner {partner_id}"]}
    )


def partner_terms_for(
    partner_id: int, region: str, covering: Covering, get_partner: GetPartner
) -> dict:
    """The terms of ``partner_id`` if it is active and covers ``region``; else why not:
    422 ``unknown_partner``, 409 ``partner_not_active`` (suspended or terminated), 422
    ``region_not_in_territory``."""
    terms = next((row for row in covering(region) if row["partner_id"] == partner_id), None)
    if terms is not None:
        return terms
    try:
        partner = get_partner(partner_id)  # as the caller: outside its scope, not found
    except NotFound:
        raise _unknown(partner_id) from None
    if partner.get("status") != "active":
        raise Conflict(f"the partner is {partner.get('status')}", "partner_not_active")
    raise InvalidInput(
        "the partner does not cover the lead's region",
        "region_not_in_territory",
        {"partner_id": ["does not cover the lead's region"]},
    )


def assign_lead(
    uow: UnitOfWork,
    caller: Caller,
    lead_id: int,
    data: dict,
    covering: Covering,
    get_partner: GetPartner,
) -> dict:
    """HQ (``lead.assign``) gives an unclaimed lead to ``data["partner_id"]``, an active
    partner covering its region, for ``data["reason"]``: the partner has its claim hours
    from now to claim it and is told (``lead_assigned`` with ``by_hand``, who and why);
    the history keeps who did it and why. 409 ``already_claimed`` for a claimed lead."""
    caller.require_hq("lead.assign")
    partner_id, reason = data["partner_id"], data.get("reason")
    with uow:
        lead = _lead(uow, caller, lead_id, lock=False)
        rules.check_hand_assignable(lead, partner_id)
        region = lead.region_code
    if not caller.sees_partner(partner_id):
        raise _unknown(partner_id)  # a regional HQ user hands leads to its partners only
    terms = partner_terms_for(partner_id, region, covering, get_partner)
    now = utcnow()
    with uow:
        lead = _lead(uow, caller, lead_id, lock=True)
        # Checked again under the lock: a claim may have come in between.
        rules.check_hand_assignable(lead, partner_id)
        rules.assign_by_hand(lead, terms, now, caller.user_id, reason)
        uow.session.flush()
        uow.emit(
            events.LEAD_ASSIGNED,
            lead_event(
                lead,
                events.LeadAssigned,
                by_hand=True,
                assigned_by=caller.user_id,
                reason=reason,
            ),
        )
        return uow.commit(dump_lead(lead, caller))
