"""Commission entries, the use cases: one entry per approved order, one reversal if it is
cancelled after, and the reads of entries.

- Approval: contract amount x the rate in force at approval for the partner and the
  customer's source, in the approval month (``rules.commission_of``).
- Exactly once: the unique constraint on (order_id, kind) holds whatever delivers the event
  how often; the handlers also skip an event id they have applied.
- Cancellation of an approved order: a reversal with the negated amounts
  (``rules.reversal_of``).
- A rule of basis ``collection`` writes no entry at approval: the order's rate is fixed in
  an ``OrderCommission``, and its receipts and refunds write the entries (``collection``);
  its cancellation reverses what they accrued (``rules.cancellation_of_accrual``).
- Entries never change after they are written (see ``models``): a rate change does not
  touch them, a statement only records that it holds them. Each one is counted in the
  report's rollup (``rollup.add``) in the transaction that writes it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.commission import events, partner_copy, rates, rollup, rules
from services.commission.models import CommissionEntry, OrderCommission, PartnerCopy, Statement
from services.commission.partner_copy import FetchPartner
from services.commission.schemas import (
    APPROVAL,
    COLLECTION,
    COMMISSION,
    PAID,
    REVERSAL,
    EntryOut,
    OrderCommissionOut,
)
from services.common.context import Caller
from services.common.errors import NotFound
from services.common.events import event_data
from services.common.money import money_str
from services.common.schemas import dump, ordered, page_of
from services.common.scoping import get_scoped, scoped
from services.common.unit_of_work import UnitOfWork


def dump_entry(entry: CommissionEntry) -> dict:
    """An entry as the wire shows it."""
    return dump(EntryOut, entry)


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
            written = _entry_of(uow.session, order["order_id"], COMMISSION) is not None or (
                uow.session.get(OrderCommission, order["order_id"]) is not None
            )
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
    if uow.session.get(OrderCommission, order["order_id"]) is not None:
        return None
    approved_at: datetime = order["approved_at"]
    found = rates.in_force(uow.session, partner.id, partner.type, rules.business_date(approved_at))
    amounts = rules.commission_of(
        order["total_amount"], found.for_source(order["customer_source"]), approved_at
    )
    if found.rule.basis == COLLECTION:
        _fix_rate(uow, order, partner, amounts, found.rule.id)
        return None
    return insert_once(
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


def _fix_rate(
    uow: UnitOfWork, order: dict, partner: PartnerCopy, amounts: rules.Amounts, rule_id: int
) -> None:
    """Keep the rate of an order approved under a rule of basis ``collection``; nothing
    accrues yet. A second worker keeping it at the same moment changes nothing."""
    fixed = OrderCommission(
        order_id=order["order_id"],
        partner_id=order["partner_id"],
        partner_type=partner.type,
        customer_id=order["customer_id"],
        contract_no=order["contract_no"],
        source=order["customer_source"],
        basis=COLLECTION,
        contract_amount=amounts.contract_amount,
        rate=amounts.rate,
        amount=amounts.amount,
        accrued=Decimal("0.00"),
        rate_rule_id=rule_id,
        approved_at=order["approved_at"],
    )
    try:
        with uow.session.begin_nested():
            uow.session.add(fixed)
    except IntegrityError:
        pass


def _write_reversal(
    uow: UnitOfWork, order: dict, fetched: dict | None, now: datetime
) -> CommissionEntry | None:
    session = uow.session
    original = _entry_of(session, order["order_id"], COMMISSION, lock=True)
    if original is None and session.get(OrderCommission, order["order_id"]) is None:
        rules.check_approval_known(order)
        partner = partner_copy.known_partner(session, order["partner_id"], fetched, now)
        _write_commission(uow, order, partner)
        original = _entry_of(session, order["order_id"], COMMISSION, lock=True)
    if _entry_of(session, order["order_id"], REVERSAL) is not None:
        return None
    if original is None:
        return _reverse_accrual(uow, order["order_id"], now)
    amounts = rules.reversal_of(
        rules.Amounts(original.contract_amount, original.rate, original.amount, original.period),
        settled=original.statement_id is not None,
        now=now,
    )
    return insert_once(
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


def _reverse_accrual(uow: UnitOfWork, order_id: int, now: datetime) -> CommissionEntry | None:
    """A cancelled order on basis ``collection``: what its payments accrued is reversed
    (no entry when nothing was), and nothing accrues after."""
    fixed = locked_order_commission(uow.session, order_id)
    if fixed is None or fixed.cancelled_at is not None:
        return None
    fixed.cancelled_at = now
    if fixed.accrued == 0:
        return None
    amounts = rules.cancellation_of_accrual(fixed.accrued, fixed.rate, now)
    entry = insert_once(uow, entry_of_order(fixed, REVERSAL, amounts))
    if entry is not None:
        fixed.accrued += amounts.amount
    return entry


def entry_of_order(
    fixed: OrderCommission, kind: str, amounts: rules.Amounts, payment_id: int | None = None
) -> CommissionEntry:
    """An entry of an order on basis ``collection`` (of one of its payments, or of its
    cancellation), at the rate fixed at its approval."""
    return CommissionEntry(
        order_id=fixed.order_id,
        kind=kind,
        partner_id=fixed.partner_id,
        partner_type=fixed.partner_type,
        customer_id=fixed.customer_id,
        contract_no=fixed.contract_no,
        source=fixed.source,
        contract_amount=amounts.contract_amount,
        rate=amounts.rate,
        amount=amounts.amount,
        period=amounts.period,
        rate_rule_id=fixed.rate_rule_id,
        approved_at=fixed.approved_at,
        payment_id=payment_id,
    )


def locked_order_commission(session: Session, order_id: int) -> OrderCommission | None:
    """The order's fixed rate and accrual on basis ``collection``, locked; None if the order
    was not approved under such a rule (or its approval is not applied yet). Read afresh
    under the lock: a copy the session read before may predate another worker's accrual."""
    return session.scalar(
        select(OrderCommission)
        .where(OrderCommission.order_id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _entry_of(
    session: Session, order_id: int, kind: str, lock: bool = False
) -> CommissionEntry | None:
    """The order's own entry of ``kind`` (of its approval or cancellation, not of a
    payment)."""
    stmt = select(CommissionEntry).where(
        CommissionEntry.order_id == order_id,
        CommissionEntry.kind == kind,
        CommissionEntry.payment_id.is_(None),
    )
    if lock:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def approval_entry_exists(session: Session, order_id: int) -> bool:
    """Whether the order's approval wrote its commission (basis ``approval``)."""
    return _entry_of(session, order_id, COMMISSION) is not None


def insert_once(uow: UnitOfWork, entry: CommissionEntry) -> CommissionEntry | None:
    """Insert ``entry`` and tell it, unless its order (or its payment) already has one of
    its kind; None if it had.

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
        }
        # Only an entry of a payment names one (the older entries' events read as before).
        | ({"payment_id": entry.payment_id} if entry.payment_id is not None else {}),
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
    sortable = {
        "id": CommissionEntry.id,
        "period": CommissionEntry.period,
        "amount": CommissionEntry.amount,
    }
    stmt = ordered(stmt, args.get("sort"), sortable, CommissionEntry.id)
    with uow:
        return page_of(uow.session, stmt, args["page"], args["per_page"], dump_entry)


def handover_counts(uow: UnitOfWork, caller: Caller, partner_id: int) -> dict:
    """The partner's commission not settled yet: its entries on no paid statement, how many
    and their sum (HQ ``partner.manage``, or the platform). A termination leaves them as
    they are: they are history, settled as any other."""
    caller.require_hq("partner.manage")
    if not caller.sees_partner(partner_id):
        raise NotFound(f"partner {partner_id} not found")
    with uow:
        count, amount = uow.session.execute(
            select(func.count(), func.coalesce(func.sum(CommissionEntry.amount), 0))
            .select_from(CommissionEntry)
            .outerjoin(Statement, Statement.id == CommissionEntry.statement_id)
            .where(
                CommissionEntry.partner_id == partner_id,
                or_(Statement.id.is_(None), Statement.status != PAID),
            )
        ).one()
    return {"unsettled_commission": {"entry_count": count, "amount": money_str(amount)}}


def get_entry(uow: UnitOfWork, caller: Caller, entry_id: int) -> dict:
    """One entry; NotFound outside the caller's scope."""
    with uow:
        return dump_entry(get_scoped(uow.session, CommissionEntry, entry_id, caller))


def order_commission(uow: UnitOfWork, caller: Caller, order_id: int) -> dict | None:
    """The order's commission (the order's ``commission`` field), if in the caller's scope:
    its rate, whole amount, basis and what has accrued (on basis ``approval`` the whole
    amount, once its entry is written; on basis ``collection`` what its receipts and
    refunds wrote); None otherwise."""
    fixed_stmt = scoped(
        select(OrderCommission).where(OrderCommission.order_id == order_id),
        OrderCommission.partner_id,
        caller,
    )
    stmt = scoped(
        select(CommissionEntry).where(
            CommissionEntry.order_id == order_id,
            CommissionEntry.kind == COMMISSION,
            CommissionEntry.payment_id.is_(None),
        ),
        CommissionEntry.partner_id,
        caller,
    )
    with uow:
        fixed = uow.session.scalar(fixed_stmt)
        if fixed is not None:
            return dump(
                OrderCommissionOut,
                {
                    "rate": fixed.rate,
                    "amount": fixed.amount,
                    "basis": fixed.basis,
                    "accrued": fixed.accrued,
                },
            )
        entry = uow.session.scalar(stmt)
        if entry is None:
            return None
        return dump(
            OrderCommissionOut,
            {
                "rate": entry.rate,
                "amount": entry.amount,
                "basis": APPROVAL,
                "accrued": entry.amount,
            },
        )
