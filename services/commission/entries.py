"""Commission entries, the use cases: one entry per approved order, one reversal if it is
cancelled after, and the reads of entries.

- Approval: contract amount x the rate in force at approval for the partner and the
  customer's source, in the approval month (``rules.commission_of``).
- Exactly once: the unique constraint on (order_id, kind) holds whatever delivers the event
  how often; the handlers also skip an event id they have applied.
- Cancellation of an approved order: a reversal with the negated amounts
  (``rules.reversal_of``).
- Entries never change after they are written (see ``models``): a rate change does not
  touch them, a statement only records that it holds them. Each one is counted in the
  report's rollup (``rollup.add``) in the transaction that writes it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.commission import events, partner_copy, rates, rollup, rules
from services.commission.models import CommissionEntry, PartnerCopy
from services.commission.partner_copy import FetchPartner
from services.commission.schemas import COMMISSION, REVERSAL, EntryOut, OrderCommissionOut
from services.common.context import Caller
from services.common.events import event_data
from services.common.schemas import page_of
from services.common.scoping import get_scoped, scoped
from services.common.unit_of_work import UnitOfWork


def dump_entry(entry: CommissionEntry) -> dict:
    """An entry as the wire shows it."""
    return EntryOut().dump(entry)


# -- writing (from the orders events) ---------------------------------------------------------


def record_approval(uow: UnitOfWork, order: dict, get_partner: FetchPartner, now: datetime) -> None:
    """Write the commission of an approved order (``order``: the event's data), unless the
    order has one already; the event is marked applied either way.

    A partner the copy does not know yet is asked of the partners service first (``now`` is
    when), and kept with the entry.
    """
    rules.check_order_event(order, "approved_at")
    fetched = partner_copy.fetch_unknown(uow, order["partner_id"], get_partner)
    with uow:
        partner = partner_copy.known_partner(uow.session, order["partner_id"], fetched, now)
        _write_commission(uow, order, partner)
        uow.commit()


def record_cancellation(
    uow: UnitOfWork, order: dict, get_partner: FetchPartner, now: datetime
) -> None:
    """Reverse the commission of a cancelled approved order (``order``: the event's data);
    nothing when it was never approved or the reversal exists already. The event is marked
    applied either way.

    When the approval's entry is not written yet (the two events travel on separate queues
    and may arrive in either order), it is written first from the cancellation, which
    carries what it needs; the approved event then finds it and changes nothing.
    """
    rules.check_order_event(order, "approved_at", "cancelled_at")
    fetched = None
    if order["was_approved"]:
        with uow:
            written = _entry_of(uow.session, order["order_id"], COMMISSION) is not None
        if not written:
            rules.check_approval_known(order)
            fetched = partner_copy.fetch_unknown(uow, order["partner_id"], get_partner)
    with uow:
        if order["was_approved"]:
            _write_reversal(uow, order, fetched, now)
        uow.commit()


def _write_commission(uow: UnitOfWork, order: dict, partner: PartnerCopy) -> CommissionEntry | None:
    if _entry_of(uow.session, order["order_id"], COMMISSION) is not None:
        return None
    approved_at: datetime = order["approved_at"]
    found = rates.in_force(uow.session, partner.id, partner.type, rules.business_date(approved_at))
    amounts = rules.commission_of(
        order["total_amount"], found.for_source(order["customer_source"]), approved_at
    )
    return _insert_once(
        uow,
        CommissionEntry(
            order_id=order["order_id"],
            kind=COMMISSION,
            partner_id=order["partner_id"],
            partner_type=partner.type,
            customer_id=order["customer_id"],
            contract_no=order["contract_no"],
            source=order["customer_source"],
            contract_amount=amounts.contract_amount,
            rate=amounts.rate,
            amount=amounts.amount,
            period=amounts.period,
            rate_rule_id=found.rule.id,
            approved_at=approved_at,
        ),
    )


def _write_reversal(
    uow: UnitOfWork, order: dict, fetched: dict | None, now: datetime
) -> CommissionEntry | None:
    session = uow.session
    original = _entry_of(session, order["order_id"], COMMISSION, lock=True)
    if original is None:
        rules.check_approval_known(order)
        partner = partner_copy.known_partner(session, order["partner_id"], fetched, now)
        _write_commission(uow, order, partner)
        original = _entry_of(session, order["order_id"], COMMISSION, lock=True)
    if _entry_of(session, order["order_id"], REVERSAL) is not None:
        return None
    amounts = rules.reversal_of(
        rules.Amounts(original.contract_amount, original.rate, original.amount, original.period),
        settled=original.statement_id is not None,
        now=now,
    )
    return _insert_once(
        uow,
        CommissionEntry(
            order_id=original.order_id,
            kind=REVERSAL,
            partner_id=original.partner_id,
            partner_type=original.partner_type,
            customer_id=original.customer_id,
            contract_no=original.contract_no,
            source=original.source,
            contract_amount=amounts.contract_amount,
            rate=amounts.rate,
            amount=amounts.amount,
            period=amounts.period,
            rate_rule_id=original.rate_rule_id,
            approved_at=original.approved_at,
        ),
    )


def _entry_of(
    session: Session, order_id: int, kind: str, lock: bool = False
) -> CommissionEntry | None:
    stmt = select(CommissionEntry).where(
        CommissionEntry.order_id == order_id, CommissionEntry.kind == kind
    )
    if lock:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def _insert_once(uow: UnitOfWork, entry: CommissionEntry) -> CommissionEntry | None:
    """Insert ``entry`` and tell it, unless its order already has one of its kind; None if
    it had.

    The unique constraint decides between two workers writing the same entry at once
    (two deliveries, or an approval and a cancellation of the same order).
    """
    try:
        with uow.session.begin_nested():
            uow.session.add(entry)
    except IntegrityError:
        return None
    rollup.add(uow.session, entry)
    uow.emit(events.ENTRY_CREATED, _entry_created(entry))
    return entry


def _entry_created(entry: CommissionEntry) -> dict:
    return event_data(
        events.EntryCreated,
        {
            "entry_id": entry.id,
            "order_id": entry.order_id,
            "partner_id": entry.partner_id,
            "contract_no": entry.contract_no,
            "source": entry.source,
            "contract_amount": entry.contract_amount,
            "rate": entry.rate,
            "amount": entry.amount,
            "period": entry.period,
            "kind": entry.kind,
        },
    )


# -- reading ----------------------------------------------------------------------------------


def list_entries(uow: UnitOfWork, caller: Caller, args: dict) -> dict:
    """Entries in the caller's scope, newest first, with the filters given, a page of them."""
    stmt = scoped(select(CommissionEntry), CommissionEntry.partner_id, caller).order_by(
        CommissionEntry.id.desc()
    )
    for key in ("partner_id", "order_id", "statement_id", "period", "kind", "source"):
        if args.get(key) is not None:
            stmt = stmt.where(getattr(CommissionEntry, key) == args[key])
    if args.get("from_"):
        stmt = stmt.where(CommissionEntry.period >= args["from_"])
    if args.get("to"):
        stmt = stmt.where(CommissionEntry.period <= args["to"])
    if args.get("settled") is not None:
        column = CommissionEntry.statement_id
        stmt = stmt.where(column.is_not(None) if args["settled"] else column.is_(None))
    with uow:
        return page_of(uow.session, stmt, args["page"], args["per_page"], dump_entry)


def get_entry(uow: UnitOfWork, caller: Caller, entry_id: int) -> dict:
    """One entry; NotFound outside the caller's scope."""
    with uow:
        return dump_entry(get_scoped(uow.session, CommissionEntry, entry_id, caller))


def order_commission(uow: UnitOfWork, caller: Caller, order_id: int) -> dict | None:
    """The rate and amount of the order's commission, if written and in the caller's
    scope (the order's ``commission`` field); None otherwise."""
    stmt = scoped(
        select(CommissionEntry).where(
            CommissionEntry.order_id == order_id, CommissionEntry.kind == COMMISSION
        ),
        CommissionEntry.partner_id,
        caller,
    )
    with uow:
        entry = uow.session.scalar(stmt)
        if entry is None:
            return None
        return OrderCommissionOut().dump({"rate": entry.rate, "amount": entry.amount})
