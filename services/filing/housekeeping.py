"""The filing service's timer: reminders before protections and claim deadlines end, and
what happens when they have ended (customers released, leads moved on); customers nobody
followed up released for idleness, with a reminder before."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from services.common.context import Caller
from services.common.db import is_postgres, try_advisory_lock
from services.common.errors import ServiceTimeout, ServiceUnavailable
from services.common.unit_of_work import UnitOfWork
from services.filing import customers, events, imports, pool, rules
from services.filing.customers import Covering
from services.filing.models import Customer, Lead, LeadEvent
from services.filing.routing import Assigner, Terms, emit_routed, lead_event, leads_event
from services.filing.schemas import ASSIGNED, EXPIRED, IDLE, PROTECTED

log = logging.getLogger(__name__)
#: Who releases customers whose protection ended, in the audit trail.
TIMER = Caller.system_caller("filing")

#: Rows one tick handles at most of each kind; the rest wait for the next tick.
BATCH = 500
EXPIRE_BATCH = 200
#: Partners whose terms one tick asks for idle release, in turns of partner id; and a
#: customer idle for less than this many days is nobody's concern yet.
IDLE_PARTNERS = 50
IDLE_FLOOR_DAYS = 1
#: The partner id after which the next tick's turn of idle release starts (per process:
#: a replica that takes over starts from the first partner).
_idle_turn = {"after": 0}
#: Ticks a replica lets pass after partners did not answer it: another replica, which may
#: reach partners, takes the lock meanwhile (per process).
STEP_ASIDE_TICKS = 3
_stepping_aside = {"ticks": 0}


class _PartnersOfTick:
    """The partners service as one tick asks it: once a call is not answered, the rest of
    the tick does not ask again (each call would wait as long, the advisory lock held) and
    leaves its work to a later tick."""

    def __init__(self, covering: Covering, terms: Terms) -> None:
        self.failed: Exception | None = None
        #: Whether other replicas may be waiting for the lock (PostgreSQL; SQLite has one
        #: process, which would only delay its own work by stepping aside).
        self.shared = False
        self._covering, self._terms = covering, terms

    def _ask(self, call: Any, argument: Any) -> Any:
        if self.failed is not None:
            raise ServiceUnavailable(f"partners did not answer this tick: {self.failed}")
        try:
            return call(argument)
        except (ServiceUnavailable, ServiceTimeout) as exc:
            self.failed = exc
            raise

    def covering(self, region: str) -> list[dict]:
        return self._ask(self._covering, region)

    def terms(self, partner_id: int) -> dict | None:
        return self._ask(self._terms, partner_id)


def run(uow: UnitOfWork, covering: Covering, terms: Terms, now: datetime) -> None:
    """One replica does a tick: protections ending are announced once, ended ones release
    their customers, claim deadlines near are announced once, leads whose deadline passed
    move on to the next partner or back to HQ, customers nobody followed up are announced
    and then released, and lead uploads never completed are dropped.

    On PostgreSQL, a replica that partners did not answer lets the next
    ``STEP_ASIDE_TICKS`` ticks pass: while its calls wait out their timeouts it holds the
    lock, and a replica that could do the work would rarely find it free."""
    if _stepping_aside["ticks"] > 0:
        _stepping_aside["ticks"] -= 1
        return
    partners = _PartnersOfTick(covering, terms)
    try:
        _tick(uow, partners, now)
    finally:
        if partners.failed is not None and partners.shared:
            _stepping_aside["ticks"] = STEP_ASIDE_TICKS


def _tick(uow: UnitOfWork, partners: _PartnersOfTick, now: datetime) -> None:
    with uow:
        if not try_advisory_lock(uow.session, "filing.housekeeping"):
            return
        partners.shared = is_postgres(uow.session)
        # Partners are asked before the first write of the tick (reads only so far); the
        # advisory lock stays held so that no other replica moves the same leads.
        assigner = Assigner(uow.session, partners.covering, partners.terms)
        expiring = claims_to_expire(uow, assigner, now)
        idle_days = idle_terms(uow, partners.terms, now)
        remind_protection_ending(uow, now)
        release_expired(uow, now)
        remind_idle(uow, idle_days, now)
        release_idle(uow, idle_days, now)
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
    (``customer_released``), their pending extensions cancelled. Inside the caller's
    ``with uow:``.

    The rows are locked as they are read (an extension's approval locks its customer
    too): an approval committed meanwhile has moved ``protected_until``, and the locking
    read, which sees it, no longer finds the customer ended."""
    found = uow.session.scalars(
        select(Customer)
        .where(Customer.status == PROTECTED, Customer.protected_until <= now)
        .order_by(Customer.id)  # locked in one order, as every writer of several
        .limit(limit)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    for customer in found:
        pool.release(uow, TIMER, customer, EXPIRED, "protection ended", now)
    return len(found)


def _idle_since() -> Any:
    # ``rules.idle_since`` in SQL: a follow-up is recorded after its protection started
    # (``rules.start_protection`` forgets the earlier ones).
    return func.coalesce(
        Customer.last_follow_up_at, Customer.protection_started_at, Customer.created_at
    )


def idle_terms(
    uow: UnitOfWork, terms: Terms, now: datetime, limit: int = IDLE_PARTNERS
) -> dict[int, int]:
    """``{partner_id: idle_release_days}`` of this tick's turn of partners holding a
    customer idle for at least ``IDLE_FLOOR_DAYS``, of those whose type releases idle
    customers. Reads only (the partners service is asked now). Inside the caller's
    ``with uow:``."""
    owners = _idle_owners(uow, now, _idle_turn["after"], limit)
    if len(owners) < limit and _idle_turn["after"]:
        owners += [o for o in _idle_owners(uow, now, 0, limit - len(owners)) if o not in owners]
    _idle_turn["after"] = owners[-1] if len(owners) >= limit else 0
    found = {}
    for partner_id in owners:
        try:
            partner = terms(partner_id)
        except (ServiceUnavailable, ServiceTimeout) as exc:
            log.warning("idle release of partner %s not checked: %s", partner_id, exc)
            continue
        days = (partner or {}).get("idle_release_days")
        if days is not None:
            found[partner_id] = days
    return found


def _idle_owners(uow: UnitOfWork, now: datetime, after: int, limit: int) -> list[int]:
    return list(
        uow.session.scalars(
            select(Customer.owner_partner_id)
            .where(
                Customer.status == PROTECTED,
                Customer.owner_partner_id > after,
                _idle_since() <= now - timedelta(days=IDLE_FLOOR_DAYS),
            )
            .group_by(Customer.owner_partner_id)
            .order_by(Customer.owner_partner_id)
            .limit(limit)
        )
    )


def remind_idle(
    uow: UnitOfWork, idle_days: dict[int, int], now: datetime, limit: int = BATCH
) -> int:
    """Tell the owner once per idle period, ``rules.IDLE_REMINDER_DAYS`` before, that a
    customer it has not followed up goes to the pool (``idle_release_near``). Inside the
    caller's ``with uow:``."""
    told = 0
    for partner_id, days in idle_days.items():
        found = uow.session.scalars(
            select(Customer)
            .where(
                Customer.owner_partner_id == partner_id,
                Customer.status == PROTECTED,
                Customer.idle_reminder_sent_at.is_(None),
                _idle_since() <= now - timedelta(days=days - rules.IDLE_REMINDER_DAYS),
            )
            .limit(limit)
        ).all()
        for customer in found:
            if not rules.idle_reminder_due(customer, days, now):
                continue
            customer.idle_reminder_sent_at = now
            release_at = rules.idle_since(customer) + timedelta(days=days)
            uow.emit(
                events.IDLE_RELEASE_NEAR,
                customers.customer_event(events.IdleReleaseNear, customer, release_at=release_at),
            )
            told += 1
    return told


def release_idle(
    uow: UnitOfWork, idle_days: dict[int, int], now: datetime, limit: int = BATCH
) -> int:
    """Customers their owner has not followed up for its type's ``idle_release_days`` go
    to the pool, as a release by the owner would (``customer_released``, kind ``idle``).
    Inside the caller's ``with uow:``."""
    released = 0
    for partner_id, days in idle_days.items():
        found = uow.session.scalars(
            select(Customer)
            .where(
                Customer.owner_partner_id == partner_id,
                Customer.status == PROTECTED,
                _idle_since() <= now - timedelta(days=days),
            )
            .order_by(Customer.id)
            .limit(limit)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
        for customer in found:
            if rules.idle_release_due(customer, days, now):
                pool.release(uow, TIMER, customer, IDLE, "idle", now)
                released += 1
    return released


def remind_claim_deadlines(
    uow: UnitOfWork,
    now: datetime,
    hours: int = rules.DEADLINE_REMINDER_HOURS,
    limit: int = BATCH,
) -> int:
    """Tell the assigned partner once when a claim deadline is near: one
    ``lead_claim_deadline_near``, or one ``lead_claim_deadlines_near`` for the leads of a
    partner this tick found several of (the leads of an import reach their deadlines
    together, and a partner given thousands would be told thousands of times). Inside the
    caller's ``with uow:``."""
    leads = uow.session.scalars(
        select(Lead)
        .where(
            Lead.status == ASSIGNED,
            Lead.deadline_reminded_at.is_(None),
            Lead.claim_deadline <= now + timedelta(hours=hours),
            Lead.claim_deadline > now,
        )
        .order_by(Lead.claim_deadline, Lead.id)  # the nearest first
        .limit(limit)
        # Locked as read, and read again: a lead declined or handed over meanwhile is
        # reminded to its new holder on a later tick, not marked reminded under the old.
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).all()
    of_partner: dict[int, list[Lead]] = {}
    for lead in leads:
        lead.deadline_reminded_at = now
        of_partner.setdefault(lead.assigned_partner_id, []).append(lead)
    for partner_id, near in sorted(of_partner.items()):
        if len(near) == 1:
            uow.emit(events.LEAD_CLAIM_DEADLINE_NEAR, lead_event(near[0]))
        else:
            data = leads_event(events.LeadClaimDeadlinesNear, partner_id, near)
            uow.emit(events.LEAD_CLAIM_DEADLINES_NEAR, data)
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
