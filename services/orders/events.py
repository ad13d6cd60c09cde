"""The events the orders service emits (through the outbox), and the one place their
payloads are built. Decimals travel as strings with two places (``"1234.50"``), times as
ISO 8601 UTC (``"2026-11-28T12:00:00Z"``), region codes as 6-digit strings.

``order_submitted``
    ``{order_id, partner_id, customer_id, customer_name, contract_no, total_amount}``:
    the partner submitted the order (again, after a rejection) and its approval started.
``order_step_waiting``
    ``{order_id, partner_id, contract_no, customer_name, total_amount,
    step: {name, permission, mode, approvers}}``: a step now waits for its approvers:
    holders of ``permission`` (mode ``any``), or the named user ids ``approvers``
    (mode ``all``; empty for ``any``).
``order_approved``
    ``{order_id, partner_id, customer_id, customer_name, contract_no, region_code,
    province, city, customer_source, total_amount,
    lines: [{product_id, sku, quantity, unit_price, amount}], approved_at}``: the last step
    was approved. Carries what commission and filing need, so they never call back.
    ``city`` is null when the customer's region is a province.
``order_rejected``
    ``{order_id, partner_id, contract_no, customer_name, comment}``: an approver rejected
    the order; the partner may revise it and submit again.
``order_cancelled``
    ``{order_id, partner_id, customer_id, contract_no, was_approved, approved_at,
    total_amount, customer_source, reason, cancelled_at}``: cancelled by the partner before
    approval (``was_approved`` false, ``approved_at`` null) or by HQ after it.
``order_completed``
    ``{order_id, partner_id, contract_no}``: HQ marked the approved order delivered.
``order_commented``
    ``{order_id, partner_id, contract_no, comment_id, author_user_id, body,
    participant_user_ids}``: someone commented; ``participant_user_ids`` are the users who
    created, acted on or commented on the order, without the author.
"""

from __future__ import annotations

from services.common.money import money_str
from services.common.timeutil import iso
from services.orders.models import Order, OrderComment

SUBMITTED = "order_submitted"
STEP_WAITING = "order_step_waiting"
APPROVED = "order_approved"
REJECTED = "order_rejected"
CANCELLED = "order_cancelled"
COMPLETED = "order_completed"
COMMENTED = "order_commented"


def submitted(order: Order) -> dict:
    return {
        "order_id": order.id,
        "partner_id": order.partner_id,
        "customer_id": order.customer_id,
        "customer_name": order.customer_name,
        "contract_no": order.contract_no,
        "total_amount": money_str(order.total_amount),
    }


def step_waiting(order: Order, step: dict) -> dict:
    """``step`` is a step of the approval instance (``StepState.to_dict()``)."""
    return {
        "order_id": order.id,
        "partner_id": order.partner_id,
        "contract_no": order.contract_no,
        "customer_name": order.customer_name,
        "total_amount": money_str(order.total_amount),
        "step": {
            "name": step["name"],
            "permission": step["permission"],
            "mode": step["mode"],
            "approvers": list(step.get("approvers") or []),
        },
    }


def approved(order: Order) -> dict:
    return {
        "order_id": order.id,
        "partner_id": order.partner_id,
        "customer_id": order.customer_id,
        "customer_name": order.customer_name,
        "contract_no": order.contract_no,
        "region_code": order.region_code,
        "province": order.province,
        "city": order.city,
        "customer_source": order.customer_source,
        "total_amount": money_str(order.total_amount),
        "lines": [
            {
                "product_id": line.product_id,
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": money_str(line.unit_price),
                "amount": money_str(line.amount),
            }
            for line in order.lines
        ],
        "approved_at": iso(order.approved_at),
    }


def rejected(order: Order, comment: str) -> dict:
    return {
        "order_id": order.id,
        "partner_id": order.partner_id,
        "contract_no": order.contract_no,
        "customer_name": order.customer_name,
        "comment": comment,
    }


def cancelled(order: Order, was_approved: bool) -> dict:
    return {
        "order_id": order.id,
        "partner_id": order.partner_id,
        "customer_id": order.customer_id,
        "contract_no": order.contract_no,
        "was_approved": was_approved,
        "approved_at": iso(order.approved_at) if was_approved else None,
        "total_amount": money_str(order.total_amount),
        "customer_source": order.customer_source,
        "reason": order.cancel_reason,
        "cancelled_at": iso(order.cancelled_at),
    }


def completed(order: Order) -> dict:
    return {
        "order_id": order.id,
        "partner_id": order.partner_id,
        "contract_no": order.contract_no,
    }


def commented(order: Order, comment: OrderComment, participant_user_ids: list[int]) -> dict:
    return {
        "order_id": order.id,
        "partner_id": order.partner_id,
        "contract_no": order.contract_no,
        "comment_id": comment.id,
        "author_user_id": comment.author_user_id,
        "body": comment.body,
        "participant_user_ids": participant_user_ids,
    }
