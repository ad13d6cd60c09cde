"""HQ leads: the use cases (enter, read, claim, decline) and what they answer; imports
are jobs of their own (``imports``).

A lead is routed at once (``routing``); the partner it goes to claims it before the
deadline, or declines it and it moves on. The partners service is asked in a read-only
block before the block that writes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common import pii
from services.common.context import Caller
from services.common.errors import NotFound
from services.common.regions import region_prefix
from services.common.schemas import dump, ordered, page_of
from services.common.scoping import scoped
from services.common.timeutil import utcnow
from services.common.unit_of_work import UnitOfWork
from services.filing import customers, events, holdings, rules
from services.filing.customers import Covering
from services.filing.keys import customer_keys, normalise_mobile
from services.filing.models import Lead, LeadEvent, NewLead
from services.filing.routing import (
    Assigner,
    Resolve,
    Terms,
    emit_routed,
    lead_event,
    resolve_region,
)
from services.filing.schemas import PROTECTED, UNASSIGNED, LeadOut

# -- what is answered ------------------------------------------------------------------


def dump_lead(lead: Lead, caller: Caller) -> dict:
    """The lead as ``caller`` may see it: a partner sees only its own part of the history
    (not who had the lead before, nor why they declined it), and the contact's data masked
    always: before a claim it could read them and decline, and after it the customer the
    claim made holds them (and stops showing them to a partner it is transferred away
    from)."""
    shown_to = caller if caller.is_hq else None
    result = pii.masked(dump(LeadOut, lead), shown_to, customers.PERSONAL)
    if caller.partner_ids is not None:
        result["history"] = [
            entry
            for entry, event in zip(result["history"], lead.history, strict=True)
            if event.partner_id is not None and caller.sees_partner(event.partner_id)
        ]
    return result


def new_lead(
    data: dict,
    region: str | None,
    user_id: int | None,
    now: datetime,
    import_key: str | None = None,
    kind: type[Lead] | type[NewLead] = Lead,
) -> Lead | NewLead:
    """A new lead entered by ``user_id``, not yet added to the session (an import's leads
    are ``NewLead``, inserted in bulk)."""
    lead = kind(
        **(data | {"region_code": region}),
        status=UNASSIGNED,
        created_by=user_id,
        import_key=import_key,
        created_at=now,
    )
    lead.history = []
    return lead


def _add_lead(session: Session, lead: Lead) -> None:
    session.add(lead)
    session.flush()


# -- entering leads ---------------------------------------------------------------------


def create_lead(
    uow: UnitOfWork,
    caller: Caller,
    data: dict,
    covering: Covering,
    terms: Terms,
    resolve: Resolve,
) -> dict:
    """HQ marketing enters a lead; it is routed at once (``lead_assigned``, or
    ``lead_unassigned`` when nobody covers its region)."""
    caller.require_hq("lead.create")
    now = utcnow()
    lead = new_lead(data, resolve_region(data, resolve), caller.user_id, now)
    with uow:
        assigner = Assigner(uow.session, covering, terms)
        assigner.consult(lead)
    with uow:
        _add_lead(uow.session, lead)
        emit_routed(uow, lead, assigner.route(lead, now, caller.user_id))
        uow.session.flush()
        return uow.commit(dump_lead(lead, caller))


# -- reading leads ----------------------------------------------------------------------


def list_leads(uow: UnitOfWork, caller: Caller, args: dict) -> dict:
    """HQ sees every lead; a partner the leads assigned to it (and claimed by it)."""
    stmt = scoped(select(Lead), Lead.assigned_partner_id, caller, Lead.region_code).order_by(
        Lead.id.desc()
    )
    if args.get("status"):
        stmt = stmt.where(Lead.status == args["status"])
    if args.get("partner_id") is not None:
        stmt = stmt.where(Lead.assigned_partner_id == args["partner_id"])
    if args.get("region_code"):
        stmt = stmt.where(Lead.region_code.startswith(region_prefix(args["region_code"])))
    if args.get("q"):
        by_phone = caller.is_hq and pii.may_reveal(caller)
        stmt = stmt.where(customers.search(args["q"], Lead.name, Lead.phone_index, by_phone))
    sortable = {
        "id": Lead.id,
        "created_at": Lead.created_at,
        "claim_deadline": Lead.claim_deadline,
        "status": Lead.status,
        "region_code": Lead.region_code,
    }
    stmt = ordered(stmt, args.get("sort"), sortable, Lead.id)
    with uow:
        return page_of(
            uow.session, stmt, args["page"], args["per_page"], lambda x: dump_lead(x, caller)
        )


def _visible_lead(session: Session, caller: Caller, lead_id: int, lock: bool = False) -> Lead:
    # A locked read reads the row afresh, also when this session read it before.
    lead = session.get(Lead, lead_id, with_for_update=lock, populate_existing=lock)
    if lead is None or not caller.sees_row(lead.assigned_partner_id, lead.region_code):
        raise NotFound(f"lead {lead_id} not found")
    return lead


def get_lead(uow: UnitOfWork, caller: Caller, lead_id: int) -> dict:
    """A lead the caller sees; else not found."""
    with uow:
        return dump_lead(_visible_lead(uow.session, caller, lead_id), caller)


# -- the partner's answer ---------------------------------------------------------------


def _own_open_lead(
    session: Session, caller: Caller, lead_id: int, now: datetime, lock: bool = True
) -> Lead:
    caller.require("lead.claim")
    lead = _visible_lead(session, caller, lead_id, lock=lock)
    rules.check_can_act_on(lead, caller, now)
    return lead


def claim_lead(uow: UnitOfWork, caller: Caller, lead_id: int, terms: Terms) -> dict:
    """The assigned partner confirms: the customer becomes theirs, protected, source ``hq``
    (``lead_claimed``). 409 ``claim_limit_reached`` when a new customer would take the
    partner past its cap (``terms``: ``partners.partner_terms``, asked before the write)."""
    caller.require("lead.claim")
    cap_terms = terms(caller.partner_id) if caller.partner_id is not None else None
    now = utcnow()
    with uow:
        session = uow.session
        if caller.partner_id is not None:
            holdings.lock(session, caller.partner_id)
        lead = _own_open_lead(session, caller, lead_id, now)
        phone = normalise_mobile(lead.phone)
        keys = customer_keys(lead.name, None, phone)
        customer = next(
            (
                h
                for h in customers.holders(session, keys)
                if h.owner_partner_id == caller.partner_id and h.status == PROTECTED
            ),
            None,
        )
        if customer is None:
            customers.refuse_duplicates(session, caller, keys)
            holdings.check_room(session, caller.partner_id, cap_terms)
            customer = rules.claimed_customer(lead, caller.partner_id, phone, now)
            session.add(customer)
            session.flush()
            customers.claim_keys(session, customer, keys)
        rules.claim(lead, customer.id, caller, now)
        session.flush()
        uow.emit(events.LEAD_CLAIMED, lead_event(lead, events.LeadClaimed, customer_id=customer.id))
        return uow.commit(customers.dump_customer(customer, caller))


def decline_lead(
    uow: UnitOfWork,
    caller: Caller,
    lead_id: int,
    reason: str,
    covering: Covering,
    terms: Terms,
) -> dict:
    """The assigned partner declines with a reason (``lead_declined``); the lead moves on
    to the next partner or back to HQ."""
    rules.check_decline_reason(reason)
    now = utcnow()
    # Ask the partners service before locking the row: no lock (nor, on SQLite, the file's
    # write lock) is held across a call. Then lock it and check it again.
    with uow:
        assigner = Assigner(uow.session, covering, terms)
        assigner.consult(_own_open_lead(uow.session, caller, lead_id, now, lock=False))
    with uow:
        lead = _own_open_lead(uow.session, caller, lead_id, now)
        lead.history.append(
            LeadEvent(
                action="declined",
                partner_id=caller.partner_id,
                user_id=caller.user_id,
                reason=reason,
                at=now,
            )
        )
        uow.emit(events.LEAD_DECLINED, lead_event(lead, events.LeadDeclined, reason=reason))
        emit_routed(uow, lead, assigner.route(lead, now, caller.user_id))
        uow.session.flush()
        result = dump_lead(lead, caller)
        if not caller.sees_partner(lead.assigned_partner_id):
            # The lead has left the caller's hands: tell the outcome, not where it went.
            result = {"id": lead.id, "status": "declined"}
        return uow.commit(result)
