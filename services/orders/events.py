"""The events the orders service produces: one schema per kind (``EVENTS``), through which
the producer builds each event's data and every consumer reads it
(``services.common.events``). Decimals travel as strings with two places (``"1234.50"``),
times as ISO 8601 UTC (``"2026-11-28T12:00:00Z"``), region codes as 6-digit strings.

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

This module imports only marshmallow and ``services.common``: consumers import it to read
these events without depending on the rest of the orders service.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from services.common.events import EventSchema, happened
from services.common.schemas import Id, IsoDateTime, Money, RegionCode

ORDER_SUBMITTED = "order_submitted"
ORDER_STEP_WAITING = "order_step_waiting"
ORDER_APPROVED = "order_approved"
ORDER_REJECTED = "order_rejected"
ORDER_CANCELLED = "order_cancelled"
ORDER_COMPLETED = "order_completed"
ORDER_COMMENTED = "order_commented"


def _id() -> Id:
    return Id(required=True, strict=True)


def _amount() -> Money:
    return Money(signed=True, required=True)


class _OrderEvent(EventSchema):
    """What every order event names: the order, its partner and its contract number."""

    order_id = _id()
    partner_id = _id()
    contract_no = fields.String(required=True)


class OrderSubmitted(_OrderEvent):
    customer_id = _id()
    customer_name = fields.String(required=True)
    total_amount = _amount()


class WaitingStep(EventSchema):
    """The step that waits: who approves it (``approvers`` only for mode ``all``)."""

    name = fields.String(required=True)
    permission = fields.String(required=True)
    mode = fields.String(required=True)
    approvers = fields.List(fields.Integer(strict=True), required=True)


class OrderStepWaiting(_OrderEvent):
    customer_name = fields.String(required=True)
    total_amount = _amount()
    step = fields.Nested(WaitingStep, required=True)


class ApprovedLine(EventSchema):
    product_id = _id()
    sku = fields.String(required=True)
    quantity = fields.Integer(required=True, strict=True)
    unit_price = _amount()
    amount = _amount()


class OrderApproved(_OrderEvent):
    customer_id = _id()
    customer_name = fields.String(required=True)
    region_code = RegionCode(required=True)
    province = RegionCode(required=True)
    city = RegionCode(required=True, allow_none=True)
    customer_source = fields.String(required=True)
    total_amount = _amount()
    lines = fields.List(fields.Nested(ApprovedLine), required=True)
    approved_at = IsoDateTime(required=True, validate=happened)


class OrderRejected(_OrderEvent):
    customer_name = fields.String(required=True)
    comment = fields.String(required=True)


class OrderCancelled(_OrderEvent):
    customer_id = _id()
    was_approved = fields.Boolean(required=True)
    approved_at = IsoDateTime(required=True, allow_none=True, validate=happened)
    total_amount = _amount()
    customer_source = fields.String(required=True)
    reason = fields.String(required=True, allow_none=True)
    cancelled_at = IsoDateTime(required=True, validate=happened)


class OrderCompleted(_OrderEvent):
    pass


class OrderCommented(_OrderEvent):
    comment_id = _id()
    author_user_id = _id()
    body = fields.String(required=True)
    participant_user_ids = fields.List(fields.Integer(strict=True), required=True)


EVENTS: dict[str, type[Schema]] = {
    ORDER_SUBMITTED: OrderSubmitted,
    ORDER_STEP_WAITING: OrderStepWaiting,
    ORDER_APPROVED: OrderApproved,
    ORDER_REJECTED: OrderRejected,
    ORDER_CANCELLED: OrderCancelled,
    ORDER_COMPLETED: OrderCompleted,
    ORDER_COMMENTED: OrderCommented,
}
