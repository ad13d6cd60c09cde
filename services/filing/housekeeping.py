"""The filing service's timer: reminders before protections and claim deadlines end, and
what happens when they have ended (customers released, leads moved on)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from services.common import audit
from services.common.context import Caller
from services.common.db import try_advisory_lock
from services.common.errors import ServiceTimeout, ServiceUnavailable
from services.common.unit_of_work import UnitOfWork
from services.filing import customers, events, imports, rules
from services.filing.customers import Covering
from services.filing.models import Customer, Lead, LeadEvent
from services.filing.routing import Assigner, Terms, emit_routed, lead_event
from services.filing.schemas import ASSIGNED, PROTECTED

log = logging.getLogger(__name__)
#: Who releases customers whose protection ended, in the audit trail.
TIMER = Caller.system_caller("filing")

#: Rows one tick handles at most of each kind; the rest wait for the next tick.
BATCH = 500
EXPIRE_BATCH = 200


def run(uow: UnitOfWork, covering: Covering, terms: Terms, now: datetime) -> None:
    """One replica does a tick: protections ending are announced once, ended ones release
    their customers, claim deadlines near are announced once, leads whose deadline passed
    move on to the next partner or back to HQ, and lead uploads never completed are
    dropped."""
    with uow:
        if not try_advisory_lock(uow.session, "filing.housekeeping"):
            return
        # Partners are asked before the first write of the tick (reads only so far); the
        # advisory lock stays held so that no other replica moves the same leads.
        assigner = Assigner(uow.session, covering, terms)
        expiring = claims_to_expire(uow, assigner, now)
        remind_protection_ending(uow, now)
        release_expired(uow, now)
        remind_claim_deadlines(uow, now)
        expire_claims(uow, assigner, expiring, now)
        imports.forget_abandoned(uow, now)
        uow.commit()


def remind_protection_ending(
    uow: UnitOfWork, now: datetime, days: int = rules.REMINDER_DAYS, limit: int = BATCH
) -> int:
    """Once per protection period, tell the owner a few days before it ends
    (``protection_ending``). Inside the caller's ``with uow:``."""
    found = uow.session.scalars(
        select(Customer)
        .where(
            Customer.status == PROTECTED,
            Customer.reminder_sent_at.is_(None),
            Customer.protected_until <= now + timedelta(days=days),
            Customer.protected_until > now,
        )
        .limit(limit)
    ).all()
    for customer in found:
        customer.reminder_sent_at = now
        uow.emit(events.PROTECTION_ENDING, customers.customer_event(events.CustomerEvent, customer))
    return len(found)


def release_expired(uow: UnitOfWork, now: datetime, limit: int = BATCH) -> int:
    """Customers whose protection has ended go to the public pool (公海)
    (``customer_released``). Inside the caller's ``with uow:``."""
    found = uow.session.scalars(
        select(Customer)
        .where(Customer.status == PROTECTED, Customer.protected_until <= now)
        .limit(limit)
    ).all()
    for customer in found:
        partner_id = customer.owner_partner_id
        rules.release(customer)
        customers.release_keys(uow.session, customer)
        audit.record(
            uow,
            TIMER,
            audit.CUSTOMER_RELEASED,
            subject_type="customer",
            subject_id=customer.id,
            detail={"partner_id": partner_id, "reason": "protection ended"},
        )
        uow.emit(events.CUSTOMER_RELEASED, customers.customer_event(events.CustomerEvent, customer))
    return len(found)


def remind_claim_deadlines(
    uow: UnitOfWork,
    now: datetime,
    hours: int = rules.DEADLINE_REMINDER_HOURS,
    limit: int = BATCH,
) -> int:
    """Tell the assigned partner once when a claim deadline is near
    (``lead_claim_deadline_near``). Inside the caller's ``with uow:``."""
    leads = uow.session.scalars(
        select(Lead)
        .where(
            Lead.status == ASSIGNED,
            Lead.deadline_reminded_at.is_(None),
            Lead.claim_deadline <= now + timedelta(hours=hours),
            Lead.claim_deadline > now,
        )
        .limit(limit)
    ).all()
    for lead in leads:
        lead.deadline_reminded_at = now
        uow.emit(events.LEAD_CLAIM_DEADLINE_NEAR, lead_event(lead))
    return len(leads)


def claims_to_expire(
    uow: UnitOfWork, assigner: Assigner, now: datetime, limit: int = EXPIRE_BATCH
) -> list[Lead]:
    """Leads whose claim deadline has passed and whose next partner is known: what
    ``expire_claims`` moves on. Reads only (the partners service is asked now), so that the
    timer asks before its first write. Inside the caller's ``with uow:``."""
    leads = uow.session.scalars(
        select(Lead)
        .where(Lead.status == ASSIGNED, Lead.claim_deadline <= now)
        .order_by(Lead.claim_deadline)
        .limit(limit)
    ).all()
    ready = []
    for lead in leads:
        try:
            assigner.consult(lead)
        except (ServiceUnavailable, ServiceTimeout) as exc:
            # Partners cannot say who is next: leave the lead for the next tick.
            log.warning("lead %s not moved on: %s", lead.id, exc)
            continue
        ready.append(lead)
    return ready


def expire_claims(uow: UnitOfWork, assigner: Assigner, leads: list[Lead], now: datetime) -> int:
    """``leads`` (from ``claims_to_expire``) move to the next partner or the HQ queue
    (``lead_expired``, then ``lead_assigned`` or ``lead_unassigned``). Inside the caller's
    ``with uow:``."""
    session = uow.session
    done = 0
    for lead in leads:
        try:
            with session.begin_nested():
                expired_partner = lead.assigned_partner_id
                lead.history.append(LeadEvent(action="expired", partner_id=expired_partner, at=now))
                uow.emit(events.LEAD_EXPIRED, lead_event(lead, partner_id=expired_partner))
                emit_routed(uow, lead, assigner.route(lead, now))
            done += 1
        except (ServiceUnavailable, ServiceTimeout) as exc:
            # Partners cannot say who is next: leave the lead for the next tick.
            session.expire(lead)
            log.warning("lead %s not moved on: %s", lead.id, exc)
    return done
