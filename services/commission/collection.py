"""Commission on collection (回款提成), the use cases: the receipts and refunds of an order
approved under a rule of basis ``collection`` write its entries.

- At approval the order's rate was fixed (``entries``: an ``OrderCommission``, no entry).
- A receipt accrues receipt x that rate, half-up, in the month it was received; the
  receipt that completes the payment takes what remains of contract x rate; a refund
  reverses refund x rate, never below nothing accrued (``rules.payment_amounts``).
- Exactly once per payment: the unique index on (payment_id, kind) holds whatever delivers
  the event how often; the handlers also skip an event id they have applied.
- In turn: each payment carries its place among the order's payments (``sequence``); one
  that comes before an earlier one is retried until that one is applied
  (``PaymentOutOfTurn``, transient), as the receipt that completes the payment takes what
  the earlier ones left.
- A payment of an order whose approval is not applied yet (the events travel on separate
  queues) is retried until it is (``ApprovalNotApplied``, transient); a payment of an order
  on basis ``approval`` changes nothing, nor one of a cancelled order.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.commission import entries, rules
from services.commission.models import CommissionEntry
from services.commission.schemas import COMMISSION, REVERSAL
from services.common.errors import InvalidInput, ServiceUnavailable
from services.common.unit_of_work import UnitOfWork
from services.orders.events import REFUND


class PaymentOutOfTurn(ServiceUnavailable):
    """A payment arrived before an earlier one of its order: the handler retries it until
    the earlier ones are applied (what a payment accrues hangs on them)."""

    default_code = "payment_out_of_turn"


class ApprovalNotApplied(ServiceUnavailable):
    """A payment arrived before its order's approval: the handler retries it (a transient
    failure, ``services.common.entrypoints.TRANSIENT``) rather than losing it."""

    default_code = "approval_not_applied"


def record_payment(uow: UnitOfWork, payment: dict) -> None:
    """Write the entry of a receipt or refund (``payment``: the orders event's data) on an
    order of basis ``collection``, unless the payment has one already or accrues nothing;
    the event is marked applied either way."""
    refund = payment["kind"] == REFUND
    kind = REVERSAL if refund else COMMISSION
    with uow:
        session = uow.session
        fixed = entries.locked_order_commission(session, payment["order_id"])
        if fixed is None:
            if not entries.approval_entry_exists(session, payment["order_id"]):
                raise ApprovalNotApplied(
                    f"order {payment['order_id']}'s approval is not applied yet; "
                    f"payment {payment['payment_id']} waits for it"
                )
            uow.commit()  # basis approval: the approval's entry is all there is
            return
        if fixed.partner_id != payment["partner_id"]:
            raise InvalidInput(
                f"payment {payment['payment_id']} names partner {payment['partner_id']};"
                f" order {fixed.order_id} is partner {fixed.partner_id}'s",
                errors={"partner_id": ["not the order's partner"]},
            )
        turn = rules.payment_turn(payment["sequence"], fixed.payments_applied)
        if turn == rules.EARLY:
            raise PaymentOutOfTurn(
                f"payment {payment['payment_id']} is order {fixed.order_id}'s number "
                f"{payment['sequence']}; {fixed.payments_applied} applied so far"
            )
        if turn == rules.APPLIED:
            uow.commit()
            return
        fixed.payments_applied = payment["sequence"]
        if fixed.cancelled_at is not None or _entry_exists(session, payment["payment_id"], kind):
            uow.commit()
            return
        amounts = rules.payment_amounts(
            refund,
            payment["amount"],
            payment["received_on"],
            fixed.rate,
            fixed.amount,
            fixed.accrued,
            rules.completes_payment(payment["paid_amount_after"], payment["order_total"]),
        )
        if amounts.amount != 0:
            entry = entries.entry_of_order(fixed, kind, amounts, payment["payment_id"])
            if entries.insert_once(uow, entry) is not None:
                fixed.accrued += amounts.amount
        uow.commit()


def _entry_exists(session: Session, payment_id: int, kind: str) -> bool:
    found = session.scalar(
        select(CommissionEntry.id).where(
            CommissionEntry.payment_id == payment_id, CommissionEntry.kind == kind
        )
    )
    return found is not None
