"""The orders service's timer: payment reminders (回款提醒).

An installment of an approved or completed order's plan (the one HQ set, or the default
plan, computed) that is not fully paid (what the order was paid pays installments earliest
due first, ``rules.unpaid_parts``) is announced:

- ``payment_due_soon`` once, from ``rules.DUE_SOON_DAYS`` days before its due date to that
  day;
- ``payment_overdue`` on the first overdue day a tick sees, then every
  ``rules.OVERDUE_EVERY_DAYS`` days while it stays unpaid (daily would be too chatty).

Each reminder sent is a ``PaymentReminder`` row (order, position, due date, kind, UTC day),
written in the same transaction as the event's outbox row: a tick that fails sends nothing,
a restarted timer never sends one twice. One replica does a tick (an advisory lock).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import exists, or_, select

from services.common.db import try_advisory_lock
from services.common.events import event_data
from services.common.unit_of_work import UnitOfWork
from services.orders import events, rules
from services.orders.models import Order, PaymentInstallment, PaymentReminder
from services.orders.receivables import plans

log = logging.getLogger(__name__)

#: Orders one tick looks at at most; the rest wait for the next tick.
BATCH = 500
_turn = {"after": 0}


def run(uow: UnitOfWork, now: datetime) -> int:
    """One replica does a tick: reminders owed today for a batch of owed orders with an
    installment due within ``rules.DUE_SOON_DAYS`` days (or past due). Returns how many
    reminders were sent."""
    with uow:
        if not try_advisory_lock(uow.session, "orders.payment_reminders"):
            return 0
        sent = remind(uow, now.date())
        uow.commit()
    return sent


def _candidates(uow: UnitOfWork, today: date, after: int, limit: int) -> list[Order]:
    """Owed orders not fully paid, id above ``after``, with an installment due by
    ``today`` + ``DUE_SOON_DAYS``: a stored one, or the default plan's."""
    horizon = today + timedelta(days=rules.DUE_SOON_DAYS)
    stored_due = exists().where(
        PaymentInstallment.order_id == Order.id, PaymentInstallment.due_date <= horizon
    )
    has_plan = exists().where(PaymentInstallment.order_id == Order.id)
    # The default plan is due DEFAULT_PLAN_DAYS after the approval's UTC day.
    approved_before = datetime.combine(
        horizon - timedelta(days=rules.DEFAULT_PLAN_DAYS - 1), time(0), tzinfo=UTC
    )
    return list(
        uow.session.scalars(
            select(Order)
            .where(
                Order.status.in_(rules.OWED),
                Order.paid_amount < Order.total_amount,
                Order.id > after,
                or_(stored_due, ~has_plan & (Order.approved_at < approved_before)),
            )
            .order_by(Order.id)
            .limit(limit)
        ).all()
    )


def remind(uow: UnitOfWork, today: date, limit: int = BATCH) -> int:
    """Inside the caller's ``with uow:``: the reminders owed ``today`` for a batch of
    orders, in turns of order id (the next tick goes on after the last one looked at)."""
    orders = _candidates(uow, today, _turn["after"], limit)
    _turn["after"] = orders[-1].id if len(orders) == limit else 0
    if not orders:
        return 0
    installments = plans(uow.session, orders)
    sent_before = _sent(uow, [order.id for order in orders])
    sent = 0
    for order in orders:
        for part in rules.unpaid_parts(installments.get(order.id, []), order.paid_amount):
            if part["unpaid"] <= 0:
                continue
            key = (order.id, part["position"], part["due_date"])
            kind = rules.reminder_due(
                part["due_date"],
                today,
                sent_due_soon=key in sent_before["due_soon"],
                last_overdue_on=sent_before["overdue"].get(key),
            )
            if kind is None:
                continue
            uow.session.add(
                PaymentReminder(
                    order_id=order.id,
                    position=part["position"],
                    due_date=part["due_date"],
                    kind=kind,
                    sent_on=today,
                    amount=part["unpaid"],
                )
            )
            name = events.PAYMENT_OVERDUE if kind == rules.OVERDUE else events.PAYMENT_DUE_SOON
            uow.emit(name, due_event(order, part, today))
            sent += 1
    uow.session.flush()
    if sent:
        log.info("payment reminders sent: %d", sent)
    return sent


def _sent(uow: UnitOfWork, order_ids: list[int]) -> dict:
    """The reminders sent of these orders' installments: ``due_soon`` keys, and the last
    day an ``overdue`` one was sent of each."""
    rows = uow.session.scalars(
        select(PaymentReminder).where(PaymentReminder.order_id.in_(order_ids))
    ).all()
    due_soon: set[tuple] = set()
    overdue: dict[tuple, date] = {}
    for row in rows:
        key = (row.order_id, row.position, row.due_date)
        if row.kind == rules.DUE_SOON:
            due_soon.add(key)
        elif key not in overdue or overdue[key] < row.sent_on:
            overdue[key] = row.sent_on
    return {"due_soon": due_soon, "overdue": overdue}


def due_event(order: Order, part: dict, today: date) -> dict:
    """``payment_due_soon`` or ``payment_overdue``: the installment and what is unpaid of
    it (the two kinds have the same data)."""
    return event_data(
        events.PaymentDue,
        {
            "order_id": order.id,
            "partner_id": order.partner_id,
            "contract_no": order.contract_no,
            "customer_name": order.customer_name,
            "position": part["position"],
            "due_date": part["due_date"],
            "installment_amount": part["amount"],
            "unpaid_amount": part["unpaid"],
            "days_overdue": rules.days_overdue(part["due_date"], today),
        },
    )
