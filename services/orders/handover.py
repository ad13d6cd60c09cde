"""A terminated partner's orders (DOMAIN.md, "Channel operations": termination is a
handover): what it has open (``handover_counts``, for HQ before it terminates one), and
its unapproved orders cancelled once the partners service tells ``partner_terminated``
(``cancel_open_orders``). Approved and completed orders stay, with their commission.

Each order is cancelled as ``ordering.cancel_order`` cancels one (its rollup counted again,
an action in its history, ``order_cancelled``), by the platform and with the
termination's reason, all in the transaction that marks the event applied.
"""

from __future__ import annotations

from sqlalchemy import func, select

from services.common.context import Caller
from services.common.errors import NotFound
from services.common.timeutil import utcnow
from services.common.unit_of_work import UnitOfWork
from services.orders import events, ordering, rollup, rules
from services.orders.models import Order, OrderAction
from services.orders.schemas import CANCELLED, DRAFT, REJECTED, SUBMITTED

#: The orders a termination cancels: not approved yet (a draft, one in approval, one
#: rejected and not revised).
OPEN = (DRAFT, SUBMITTED, REJECTED)
#: The reason of a termination told without one (before handovers existed).
DEFAULT_REASON = "合作终止"


def reason_of(handover: dict | None) -> str:
    """The reason the orders of a terminated partner are cancelled for: its termination's,
    or ``DEFAULT_REASON`` for a termination told without one."""
    return ((handover or {}).get("reason") or "").strip() or DEFAULT_REASON


def handover_counts(uow: UnitOfWork, caller: Caller, partner_id: int) -> dict:
    """The partner's orders a termination would cancel, by status: draft, submitted,
    rejected (HQ ``partner.manage``, or the platform)."""
    caller.require_hq("partner.manage")
    if not caller.sees_partner(partner_id):
        raise NotFound(f"partner {partner_id} not found")
    with uow:
        found = dict(
            uow.session.execute(
                select(Order.status, func.count())
                .where(Order.partner_id == partner_id, Order.status.in_(OPEN))
                .group_by(Order.status)
            ).all()
        )
    return {f"{status}_orders": found.get(status, 0) for status in OPEN}


def cancel_open_orders(uow: UnitOfWork, partner_id: int, handover: dict | None) -> int:
    """``partner_terminated``: every unapproved order of the partner is cancelled with the
    termination's reason (``order_cancelled`` each); how many."""
    reason = reason_of(handover)
    now = utcnow()
    with uow:
        session = uow.session
        orders = session.scalars(
            select(Order)
            .where(Order.partner_id == partner_id, Order.status.in_(OPEN))
            .order_by(Order.id)
            .with_for_update()
        ).all()
        for order in orders:
            rules.check_transition(order.status, "cancel")
            counted = rollup.counted(order)
            order.status = CANCELLED
            order.cancelled_at = now
            order.cancel_reason = reason
            session.add(
                OrderAction(order_id=order.id, user_id=None, action="cancelled", comment=reason)
            )
            session.flush()
            rollup.record(session, counted, order)
            uow.emit(events.ORDER_CANCELLED, ordering.cancelled_event(order, was_approved=False))
        return uow.commit(len(orders))
