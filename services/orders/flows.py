"""The order approval flow, one use case each: reading and replacing HQ's configuration,
kept in this service's database with a sensible default until HQ changes it; and
``current_flow``, the steps an order submitted now goes through.

Default: sales ops (``order.approve.sales``), then finance (``order.approve.finance``), then
the channel director (``order.approve.director``) when the total is 100,000 yuan or more or a
line is discounted more than 20 % off list price. A changed flow applies to orders submitted
afterwards; orders already in approval keep the steps they started with.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.common.approval import StepDef, parse_flow
from services.common.context import Caller
from services.common.errors import InvalidInput
from services.common.schemas import FlowOut, dump
from services.common.timeutil import utcnow
from services.common.unit_of_work import UnitOfWork
from services.orders.models import ApprovalFlow

KIND = "order"
#: What a step's condition may look at: the order's total and its largest line discount.
SUBJECT_FIELDS = {"total_amount", "max_discount"}

DEFAULT_STEPS: list[dict] = [
    {"name": "sales", "permission": "order.approve.sales", "mode": "any"},
    {"name": "finance", "permission": "order.approve.finance", "mode": "any"},
    {
        "name": "director",
        "permission": "order.approve.director",
        "mode": "any",
        "condition": {
            "any": [
                {"field": "total_amount", "op": ">=", "value": "100000"},
                {"field": "max_discount", "op": ">", "value": "0.20"},
            ]
        },
    },
]


def current_flow(session: Session) -> list[StepDef]:
    """The steps an order submitted now goes through."""
    row = session.get(ApprovalFlow, KIND)
    return parse_flow(row.steps if row else DEFAULT_STEPS, SUBJECT_FIELDS)


def _dump(steps: list[StepDef], row: ApprovalFlow | None) -> dict:
    return dump(
        FlowOut,
        {
            "kind": KIND,
            "steps": [step.to_dict() for step in steps],
            "updated_by": row.updated_by if row else None,
            "updated_at": row.updated_at if row else None,
        },
    )


def get_flow(uow: UnitOfWork, caller: Caller) -> dict:
    """The order flow as HQ configured it (or the default), for ``flow.manage`` holders."""
    caller.require_hq("flow.manage")
    with uow:
        return _dump(current_flow(uow.session), uow.session.get(ApprovalFlow, KIND))


def set_flow(uow: UnitOfWork, caller: Caller, data: dict) -> dict:
    """Replace the order flow; InvalidInput naming each malformed step (``steps.<i>``).
    One step at least has no condition, so that every order is approved by someone."""
    caller.require_hq("flow.manage")
    steps = parse_flow(data["steps"], SUBJECT_FIELDS)
    if all(step.condition is not None for step in steps):
        raise InvalidInput(
            "every order needs an approver: give one step no condition",
            errors={"steps": ["at least one step without a condition"]},
        )
    with uow:
        row = uow.session.get(ApprovalFlow, KIND)
        if row is None:
            row = ApprovalFlow(kind=KIND)
            uow.session.add(row)
        row.steps = [step.to_dict() for step in steps]
        row.updated_by = caller.user_id
        row.updated_at = utcnow()
        uow.session.flush()
        return uow.commit(_dump(steps, row))
