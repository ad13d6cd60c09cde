"""Partners' credit (信用额度), one use case each: reading and setting a partner's limit;
and the check every submission of an order passes (``check_submission``).

What a partner owes (``owed``): the totals of its approved and completed orders less what
they were paid, plus the totals of its orders in approval (submitted): an order in approval
is counted from its submission, so that two orders each within the limit cannot both be
approved beyond it. A rejected order counts again once submitted again.

A submission of a partner with a limit locks the partner's credit row first
(``PartnerCredit``; on SQLite, the file's write lock): submissions of one partner are
counted one after the other. A partner without a row, or with a null limit, has no limit
and is not checked.

The partners service is asked (as the caller) before the blocks, whether the partner
exists and is in the caller's scope: no lock is held across the call.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from services.common import audit
from services.common.context import Caller
from services.common.db import upsert_insert
from services.common.errors import NotFound
from services.common.money import money, to_decimal
from services.common.schemas import dump
from services.common.timeutil import utcnow
from services.common.unit_of_work import UnitOfWork
from services.orders import rules
from services.orders.models import Order, PartnerCredit
from services.orders.schemas import SUBMITTED, CreditOut

#: ``partners.get_partner(partner_id)`` as the caller: the partner, or NotFound outside
#: the caller's scope.
GetPartner = Callable[[int], dict]


def get_credit(uow: UnitOfWork, caller: Caller, partner_id: int, get_partner: GetPartner) -> dict:
    """A partner's limit, what it owes and what it may still order for: HQ reads any, a
    partner's user its own (and its sub-partners' where its role sees them); NotFound
    otherwise."""
    _check_sees(caller, partner_id)
    get_partner(partner_id)
    with uow:
        session = uow.session
        return dump_credit(session, partner_id, session.get(PartnerCredit, partner_id))


def set_credit(
    uow: UnitOfWork, caller: Caller, partner_id: int, data: dict, get_partner: GetPartner
) -> dict:
    """HQ ``payment.manage`` sets a partner's limit (null: no limit). A limit below what the
    partner owes already is kept: it refuses the partner's next submissions."""
    caller.require_hq("payment.manage")
    user_id = rules.person(caller)
    get_partner(partner_id)
    values = {"credit_limit": data["limit"], "updated_by": user_id, "updated_at": utcnow()}
    with uow:
        session = uow.session
        before = session.scalar(
            select(PartnerCredit.credit_limit)
            .where(PartnerCredit.partner_id == partner_id)
            .with_for_update()
        )
        # One statement, so that two first limits of a partner at once are not a conflict.
        insert = upsert_insert(session)(PartnerCredit).values(partner_id=partner_id, **values)
        session.execute(insert.on_conflict_do_update(index_elements=["partner_id"], set_=values))
        row = session.get(PartnerCredit, partner_id, populate_existing=True)
        audit.record(
            uow,
            caller,
            audit.CREDIT_LIMIT_SET,
            subject_type="partner",
            subject_id=partner_id,
            detail={
                "limit_before": None if before is None else str(before),
                "limit": None if data["limit"] is None else str(data["limit"]),
            },
        )
        return uow.commit(dump_credit(session, partner_id, row))


def check_submission(session: Session, order: Order) -> None:
    """Inside a submission's transaction, the order (a draft or a rejected one, so not yet
    counted) locked: 422 ``credit_limit_exceeded`` if its total would take what the
    partner owes beyond its limit. Locks the partner's credit row until the commit."""
    row = session.get(PartnerCredit, order.partner_id, with_for_update=True, populate_existing=True)
    if row is None or row.credit_limit is None:
        return
    rules.check_credit(row.credit_limit, owed(session, order.partner_id), order.total_amount)


def owed(session: Session, partner_id: int) -> Decimal:
    """What the partner owes (see the module's docstring)."""
    counted = case(
        (Order.status.in_(rules.OWED), Order.total_amount - Order.paid_amount),
        (Order.status == SUBMITTED, Order.total_amount),
        else_=0,
    )
    total = session.scalar(
        select(func.coalesce(func.sum(counted), 0)).where(
            Order.partner_id == partner_id,
            Order.status.in_((*rules.OWED, SUBMITTED)),
        )
    )
    # SQLite sums NUMERIC as floats; rounding to the cent gives back the exact sum.
    return money(to_decimal(total if isinstance(total, Decimal) else str(total)))


def dump_credit(session: Session, partner_id: int, row: PartnerCredit | None) -> dict:
    """The partner's credit as answered: its limit (``row``, if any), what it owes, what
    is available."""
    limit = row.credit_limit if row is not None else None
    outstanding = owed(session, partner_id)
    view = {
        "partner_id": partner_id,
        "limit": limit,
        "outstanding": outstanding,
        "available": rules.available_credit(limit, outstanding),
        "updated_by": row.updated_by if row is not None else None,
        "updated_at": row.updated_at if row is not None else None,
    }
    return dump(CreditOut, view)


def _check_sees(caller: Caller, partner_id: int) -> None:
    if not caller.sees_partner(partner_id):
        raise NotFound(f"partner {partner_id} not found")
