"""Reading orders: what the caller may see of them, and their wire form.

An order outside the caller's scope is "not found", never "forbidden": nobody learns that
it exists. ``visible_order`` is the one way the other modules fetch an order.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.common.context import Caller
from services.common.db import contains_text
from services.common.errors import NotFound
from services.common.schemas import page_of
from services.common.scoping import scoped
from services.orders import rules
from services.orders.models import Order, OrderAction, OrderComment, OrderLine
from services.orders.periods import created_between
from services.orders.schemas import SUBMITTED, OrderOut, OrderSummaryOut


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


def _summary_view(order: Order) -> dict:
    return {
        column: getattr(order, column)
        for column in (
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
        )
    } | {"current_step": _current_step(order)}


def dump_summary(order: Order) -> dict:
    return OrderSummaryOut().dump(_summary_view(order))


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
    return OrderOut().dump(view)


def visible_order(session: Session, caller: Caller, order_id: int, lock: bool = False) -> Order:
    """The order if the caller may see it (locked for the change when ``lock``), else
    NotFound: an order of another partner is never revealed."""
    # A locked read reads the row afresh, also when this session read it before.
    order = session.get(Order, order_id, with_for_update=lock or None, populate_existing=lock)
    if order is None or not caller.sees_partner(order.partner_id):
        raise NotFound(f"order {order_id} not found")
    return order


def get_order(session: Session, caller: Caller, order_id: int) -> dict:
    return dump_order(session, visible_order(session, caller, order_id))


def list_orders(session: Session, caller: Caller, args: dict) -> dict:
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
    return page_of(session, stmt, args["page"], args["per_page"], dump_summary)
