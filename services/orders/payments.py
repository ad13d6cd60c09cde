"""Payments received (回款), one use case each: reading and setting an approved order's
payment plan, recording a receipt or a refund, listing an order's payments and the
payments the caller sees; and the data of ``payment_recorded`` and ``payment_refunded``.

An order keeps what it has been paid (``Order.paid_amount``: receipts less refunds). A
payment is recorded under the order's row lock (on SQLite, the file's write lock): two
receipts at once are counted one after the other, so together they never pay more than
the total. Plans and payments are for approved or completed orders only (409 otherwise);
an order the caller does not see is "not found".

The plan an order follows until HQ sets one (the whole total due 30 days after the
approval, ``rules.default_plan``) is computed when read, never stored: a plan set later
replaces nothing but the rows HQ set.
"""

from __future__ import annotations

from datetime import date

from marshmallow import Schema
from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session

from services.common import audit
from services.common.context import Caller
from services.common.events import event_data
from services.common.schemas import dump, ordered, page_of
from services.common.scoping import scoped
from services.common.timeutil import as_utc, utcnow
from services.common.unit_of_work import UnitOfWork
from services.orders import events, rules
from services.orders.models import Order, Payment, PaymentInstallment
from services.orders.ordering import visible_order
from services.orders.schemas import RECEIPT, REFUND, PaymentOut, PaymentPlanOut

# -- the payment plan (回款计划) ----------------------------------------------------------


def get_plan(uow: UnitOfWork, caller: Caller, order_id: int) -> dict:
    """The plan of an approved or completed order the caller sees: the one HQ set, or the
    default (``default`` true)."""
    with uow:
        order = visible_order(uow.session, caller, order_id)
        rules.check_payable(order.status)
        return dump_plan(uow.session, order)


def set_plan(uow: UnitOfWork, caller: Caller, order_id: int, data: dict) -> dict:
    """HQ ``payment.manage`` replaces the plan of an approved or completed order: amounts
    summing to its total (422 ``plan_total_mismatch``), due dates not before its approval."""
    caller.require_hq("payment.manage")
    user_id = rules.person(caller)
    with uow:
        session = uow.session
        order = visible_order(session, caller, order_id, lock=True)
        rules.check_payable(order.status)
        installments = rules.check_plan(
            data["installments"], order.total_amount, _approved_on(order)
        )
        session.execute(delete(PaymentInstallment).where(PaymentInstallment.order_id == order.id))
        set_at = utcnow()
        session.add_all(
            PaymentInstallment(
                order_id=order.id,
                position=position,
                due_date=installment["due_date"],
                amount=installment["amount"],
                set_by=user_id,
                set_at=set_at,
            )
            for position, installment in enumerate(installments, start=1)
        )
        session.flush()
        audit.record(
            uow,
            caller,
            audit.PAYMENT_PLAN_SET,
            subject_type="order",
            subject_id=order.id,
            detail={
                "partner_id": order.partner_id,
                "installments": len(installments),
                "first_due": str(installments[0]["due_date"]),
                "last_due": str(installments[-1]["due_date"]),
                "total_amount": str(order.total_amount),
            },
        )
        return uow.commit(dump_plan(session, order))


def dump_plan(session: Session, order: Order) -> dict:
    """The order's plan as answered: HQ's installments, or the default plan."""
    stored = session.scalars(
        select(PaymentInstallment)
        .where(PaymentInstallment.order_id == order.id)
        .order_by(PaymentInstallment.position)
    ).all()
    view = {"order_id": order.id, "total_amount": order.total_amount}
    if not stored:
        installments = rules.default_plan(order.total_amount, _approved_on(order))
        return dump(PaymentPlanOut, view | {"installments": installments, "default": True})
    return dump(
        PaymentPlanOut,
        view
        | {
            "installments": stored,
            "default": False,
            "set_by": stored[0].set_by,
            "set_at": stored[0].set_at,
        },
    )


# -- receipts and refunds -------------------------------------------------------------------


def record_payment(uow: UnitOfWork, caller: Caller, order_id: int, data: dict) -> dict:
    """HQ ``payment.record`` records a receipt or a refund against an approved or completed
    order, on a day not in the future nor before the approval. A receipt beyond what is
    outstanding is 422 ``overpayment``, a refund beyond what was received 422
    ``overrefund``. Announced as ``payment_recorded`` or ``payment_refunded``."""
    caller.require_hq("payment.record")
    user_id = rules.person(caller)
    with uow:
        session = uow.session
        order = visible_order(session, caller, order_id, lock=True)
        rules.check_payable(order.status)
        now = utcnow()
        rules.check_received_on(data["received_on"], _approved_on(order), now.date())
        order.paid_amount = rules.paid_after(
            data["kind"], order.total_amount, order.paid_amount, data["amount"]
        )
        payment = Payment(
            order_id=order.id,
            partner_id=order.partner_id,
            kind=data["kind"],
            amount=data["amount"],
            received_on=data["received_on"],
            method=data["method"],
            reference=data.get("reference"),
            recorded_by=user_id,
            created_at=now,
        )
        session.add(payment)
        session.flush()
        # Under the order's lock: the payments before this one are all counted.
        sequence = session.scalar(
            select(func.count()).select_from(Payment).where(Payment.order_id == order.id)
        )
        kind, schema = (
            (events.PAYMENT_RECORDED, events.PaymentRecorded)
            if payment.kind == RECEIPT
            else (events.PAYMENT_REFUNDED, events.PaymentRefunded)
        )
        uow.emit(kind, payment_event(schema, payment, order, sequence))
        audit.record(
            uow,
            caller,
            audit.PAYMENT_RECORDED,
            subject_type="order",
            subject_id=order.id,
            detail={
                "payment_id": payment.id,
                "partner_id": order.partner_id,
                "kind": payment.kind,
                "amount": str(payment.amount),
                "received_on": str(payment.received_on),
                "method": payment.method,
                "paid_amount_after": str(order.paid_amount),
            },
        )
        return uow.commit(dump(PaymentOut, payment))


def list_order_payments(uow: UnitOfWork, caller: Caller, order_id: int) -> list[dict]:
    """The receipts and refunds of an order the caller sees, oldest first."""
    with uow:
        order = visible_order(uow.session, caller, order_id)
        payments = uow.session.scalars(
            select(Payment).where(Payment.order_id == order.id).order_by(Payment.id)
        ).all()
        return [dump(PaymentOut, payment) for payment in payments]


#: The columns a list of payments sorts by (``PaymentListArgs.sort``); a refund's amount,
#: stored positive, sorts as the money it gave back (below every receipt).
PAYMENT_SORT = {
    "id": Payment.id,
    "received_on": Payment.received_on,
    "amount": case((Payment.kind == REFUND, -Payment.amount), else_=Payment.amount),
    "created_at": Payment.created_at,
}


def list_payments(uow: UnitOfWork, caller: Caller, args: dict) -> dict:
    """The payments of the orders in the caller's scope, the latest day first; filters by
    partner, order, kind and the days the money moved (``from``, ``to``, both included)."""
    stmt = scoped(select(Payment), Payment.partner_id, caller).order_by(
        Payment.received_on.desc(), Payment.id.desc()
    )
    for key in ("partner_id", "order_id", "kind"):
        if args.get(key) is not None:
            stmt = stmt.where(getattr(Payment, key) == args[key])
    if args.get("date_from") is not None:
        stmt = stmt.where(Payment.received_on >= args["date_from"])
    if args.get("date_to") is not None:
        stmt = stmt.where(Payment.received_on <= args["date_to"])
    stmt = ordered(stmt, args.get("sort"), PAYMENT_SORT, Payment.id)
    with uow:
        return page_of(
            uow.session, stmt, args["page"], args["per_page"], lambda p: dump(PaymentOut, p)
        )


# -- reads shared by the use cases ------------------------------------------------------


def _approved_on(order: Order) -> date:
    """The UTC day the order was approved."""
    if order.approved_at is None:  # an owed order was approved; kept for the type checker
        raise ValueError(f"order {order.id} has no approval time")
    return as_utc(order.approved_at).date()


# -- the data of the events (``events``) ------------------------------------------------


def payment_event(schema: type[Schema], payment: Payment, order: Order, sequence: int) -> dict:
    """``payment_recorded`` or ``payment_refunded``: the payment, its place among the
    order's payments, the order's total and what the order has been paid once the payment
    counts."""
    return event_data(
        schema,
        {
            "payment_id": payment.id,
            "order_id": order.id,
            "partner_id": order.partner_id,
            "kind": payment.kind,
            "amount": payment.amount,
            "received_on": payment.received_on,
            "order_total": order.total_amount,
            "paid_amount_after": order.paid_amount,
            "sequence": sequence,
            "recorded_at": payment.created_at,
        },
    )
