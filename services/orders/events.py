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
``payment_recorded``, ``payment_refunded``
    ``{payment_id, order_id, partner_id, kind: "receipt" or "refund", amount, received_on,
    order_total, paid_amount_after, sequence, recorded_at}``: HQ finance recorded a receipt (回款)
    or a refund against an approved order; ``amount`` is positive either way,
    ``paid_amount_after`` is what the order has been paid once it is counted.
``payment_due_soon``, ``payment_overdue``
    ``{order_id, partner_id, contract_no, customer_name, position, due_date,
    installment_amount, unpaid_amount, days_overdue}``: an installment of the order's plan
    is due within a few days, or overdue (``days_overdue`` > 0), and ``unpaid_amount`` of it
    is not paid yet (the orders timer; once per installment, overdue ones again weekly).

This module imports only marshmallow and ``services.common``: consumers import it to read
these events without depending on the rest of the orders service.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.common.events import EventSchema, happened
from services.common.schemas import Id, IsoDateTime, Money, RegionCode

ORDER_SUBMITTED = "order_submitted"
ORDER_STEP_WAITING = "order_step_waiting"
ORDER_APPROVED = "order_approved"
ORDER_REJECTED = "order_rejected"
ORDER_CANCELLED = "order_cancelled"
ORDER_COMPLETED = "order_completed"
ORDER_COMMENTED = "order_commented"
PAYMENT_RECORDED = "payment_recorded"
PAYMENT_REFUNDED = "payment_refunded"
PAYMENT_DUE_SOON = "payment_due_soon"
PAYMENT_OVERDUE = "payment_overdue"
#: A payment's ``kind``: money received, or money given back.
RECEIPT, REFUND = "receipt", "refund"


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


class PaymentRecorded(EventSchema):
    """A receipt or a refund (``payment_refunded`` has the same data)."""

    payment_id = _id()
    order_id = _id()
    partner_id = _id()
    kind = fields.String(required=True, validate=validate.OneOf((RECEIPT, REFUND)))
    amount = Money(required=True)
    received_on = fields.Date(required=True)
    order_total = _amount()
    paid_amount_after = _amount()
    #: The payment's place among the order's payments (1, 2, ...): payments are recorded
    #: one at a time under the order's lock, and consumers apply them in this order.
    sequence = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    recorded_at = IsoDateTime(required=True, validate=happened)


class PaymentRefunded(PaymentRecorded):
    pass


class PaymentDue(_OrderEvent):
    """An installment due soon (``payment_due_soon``) or overdue (``payment_overdue``)."""

    customer_name = fields.String(required=True)
    position = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    due_date = fields.Date(required=True)
    installment_amount = Money(required=True)
    unpaid_amount = Money(required=True)
    days_overdue = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))


class PaymentOverdue(PaymentDue):
    pass


EVENTS: dict[str, type[Schema]] = {
    ORDER_SUBMITTED: OrderSubmitted,
    ORDER_STEP_WAITING: OrderStepWaiting,
    ORDER_APPROVED: OrderApproved,
    ORDER_REJECTED: OrderRejected,
    ORDER_CANCELLED: OrderCancelled,
    ORDER_COMPLETED: OrderCompleted,
    ORDER_COMMENTED: OrderCommented,
    PAYMENT_RECORDED: PaymentRecorded,
    PAYMENT_REFUNDED: PaymentRefunded,
    PAYMENT_DUE_SOON: PaymentDue,
    PAYMENT_OVERDUE: PaymentOverdue,
}
