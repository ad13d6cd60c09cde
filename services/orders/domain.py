"""Rules of dealer orders: ordering for an owned customer, revising, the approval flow,
completion and cancellation. Reading is in ``views``, comments in ``comments``.

Functions take the session, the caller and validated data; they raise typed errors and tell
what happened through ``emit`` (the outbox), in the same transaction. The customer is
checked with the filing service through ``owned_customer`` (``filing.owned_customer``,
called as the caller), at creation and again at submission.

Who may do what:

- a partner user with ``order.create`` orders for its own partner; that partner's users
  with ``order.create`` (the owner) revise, submit and, before approval, cancel;
- HQ users holding the current step's permission approve or reject (an ``all`` step needs
  each of its named approvers);
- HQ ``order.fulfil`` completes an approved order; HQ ``order.cancel`` cancels it;
- whoever sees the order (its partner's scope, and HQ) reads it and comments on it.

An order outside the caller's scope is "not found"; an action in the wrong state is
``invalid_state`` (409).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.approval import APPROVED as FLOW_APPROVED
from services.common.approval import FlowInstance
from services.common.context import Caller
from services.common.errors import Conflict, Forbidden, InvalidInput
from services.common.money import MAX_MONEY, fits_money_column
from services.common.timeutil import utcnow
from services.orders import catalogue, events, flows, rules
from services.orders.models import Order, OrderAction, OrderLine
from services.orders.schemas import APPROVED, CANCELLED, COMPLETED, DRAFT, REJECTED, SUBMITTED
from services.orders.views import dump_order, visible_order

Emit = Callable[[str, dict[str, Any]], str]
OwnedCustomer = Callable[[int], dict]


def _record(session: Session, order: Order, caller: Caller, action: str, **extra: Any) -> None:
    session.add(OrderAction(order_id=order.id, user_id=caller.user_id, action=action, **extra))


def _require_owner(caller: Caller, order: Order, action: str) -> None:
    """The ordering partner's users with ``order.create`` act on their orders; a parent
    partner that merely sees the order does not."""
    if caller.partner_id is None or caller.partner_id != order.partner_id:
        raise Forbidden(f"only the ordering partner may {action} this order")
    caller.require("order.create")


def _require_person(caller: Caller) -> int:
    if caller.user_id is None:
        raise Forbidden("a person does this, not the platform")
    return caller.user_id


def _owned_customer(owned_customer: OwnedCustomer, caller: Caller, customer_id: int) -> dict:
    """The filing service's customer if it is protected for the caller's partner; it raises
    ``customer_not_owned`` itself, and the answer is checked again here."""
    customer = owned_customer(customer_id)
    if (
        not isinstance(customer, dict)
        or customer.get("owner_partner_id") != caller.partner_id
        or customer.get("status") != "protected"
    ):
        raise InvalidInput(
            "the customer is not protected for your partner",
            "customer_not_owned",
            {"customer_id": ["not a protected customer of yours"]},
        )
    return customer


def _apply_customer(order: Order, customer: dict) -> None:
    snapshot = rules.region_snapshot(customer.get("region_code"))
    order.customer_name = str(customer.get("name") or "")[:200]
    order.region_code = snapshot.region_code
    order.province = snapshot.province
    order.city = snapshot.city
    order.customer_source = customer.get("source") or "partner"


def _set_lines(session: Session, order: Order, lines: list[dict]) -> None:
    total = sum(rules.line_amount(line["quantity"], line["unit_price"]) for line in lines)
    if not fits_money_column(total):
        # The payload schemas refuse such lines already; the column must never see one.
        raise InvalidInput(
            "the order's total is more than an amount can be",
            errors={"lines": [f"the order's total is more than {MAX_MONEY}"]},
        )
    products = catalogue.orderable_products(session, [line["product_id"] for line in lines])
    if order.id is not None:
        # The old lines go first: a revised line may name the same product (unique per order).
        order.lines = []
        session.flush()
    order.lines = [
        OrderLine(
            position=position,
            product_id=line["product_id"],
            sku=products[line["product_id"]].sku,
            product_name=products[line["product_id"]].name,
            unit=products[line["product_id"]].unit,
            quantity=line["quantity"],
            list_price=products[line["product_id"]].list_price,
            unit_price=line["unit_price"],
            amount=rules.line_amount(line["quantity"], line["unit_price"]),
        )
        for position, line in enumerate(lines, start=1)
    ]
    totals = rules.totals((ln.quantity, ln.list_price, ln.unit_price) for ln in order.lines)
    order.total_amount = totals.total_amount
    order.total_quantity = totals.total_quantity
    order.max_discount = totals.max_discount


def _check_contract_no(session: Session, partner_id: int, contract_no: str, order_id=None) -> None:
    stmt = select(Order.id).where(
        Order.partner_id == partner_id, func.lower(Order.contract_no) == contract_no.lower()
    )
    if order_id is not None:
        stmt = stmt.where(Order.id != order_id)
    if session.scalar(stmt):
        raise Conflict(
            "your partner already has an order with this contract number", "contract_no_taken"
        )


def _save_unique(session: Session, order: Order) -> None:
    """Write the order; a contract number taken meanwhile by a concurrent request (the
    unique constraint) is the same conflict as one found before."""
    try:
        with session.begin_nested():
            session.add(order)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "your partner already has an order with this contract number", "contract_no_taken"
        ) from exc


def create_order(
    session: Session, caller: Caller, data: dict, owned_customer: OwnedCustomer
) -> dict:
    """A partner user with ``order.create`` drafts an order for a customer protected for its
    partner: 422 ``customer_not_owned`` otherwise (another partner's, pending, released or
    unknown). Lines name active products; totals are exact."""
    caller.require("order.create")
    if caller.partner_id is None:
        raise Forbidden("orders are placed by partners")
    _require_person(caller)
    _check_contract_no(session, caller.partner_id, data["contract_no"])
    order = Order(
        partner_id=caller.partner_id,
        customer_id=data["customer_id"],
        contract_no=data["contract_no"],
        notes=data.get("notes"),
        status=DRAFT,
        created_by=caller.user_id,
    )
    _set_lines(session, order, data["lines"])
    _apply_customer(order, _owned_customer(owned_customer, caller, data["customer_id"]))
    _save_unique(session, order)
    _record(session, order, caller, "created")
    session.flush()
    return dump_order(session, order)


def update_order(session: Session, caller: Caller, order_id: int, data: dict) -> dict:
    """The owner revises a draft or a rejected order: contract number, lines, notes."""
    order = visible_order(session, caller, order_id, lock=True)
    _require_owner(caller, order, "revise")
    rules.check_transition(order.status, "update")
    if "lines" in data:
        _set_lines(session, order, data["lines"])
    if "contract_no" in data:
        _check_contract_no(session, order.partner_id, data["contract_no"], order.id)
        order.contract_no = data["contract_no"]
    if "notes" in data:
        order.notes = data["notes"]
    _save_unique(session, order)
    _record(session, order, caller, "updated")
    session.flush()
    return dump_order(session, order)


def _subject(order: Order) -> dict:
    return {"total_amount": order.total_amount, "max_discount": order.max_discount}


def submit_order(
    session: Session, caller: Caller, order_id: int, owned_customer: OwnedCustomer, emit: Emit
) -> dict:
    """The owner submits a draft (or a revised rejected) order: the customer must still be
    protected for the partner (its snapshot is refreshed), the products still active; the
    approval flow configured now starts with the steps whose condition holds."""
    # Ask filing before locking the order: no lock (nor, on SQLite, the file's write lock)
    # is held across a call. Then lock it and check it again.
    order = visible_order(session, caller, order_id)
    _require_owner(caller, order, "submit")
    checked = order.customer_id
    customer = _owned_customer(owned_customer, caller, checked)
    order = visible_order(session, caller, order_id, lock=True)
    _require_owner(caller, order, "submit")
    rules.check_transition(order.status, "submit")
    if order.customer_id != checked:
        raise Conflict("the order's customer changed meanwhile; submit it again")
    catalogue.orderable_products(session, [line.product_id for line in order.lines])
    _apply_customer(order, customer)
    submitted_at = utcnow()
    instance = FlowInstance.start(
        flows.current_flow(session),
        _subject(order),
        submitted_by=_require_person(caller),
        started_at=submitted_at,
    )
    order.approval = instance.to_dict()
    order.status = SUBMITTED
    order.submitted_at = submitted_at
    order.approved_at = None
    _record(session, order, caller, "submitted")
    session.flush()
    emit(events.SUBMITTED, events.submitted(order))
    emit(events.STEP_WAITING, events.step_waiting(order, instance.current.to_dict()))
    return dump_order(session, order)


def approve_order(
    session: Session, caller: Caller, order_id: int, comment: str | None, emit: Emit
) -> dict:
    """An HQ user holding the current step's permission approves it (403 otherwise, also
    out of turn). An ``all`` step waits for each named approver; the last step approves the
    order."""
    order = visible_order(session, caller, order_id, lock=True)
    if not caller.is_hq:
        raise Forbidden("orders are approved by headquarters")
    user_id = _require_person(caller)
    rules.check_transition(order.status, "approve")
    instance = FlowInstance.from_dict(order.approval or {"steps": [], "status": "pending"})
    step = instance.current
    outcome = instance.approve(
        user_id,
        caller.permissions,
        comment,
        utcnow(),
        credentials_set_at=caller.credentials_set_at,
    )
    order.approval = instance.to_dict()
    step_name = step.definition.name if step else None
    _record(session, order, caller, "approved", step=step_name, comment=comment)
    if outcome == FLOW_APPROVED:
        order.status = APPROVED
        order.approved_at = utcnow()
    session.flush()
    if outcome == "step_approved":
        emit(events.STEP_WAITING, events.step_waiting(order, instance.current.to_dict()))
    elif outcome == FLOW_APPROVED:
        emit(events.APPROVED, events.approved(order))
    return dump_order(session, order)


def reject_order(session: Session, caller: Caller, order_id: int, comment: str, emit: Emit) -> dict:
    """An approver of the current step rejects the order with a comment; the owner may
    revise it and submit it again."""
    order = visible_order(session, caller, order_id, lock=True)
    if not caller.is_hq:
        raise Forbidden("orders are rejected by headquarters")
    user_id = _require_person(caller)
    rules.check_transition(order.status, "reject")
    instance = FlowInstance.from_dict(order.approval or {"steps": [], "status": "pending"})
    step = instance.current
    instance.reject(
        user_id,
        caller.permissions,
        comment,
        utcnow(),
        credentials_set_at=caller.credentials_set_at,
    )
    order.approval = instance.to_dict()
    order.status = REJECTED
    step_name = step.definition.name if step else None
    _record(session, order, caller, "rejected", step=step_name, comment=comment)
    session.flush()
    emit(events.REJECTED, events.rejected(order, comment))
    return dump_order(session, order)


def complete_order(session: Session, caller: Caller, order_id: int, emit: Emit) -> dict:
    """HQ ``order.fulfil`` marks an approved order delivered."""
    order = visible_order(session, caller, order_id, lock=True)
    caller.require_hq("order.fulfil")
    _require_person(caller)
    rules.check_transition(order.status, "complete")
    order.status = COMPLETED
    order.completed_at = utcnow()
    _record(session, order, caller, "completed")
    session.flush()
    emit(events.COMPLETED, events.completed(order))
    return dump_order(session, order)


def cancel_order(
    session: Session, caller: Caller, order_id: int, reason: str | None, emit: Emit
) -> dict:
    """Before approval the owner cancels (draft, submitted, rejected); after approval HQ
    with ``order.cancel`` does, with a reason. A completed or cancelled order stays."""
    order = visible_order(session, caller, order_id, lock=True)
    _require_person(caller)
    rules.check_transition(order.status, "cancel")
    was_approved = order.status == APPROVED
    if was_approved:
        if not caller.is_hq:
            raise Forbidden("an approved order is cancelled by headquarters")
        caller.require("order.cancel")
        if not (reason and reason.strip()):
            raise InvalidInput(
                "cancelling an approved order needs a reason", errors={"reason": ["required"]}
            )
    else:
        _require_owner(caller, order, "cancel")
    order.status = CANCELLED
    order.cancelled_at = utcnow()
    order.cancel_reason = reason
    _record(session, order, caller, "cancelled", comment=reason)
    session.flush()
    emit(events.CANCELLED, events.cancelled(order, was_approved))
    return dump_order(session, order)
