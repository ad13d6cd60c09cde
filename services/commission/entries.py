"""Commission entries: one per approved order, and one reversal if it is cancelled after.

- Approval: contract amount x the rate in force at approval for the partner and the
  customer's source, rounded half-up to 0.01 yuan, in the approval month (Asia/Shanghai).
- Exactly once: the unique constraint on (order_id, kind) holds whatever delivers the event
  how often; the handlers also skip an event id they have applied.
- Cancellation of an approved order: a reversal with the negated amounts, in the entry's
  own period, or in the current period when the entry is already on a statement.
- Entries never change after they are written (see ``models``): a rate change does not
  touch them, a statement only records that it holds them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.commission.models import CommissionEntry, PartnerCopy
from services.commission.periods import business_date, period_of
from services.commission.rates import rate_in_force
from services.commission.schemas import EntryOut, OrderCommissionOut
from services.common.context import Caller
from services.common.errors import InvalidInput
from services.common.money import apply_rate, money, money_str
from services.common.schemas import format_rate, page_of
from services.common.scoping import get_scoped, scoped

Emit = Callable[[str, dict[str, Any]], str]

COMMISSION, REVERSAL = "commission", "reversal"
ENTRY_CREATED = "commission_entry_created"


def dump_entry(entry: CommissionEntry) -> dict:
    return EntryOut().dump(entry)


def entry_event(entry: CommissionEntry) -> dict:
    return {
        "entry_id": entry.id,
        "order_id": entry.order_id,
        "partner_id": entry.partner_id,
        "contract_no": entry.contract_no,
        "source": entry.source,
        "contract_amount": money_str(entry.contract_amount),
        "rate": format_rate(entry.rate),
        "amount": money_str(entry.amount),
        "period": entry.period,
        "kind": entry.kind,
    }


def _entry_of(
    session: Session, order_id: int, kind: str, lock: bool = False
) -> CommissionEntry | None:
    stmt = select(CommissionEntry).where(
        CommissionEntry.order_id == order_id, CommissionEntry.kind == kind
    )
    if lock:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def _insert_once(session: Session, entry: CommissionEntry, emit: Emit) -> CommissionEntry | None:
    """Insert ``entry`` unless its order already has one of its kind; None if it had.

    The unique constraint decides between two workers writing the same entry at once
    (two deliveries, or an approval and a cancellation of the same order).
    """
    try:
        with session.begin_nested():
            session.add(entry)
    except IntegrityError:
        return None
    emit(ENTRY_CREATED, entry_event(entry))
    return entry


def record_approval(
    session: Session, order: dict, partner: PartnerCopy, emit: Emit
) -> CommissionEntry | None:
    """Write the commission of an approved order; None if the order has one already.

    ``order`` is the approved event's data (validated); ``partner`` the partner's copy.
    """
    if _entry_of(session, order["order_id"], COMMISSION) is not None:
        return None
    approved_at: datetime = order["approved_at"]
    in_force = rate_in_force(session, partner.id, partner.type, business_date(approved_at))
    rate = in_force.for_source(order["customer_source"])
    contract_amount = money(order["total_amount"])
    return _insert_once(
        session,
        CommissionEntry(
            order_id=order["order_id"],
            kind=COMMISSION,
            partner_id=order["partner_id"],
            partner_type=partner.type,
            customer_id=order.get("customer_id"),
            contract_no=order["contract_no"],
            source=order["customer_source"],
            contract_amount=contract_amount,
            rate=rate,
            amount=apply_rate(contract_amount, rate),
            period=period_of(approved_at),
            rate_rule_id=in_force.rule.id,
            approved_at=approved_at,
        ),
        emit,
    )


def record_cancellation(
    session: Session,
    order: dict,
    partner: Callable[[], PartnerCopy],
    now: datetime,
    emit: Emit,
) -> CommissionEntry | None:
    """Reverse the commission of a cancelled approved order; None when there is nothing to
    reverse (never approved) or the reversal exists already.

    When the approval's entry is not written yet (the two events travel on separate queues
    and may arrive in either order), it is written first from the cancellation, which
    carries what it needs; the approved event then finds it and changes nothing.
    """
    if not order["was_approved"]:
        return None
    original = _entry_of(session, order["order_id"], COMMISSION, lock=True)
    if original is None:
        missing = [
            k for k in ("approved_at", "total_amount", "customer_source") if order[k] is None
        ]
        if missing:
            raise InvalidInput(
                "the cancelled order's approval is not known",
                errors={key: ["required when was_approved is true"] for key in missing},
            )
        record_approval(session, order, partner(), emit)
        original = _entry_of(session, order["order_id"], COMMISSION, lock=True)
    if _entry_of(session, order["order_id"], REVERSAL) is not None:
        return None
    settled = original.statement_id is not None
    return _insert_once(
        session,
        CommissionEntry(
            order_id=original.order_id,
            kind=REVERSAL,
            partner_id=original.partner_id,
            partner_type=original.partner_type,
            customer_id=original.customer_id,
            contract_no=original.contract_no,
            source=original.source,
            contract_amount=-original.contract_amount,
            rate=original.rate,
            amount=-original.amount,
            period=period_of(now) if settled else original.period,
            rate_rule_id=original.rate_rule_id,
            approved_at=original.approved_at,
        ),
        emit,
    )


# -- reading ----------------------------------------------------------------------------


def list_entries(session: Session, caller: Caller, args: dict) -> dict:
    """Entries in the caller's scope, newest first, with the filters given."""
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
    return page_of(session, stmt, args["page"], args["per_page"], dump_entry)


def get_entry(session: Session, caller: Caller, entry_id: int) -> dict:
    return dump_entry(get_scoped(session, CommissionEntry, entry_id, caller))


def order_commission(session: Session, caller: Caller, order_id: int) -> dict | None:
    """The rate and amount of the order's commission, if written and in the caller's
    scope (the order's ``commission`` field); None otherwise."""
    entry = session.scalar(
        scoped(
            select(CommissionEntry).where(
                CommissionEntry.order_id == order_id, CommissionEntry.kind == COMMISSION
            ),
            CommissionEntry.partner_id,
            caller,
        )
    )
    if entry is None:
        return None
    return OrderCommissionOut().dump({"rate": entry.rate, "amount": entry.amount})
