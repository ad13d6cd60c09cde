"""Follow-ups (跟进记录): the visits, calls and messages the partner holding a customer
records. Each keeps the customer from idle release for its partner type's idle days."""

from __future__ import annotations

from sqlalchemy import select

from services.common.context import Caller
from services.common.errors import Forbidden, InvalidState, NotFound
from services.common.schemas import dump, ordered, page_of
from services.common.scoping import get_scoped, scoped
from services.common.timeutil import utcnow
from services.common.unit_of_work import UnitOfWork
from services.filing import rules
from services.filing.models import Customer, FollowUp
from services.filing.schemas import ACTIVE_STATUSES, FollowUpOut


def dump_follow_up(follow_up: FollowUp) -> dict:
    """The follow-up as it is answered."""
    return dump(FollowUpOut, {c: getattr(follow_up, c) for c in FollowUpOut._declared_fields})


def add_follow_up(uow: UnitOfWork, caller: Caller, customer_id: int, data: dict) -> dict:
    """The partner holding a pending or protected customer records a follow-up; the
    customer's idle period starts again."""
    caller.require("customer.create")
    if caller.partner_id is None:
        raise Forbidden("follow-ups are recorded by the partner that holds the customer")
    now = utcnow()
    with uow:
        session = uow.session
        customer = session.get(Customer, customer_id, with_for_update=True, populate_existing=True)
        if customer is None or not caller.sees_partner(customer.owner_partner_id):
            raise NotFound(f"customer {customer_id} not found")
        if customer.status not in ACTIVE_STATUSES:
            raise InvalidState(f"the customer is {customer.status}; it is not yours to follow up")
        follow_up = FollowUp(
            customer_id=customer.id,
            partner_id=customer.owner_partner_id,
            created_by=caller.user_id,
            created_at=now,
            **data,
        )
        session.add(follow_up)
        rules.recorded_follow_up(customer, now)
        session.flush()
        return uow.commit(dump_follow_up(follow_up))


def list_follow_ups(uow: UnitOfWork, caller: Caller, customer_id: int, args: dict) -> dict:
    """A page of a customer's follow-ups, newest first: the partner holding it sees its
    own (not those of a partner that held it before), HQ all of them."""
    with uow:
        get_scoped(uow.session, Customer, customer_id, caller, "owner_partner_id")
        stmt = scoped(
            select(FollowUp).where(FollowUp.customer_id == customer_id),
            FollowUp.partner_id,
            caller,
        ).order_by(FollowUp.id.desc())
        sortable = {"created_at": FollowUp.created_at, "next_at": FollowUp.next_at}
        stmt = ordered(stmt, args.get("sort"), sortable, FollowUp.id)
        return page_of(uow.session, stmt, args["page"], args["per_page"], dump_follow_up)
