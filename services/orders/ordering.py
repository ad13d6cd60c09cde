"""Dealer orders, one use case each: drafting, revising, submitting, approving, rejecting,
completing and cancelling an order, and reading orders (``visible_order``, ``dump_order``,
``get_order``, ``list_orders``); and the data of the events they produce.

Each use case opens ``with uow:``, lets ``rules`` decide, changes the models, emits its
events with ``uow.emit`` and ends with ``uow.commit(answer)``. A use case that changes an
order takes what it counts for in the reports' rollup before the change
(``rollup.counted``) and records the difference after it (``rollup.record``), in the same
transaction. The customer is checked with
the filing service through ``owned_customer`` (``filing.owned_customer``, called as the
caller) at creation and again at submission, each time before the block that writes or
locks: no lock (nor, on SQLite, the file's write lock) is held across a call.

An order outside the caller's scope is "not found", never "forbidden": nobody learns that
it exists. An action in the wrong state is ``invalid_state`` (409).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.approval import APPROVED as FLOW_APPROVED
from services.common.approval import FlowInstance
from services.common.context import Caller
from services.common.db import contains_text
from services.common.errors import Conflict, NotFound
from services.common.events import event_data
from services.common.schemas import dump, ordered, page_of
from services.common.scoping import scoped
from services.common.timeutil import utcnow
from services.common.unit_of_work import UnitOfWork
from services.orders import catalogue, credit, events, flows, rollup, rules
from services.orders.models import Order, OrderAction, OrderComment, OrderLine, PartnerCopy
from services.orders.periods import created_between
from services.orders.schemas import (
    APPROVED,
    CANCELLED,
    COMPLETED,
    DRAFT,
    REJECTED,
    SUBMITTED,
    OrderOut,
    OrderSummaryOut,
)

#: ``filing.owned_customer(customer_id)``: the customer, if protected for the caller's partner.
OwnedCustomer = Callable[[int], dict]


# -- use cases --------------------------------------------------------------------------


def create_order(
    uow: UnitOfWork, caller: Caller, data: dict, owned_customer: OwnedCustomer
) -> dict:
    """A partner user with ``order.create`` drafts an order for a customer protected for its
    partner: 422 ``customer_not_owned`` otherwise (another partner's, pending, released or
    unknown). Lines name active products; totals are exact; the contract number is the
    partner's once (409 ``contract_no_taken``)."""
    partner_id = rules.check_can_order(caller)
    with uow:
        # What needs no peer is checked first, so that its errors come before filing's.
        _check_contract_no(uow.session, partner_id, data["contract_no"])
        rules.check_total_fits(data["lines"])
        catalogue.orderable_products(uow.session, [line["product_id"] for line in data["lines"]])
    customer = rules.check_owned_customer(owned_customer(data["customer_id"]), partner_id)
    with uow:
        order = Order(
            partner_id=partner_id,
            customer_id=data["customer_id"],
            contract_no=data["contract_no"],
            notes=data.get("notes"),
            status=DRAFT,
            created_by=caller.user_id,
        )
        _set_lines(uow.session, order, data["lines"])
        _apply_customer(order, customer)
        _save_unique(uow.session, order)
        _record(uow.session, order, caller, "created")
        uow.session.flush()
        rollup.record(uow.session, {}, order)
        return uow.commit(dump_order(uow.session, order))


def update_order(uow: UnitOfWork, caller: Caller, order_id: int, data: dict) -> dict:
    """The owner revises a draft or a rejected order: contract number, lines, notes."""
    with uow:
        session = uow.session
        order = visible_order(session, caller, order_id, lock=True)
        rules.check_owner(caller, order.partner_id, "revise")
        rules.check_transition(order.status, "update")
        counted = rollup.counted(order)
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
        rollup.record(session, counted, order)
        return uow.commit(dump_order(session, order))


def submit_order(
    uow: UnitOfWork, caller: Caller, order_id: int, owned_customer: OwnedCustomer
) -> dict:
    """The owner submits a draft (or a revised rejected) order: the customer must still be
    protected for the partner (its snapshot is refreshed), the products still active; the
    approval flow configured now starts with the steps whose condition holds. A customer
    changed meanwhile is 409: submit again."""
    with uow:
        order = visible_order(uow.session, caller, order_id)
        rules.check_owner(caller, order.partner_id, "submit")
        checked = order.customer_id
    customer = rules.check_owned_customer(owned_customer(checked), caller.partner_id)
    with uow:
        session = uow.session
        order = visible_order(session, caller, order_id, lock=True)
        rules.check_owner(caller, order.partner_id, "submit")
        rules.check_transition(order.status, "submit")
        if order.customer_id != checked:
            raise Conflict("the order's customer changed meanwhile; submit it again")
        catalogue.orderable_products(session, [line.product_id for line in order.lines])
        credit.check_submission(session, order)
        counted = rollup.counted(order)
        _apply_customer(order, customer)
        submitted_at = utcnow()
        instance = FlowInstance.start(
            flows.current_flow(session),
            rules.flow_subject(order.total_amount, order.max_discount),
            submitted_by=rules.person(caller),
            started_at=submitted_at,
        )
        order.approval = instance.to_dict()
        order.status = SUBMITTED
        order.submitted_at = submitted_at
        order.approved_at = None
        _record(session, order, caller, "submitted")
        session.flush()
        rollup.record(session, counted, order)
        uow.emit(events.ORDER_SUBMITTED, submitted_event(order))
        uow.emit(events.ORDER_STEP_WAITING, step_waiting_event(order, instance.current.to_dict()))
        return uow.commit(dump_order(session, order))


def approve_order(uow: UnitOfWork, caller: Caller, order_id: int, comment: str | None) -> dict:
    """An HQ user holding the current step's permission approves it (403 otherwise, also
    out of turn). An ``all`` step waits for each named approver; the last step approves the
    order (``order_approved``), an earlier one lets the next wait (``order_step_waiting``)."""
    with uow:
        session = uow.session
        order = visible_order(session, caller, order_id, lock=True)
        user_id = rules.check_can_decide(caller, order.status, "approve")
        partner = session.get(PartnerCopy, order.partner_id)
        rules.check_partner_not_terminated(partner.status if partner else None)
        counted = rollup.counted(order)
        instance = _approval(order)
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
        rollup.record(session, counted, order)
        if outcome == "step_approved":
            current = instance.current.to_dict()
            uow.emit(events.ORDER_STEP_WAITING, step_waiting_event(order, current))
        elif outcome == FLOW_APPROVED:
            uow.emit(events.ORDER_APPROVED, approved_event(order))
        return uow.commit(dump_order(session, order))


def reject_order(uow: UnitOfWork, caller: Caller, order_id: int, comment: str) -> dict:
    """An approver of the current step rejects the order with a comment; the owner may
    revise it and submit it again."""
    with uow:
        session = uow.session
        order = visible_order(session, caller, order_id, lock=True)
        user_id = rules.check_can_decide(caller, order.status, "reject")
        counted = rollup.counted(order)
        instance = _approval(order)
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
        rollup.record(session, counted, order)
        uow.emit(events.ORDER_REJECTED, rejected_event(order, comment))
        return uow.commit(dump_order(session, order))


def complete_order(uow: UnitOfWork, caller: Caller, order_id: int) -> dict:
    """HQ ``order.fulfil`` marks an approved order delivered."""
    with uow:
        session = uow.session
        order = visible_order(session, caller, order_id, lock=True)
        rules.check_can_complete(caller, order.status)
        counted = rollup.counted(order)
        order.status = COMPLETED
        order.completed_at = utcnow()
        _record(session, order, caller, "completed")
        session.flush()
        rollup.record(session, counted, order)
        uow.emit(events.ORDER_COMPLETED, completed_event(order))
        return uow.commit(dump_order(session, order))


def cancel_order(uow: UnitOfWork, caller: Caller, order_id: int, reason: str | None) -> dict:
    """Before approval the owner cancels (draft, submitted, rejected); after approval HQ
    with ``order.cancel`` does, with a reason. A completed or cancelled order stays."""
    with uow:
        session = uow.session
        order = visible_order(session, caller, order_id, lock=True)
        was_approved = rules.check_can_cancel(caller, order.status, order.partner_id, reason)
        rules.check_no_receipts(order.paid_amount)
        counted = rollup.counted(order)
        order.status = CANCELLED
        order.cancelled_at = utcnow()
        order.cancel_reason = reason
        _record(session, order, caller, "cancelled", comment=reason)
        session.flush()
        rollup.record(session, counted, order)
        uow.emit(events.ORDER_CANCELLED, cancelled_event(order, was_approved))
        return uow.commit(dump_order(session, order))


def get_order(uow: UnitOfWork, caller: Caller, order_id: int) -> dict:
    """The whole order (``dump_order``) if the caller sees it, else NotFound."""
    with uow:
        return dump_order(uow.session, visible_order(uow.session, caller, order_id))


#: The columns a list of orders sorts by (``OrderListArgs.sort``).
ORDER_SORT = {
    "id": Order.id,
    "created_at": Order.created_at,
    "approved_at": Order.approved_at,
    "total_amount": Order.total_amount,
    "status": Order.status,
    "contract_no": Order.contract_no,
}


def list_orders(uow: UnitOfWork, caller: Caller, args: dict) -> dict:
    """Orders in the caller's scope, newest first; filters by status, partner, customer,
    region (the customer's district, city or province) and creation date."""
    stmt = scoped(select(Order), Order.partner_id, caller).order_by(Order.id.desc())
    for key in ("status", "partner_id", "customer_id"):
        if args.get(key) is not None:
            stmt = stmt.where(getattr(Order, key) == args[key])
    if args.get("region_code"):
        code = args["region_code"]
        stmt = stmt.where(
            or_(Order.region_code == code, Order.city == code, Order.province == code)
        )
    if args.get("q"):
        stmt = stmt.where(contains_text(args["q"], Order.contract_no))
    stmt = created_between(stmt, args.get("date_from"), args.get("date_to"))
    stmt = ordered(stmt, args.get("sort"), ORDER_SORT, Order.id)
    with uow:
        return page_of(uow.session, stmt, args["page"], args["per_page"], dump_summary)


# -- reads shared by the use cases ------------------------------------------------------


def visible_order(session: Session, caller: Caller, order_id: int, lock: bool = False) -> Order:
    """The order if the caller may see it (locked for the change when ``lock``), else
    NotFound: an order of another partner is never revealed."""
    # A locked read reads the row afresh, also when this session read it before.
    order = session.get(Order, order_id, with_for_update=lock or None, populate_existing=lock)
    if order is None or not caller.sees_partner(order.partner_id):
        raise NotFound(f"order {order_id} not found")
    return order


def dump_summary(order: Order) -> dict:
    """An order in a list: no lines, steps or comments."""
    return dump(OrderSummaryOut, _summary_view(order))


def dump_order(session: Session, order: Order) -> dict:
    """The whole order: lines, approval steps, history of actions, comments."""
    history = session.scalars(
        select(OrderAction).where(OrderAction.order_id == order.id).order_by(OrderAction.id)
    ).all()
    comments = session.scalars(
        select(OrderComment).where(OrderComment.order_id == order.id).order_by(OrderComment.id)
    ).all()
    view = _summary_view(order) | {
        "lines": [_line_view(line) for line in order.lines],
        "notes": order.notes,
        "steps": (order.approval or {}).get("steps", []),
        "history": history,
        "comments": comments,
        "created_by": order.created_by,
        "updated_at": order.updated_at,
        "completed_at": order.completed_at,
        "cancelled_at": order.cancelled_at,
        "cancel_reason": order.cancel_reason,
        "commission": None,
    }
    return dump(OrderOut, view)


_SUMMARY_COLUMNS = (
    "id",
    "partner_id",
    "customer_id",
    "customer_name",
    "contract_no",
    "region_code",
    "province",
    "city",
    "customer_source",
    "status",
    "total_amount",
    "total_quantity",
    "max_discount",
    "created_at",
    "submitted_at",
    "approved_at",
    "paid_amount",
)


def _summary_view(order: Order) -> dict:
    view = {column: getattr(order, column) for column in _SUMMARY_COLUMNS}
    return view | {
        "current_step": _current_step(order),
        "outstanding_amount": rules.outstanding(
            order.status, order.total_amount, order.paid_amount
        ),
        "payment_status": rules.payment_status(order.status, order.total_amount, order.paid_amount),
    }


def _current_step(order: Order) -> dict | None:
    if order.status != SUBMITTED or not order.approval:
        return None
    for step in order.approval["steps"]:
        if step["status"] == "pending":
            return {key: step[key] for key in ("name", "permission", "mode", "approvers")}
    return None


def _line_view(line: OrderLine) -> dict:
    return {
        "product_id": line.product_id,
        "sku": line.sku,
        "product_name": line.product_name,
        "unit": line.unit,
        "quantity": line.quantity,
        "list_price": line.list_price,
        "unit_price": line.unit_price,
        "discount": rules.shown_discount(line.list_price, line.unit_price),
        "amount": line.amount,
    }


# -- writing an order -------------------------------------------------------------------


def _record(session: Session, order: Order, caller: Caller, action: str, **extra: Any) -> None:
    session.add(OrderAction(order_id=order.id, user_id=caller.user_id, action=action, **extra))


def _approval(order: Order) -> FlowInstance:
    return FlowInstance.from_dict(order.approval or {"steps": [], "status": "pending"})


def _apply_customer(order: Order, customer: dict) -> None:
    snapshot = rules.region_snapshot(customer.get("region_code"))
    order.customer_name = str(customer.get("name") or "")[:200]
    order.region_code = snapshot.region_code
    order.province = snapshot.province
    order.city = snapshot.city
    order.customer_source = customer.get("source") or "partner"


def _set_lines(session: Session, order: Order, lines: list[dict]) -> None:
    rules.check_total_fits(lines)
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


def _check_contract_no(
    session: Session, partner_id: int, contract_no: str, order_id: int | None = None
) -> None:
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


# -- the data of the events (``events``) ------------------------------------------------


def _event(schema: type[Schema], order: Order, *columns: str, **values: Any) -> dict:
    """An order event's data: the order's id, partner and contract number, the order's
    ``columns`` and ``values``, built through the event's ``schema``."""
    kept = ("partner_id", "contract_no", *columns)
    return event_data(
        schema, {"order_id": order.id} | {c: getattr(order, c) for c in kept} | values
    )


def submitted_event(order: Order) -> dict:
    """``order_submitted``: the order's customer and total."""
    columns = ("customer_id", "customer_name", "total_amount")
    return _event(events.OrderSubmitted, order, *columns)


def step_waiting_event(order: Order, step: dict) -> dict:
    """``order_step_waiting``: ``step`` is a step of the approval instance
    (``StepState.to_dict()``); its approvers are named for mode ``all`` only."""
    waiting = {key: step[key] for key in ("name", "permission", "mode")}
    waiting["approvers"] = list(step.get("approvers") or [])
    columns = ("customer_name", "total_amount")
    return _event(events.OrderStepWaiting, order, *columns, step=waiting)


def approved_event(order: Order) -> dict:
    """``order_approved``: what commission and filing need, so that they never call back."""
    columns = (
        "customer_id",
        "customer_name",
        "region_code",
        "province",
        "city",
        "customer_source",
        "total_amount",
        "lines",
        "approved_at",
    )
    return _event(events.OrderApproved, order, *columns)


def rejected_event(order: Order, comment: str) -> dict:
    """``order_rejected``: the approver's comment."""
    return _event(events.OrderRejected, order, "customer_name", comment=comment)


def cancelled_event(order: Order, was_approved: bool) -> dict:
    """``order_cancelled``: ``approved_at`` only when the order was approved."""
    return _event(
        events.OrderCancelled,
        order,
        "customer_id",
        "total_amount",
        "customer_source",
        "cancelled_at",
        was_approved=was_approved,
        approved_at=order.approved_at if was_approved else None,
        reason=order.cancel_reason,
    )


def completed_event(order: Order) -> dict:
    """``order_completed``."""
    return _event(events.OrderCompleted, order)
