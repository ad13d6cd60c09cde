"""A terminated partner's handover (DOMAIN.md, "Channel operations"): what the partner
holds (``handover_counts``, for HQ before it terminates one), and what becomes of it once
the partners service tells ``partner_terminated`` (``start``, then ``hand_over``).

Its pending filings are rejected with the termination's reason, its protected customers
released to the public pool or transferred to the partner the termination names (each
through the one path of a release, ``pool.release``, or of a transfer,
``customers.transfer``: audited and announced; a customer whose region the receiver does
not cover goes to the pool), its open leads passed to the next covering partner or back to
the HQ queue (``routing.Assigner``: the terminated partner covers nothing any more).

A partner may hold thousands of rows: each transaction hands over at most ``BATCH`` of
each kind and then tells ``partner_handover_continued`` (with what is done so far), which
this service consumes for the next batch, until the last one tells
``partner_handover_done``. A batch, the event it tells and the id of the event it applied
are one transaction: a redelivered event changes nothing, and a crash between two batches
loses nothing. The partners service is asked in a read-only block before the block that
writes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.approval import PENDING as FLOW_PENDING
from services.common.approval import REJECTED as FLOW_REJECTED
from services.common.context import Caller
from services.common.errors import NotFound
from services.common.events import event_data
from services.common.timeutil import iso, utcnow
from services.common.unit_of_work import UnitOfWork
from services.filing import customers, events, pool
from services.filing.customers import Covering
from services.filing.models import Customer, Filing, Lead, LeadEvent
from services.filing.routing import Assigner, Terms, emit_routed
from services.filing.schemas import (
    ASSIGNED,
    BY_TERMINATION,
    FILING_PENDING,
    FILING_REJECTED,
    PROTECTED,
    REJECTED,
)

#: Who hands over, in the audit trail and the history of the rows it changes.
SYSTEM = Caller.system_caller("filing")
#: Rows of each kind one transaction hands over at most.
BATCH = 200
#: ``Handover.customers`` (``services.partners.events``).
RELEASE, TRANSFER = "release", "transfer"
#: The reason of a termination told without one (before handovers existed).
DEFAULT_REASON = "合作终止"
#: ``LeadEvent.action`` of a lead taken from a terminated partner.
LEAD_TERMINATED = "terminated"
#: What ``PartnerHandover`` counts.
COUNTS = ("released", "transferred", "filings_rejected", "leads_reassigned", "leads_unassigned")


# -- the rules -----------------------------------------------------------------------------


def first_progress(partner_id: int, handover: dict | None) -> dict:
    """The ``PartnerHandover`` of a handover not started: nothing done yet. A termination
    told without ``handover`` (before it existed) releases, with ``DEFAULT_REASON``."""
    handover = handover or {}
    transfer = handover.get("customers") == TRANSFER and handover.get("to_partner_id")
    return {
        "partner_id": partner_id,
        "customers": TRANSFER if transfer else RELEASE,
        "to_partner_id": handover.get("to_partner_id") if transfer else None,
        "reason": (handover.get("reason") or "").strip() or DEFAULT_REASON,
        **dict.fromkeys(COUNTS, 0),
    }


def receiver_of(progress: dict, covering: list[dict]) -> int | None:
    """The partner a customer goes to: the receiver the termination names when it covers
    the customer's region (``covering``: the active partners covering it), else None (the
    customer goes to the pool)."""
    target = progress["to_partner_id"]
    if progress["customers"] != TRANSFER or target is None:
        return None
    return target if any(row["partner_id"] == target for row in covering) else None


def withdraw_filing(filing: Filing, reason: str, now: datetime) -> None:
    """A pending filing of a terminated partner ends rejected, by the platform: its pending
    step records the rejection with ``reason`` and no user (no person decided); the
    customer is rejected (its keys are to be released)."""
    steps = [dict(step) for step in filing.flow["steps"]]
    pending = next((step for step in steps if step.get("status") == FLOW_PENDING), None)
    if pending is not None:
        action = {"user_id": None, "action": "reject", "comment": reason, "at": iso(now)}
        pending["actions"] = [*pending.get("actions", []), action]
        pending["status"] = FLOW_REJECTED
    filing.flow = {**filing.flow, "status": FLOW_REJECTED, "steps": steps}
    filing.status, filing.decided_at = FILING_REJECTED, now
    filing.customer.status = REJECTED


def more_to_do(batch: int, *found: list[Any]) -> bool:
    """Whether a batch that found ``found`` rows of each kind may have left some: one kind
    filled its batch."""
    return any(len(rows) >= batch for rows in found)


# -- what the partner holds ----------------------------------------------------------------


def handover_counts(uow: UnitOfWork, caller: Caller, partner_id: int) -> dict:
    """What ``partner_id`` holds in filing: protected customers, pending filings, open
    leads (HQ ``partner.manage``, or the platform)."""
    caller.require_hq("partner.manage")
    if not caller.sees_partner(partner_id):
        raise NotFound(f"partner {partner_id} not found")
    with uow:
        session = uow.session

        def count(model: Any, *conditions: Any) -> int:
            return session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0

        return {
            "protected_customers": count(
                Customer, Customer.owner_partner_id == partner_id, Customer.status == PROTECTED
            ),
            "pending_filings": count(
                Filing, Filing.partner_id == partner_id, Filing.status == FILING_PENDING
            ),
            "open_leads": count(
                Lead, Lead.assigned_partner_id == partner_id, Lead.status == ASSIGNED
            ),
        }


# -- handing over ----------------------------------------------------------------------------


def anything_left(session: Session, partner_id: int) -> bool:
    """Whether the partner still holds a pending filing, a protected customer or an open
    lead (the rows a handover passes on)."""
    queries = (
        select(Filing.id).where(Filing.partner_id == partner_id, Filing.status == FILING_PENDING),
        select(Customer.id).where(
            Customer.owner_partner_id == partner_id, Customer.status == PROTECTED
        ),
        select(Lead.id).where(Lead.assigned_partner_id == partner_id, Lead.status == ASSIGNED),
    )
    return any(session.scalar(query.limit(1)) is not None for query in queries)


def start(
    uow: UnitOfWork, partner_id: int, handover: dict | None, covering: Covering, terms: Terms
) -> dict:
    """``partner_terminated``: the first batch of the partner's handover."""
    return hand_over(uow, first_progress(partner_id, handover), covering, terms)


def hand_over(
    uow: UnitOfWork,
    progress: dict,
    covering: Covering,
    terms: Terms,
    batch: int = BATCH,
) -> dict:
    """One batch of the handover ``progress`` (a ``PartnerHandover``) describes: up to
    ``batch`` pending filings rejected, protected customers released or transferred, open
    leads passed on; then ``partner_handover_continued`` (more may be left) or
    ``partner_handover_done``, with the counts so far. A row another change took meanwhile
    is left alone. The progress after the batch."""
    partner_id = progress["partner_id"]
    reason = progress["reason"]
    now = utcnow()
    with uow:
        session = uow.session
        filing_ids = session.scalars(
            select(Filing.id)
            .where(Filing.partner_id == partner_id, Filing.status == FILING_PENDING)
            .order_by(Filing.id)
            .limit(batch)
        ).all()
        held = session.execute(
            select(Customer.id, Customer.region_code)
            .where(Customer.owner_partner_id == partner_id, Customer.status == PROTECTED)
            .order_by(Customer.id)
            .limit(batch)
        ).all()
        leads = session.scalars(
            select(Lead)
            .where(Lead.assigned_partner_id == partner_id, Lead.status == ASSIGNED)
            .order_by(Lead.id)
            .limit(batch)
        ).all()
        lead_ids = [lead.id for lead in leads]
        # Partners are asked now, before the first write: who covers each lead's region
        # (the terminated partner no longer does), and each customer's.
        assigner = Assigner(session, covering, terms)
        for lead in leads:
            assigner.consult(lead)
    receivers = {}
    if progress["customers"] == TRANSFER:
        receivers = {
            region: receiver_of(progress, covering(region)) for region in {r for _, r in held}
        }
    done = dict(progress)
    with uow:
        session = uow.session
        for filing_id in filing_ids:
            filing = session.get(Filing, filing_id, with_for_update=True, populate_existing=True)
            if filing is None or filing.status != FILING_PENDING:
                continue
            withdraw_filing(filing, reason, now)
            customers.release_keys(session, filing.customer)
            uow.emit(
                events.FILING_REJECTED,
                customers.customer_event(
                    events.FilingRejected, filing.customer, filing_id=filing.id, reason=reason
                ),
            )
            done["filings_rejected"] += 1
        for customer_id, region in held:
            customer = session.get(
                Customer, customer_id, with_for_update=True, populate_existing=True
            )
            if (
                customer is None
                or customer.status != PROTECTED
                or customer.owner_partner_id != partner_id
            ):
                continue
            target = receivers.get(region)
            if target is not None:
                customers.transfer(uow, SYSTEM, customer, target, reason)
                done["transferred"] += 1
            else:
                pool.release(uow, SYSTEM, customer, BY_TERMINATION, reason, now)
                done["released"] += 1
        for lead_id in lead_ids:
            lead = session.get(Lead, lead_id, with_for_update=True, populate_existing=True)
            if lead is None or lead.status != ASSIGNED or lead.assigned_partner_id != partner_id:
                continue
            lead.history.append(
                LeadEvent(action=LEAD_TERMINATED, partner_id=partner_id, reason=reason, at=now)
            )
            assigned = assigner.route(lead, now)
            emit_routed(uow, lead, assigned)
            done["leads_reassigned" if assigned else "leads_unassigned"] += 1
        session.flush()
        # Counted again as this batch writes: a filing approved between the batch's read
        # and its write made a customer the batch did not see; it is the next batch's.
        left = more_to_do(batch, filing_ids, held, lead_ids) or anything_left(session, partner_id)
        kind = events.PARTNER_HANDOVER_CONTINUED if left else events.PARTNER_HANDOVER_DONE
        uow.emit(kind, event_data(events.PartnerHandover, done))
        return uow.commit(done)
