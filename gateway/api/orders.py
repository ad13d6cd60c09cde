"""Products, dealer orders with their approval and comments, payments received (回款) and
partners' credit, and order reports (orders service). The approval-flow route
(/approval-flows/{kind}) lives with the flows."""

from __future__ import annotations

import contextlib

from flask import jsonify
from flask.typing import ResponseReturnValue

from gateway.api.common import (
    Blueprint,
    document_errors,
    document_files,
    file_response,
    idempotent,
    page_schema,
    wire,
)
from gateway.context import authenticated, call, requires
from services.common.errors import ServiceTimeout, ServiceUnavailable
from services.common.schemas import DecisionIn, RejectIn
from services.orders.schemas import (
    CancelIn,
    CollectionsArgs,
    CollectionsOut,
    CollectionsQuery,
    CommentIn,
    CommentOut,
    CreditIn,
    CreditOut,
    OrderCreate,
    OrderListArgs,
    OrderOut,
    OrderSummaryOut,
    OrderUpdate,
    PaymentIn,
    PaymentListArgs,
    PaymentOut,
    PaymentPlanIn,
    PaymentPlanOut,
    ProductCreate,
    ProductListArgs,
    ProductOut,
    ProductUpdate,
    ReceivablesArgs,
    ReceivablesOut,
    ReceivablesQuery,
    SalesReportArgs,
    SalesReportOut,
    SalesReportQuery,
    SummaryArgs,
    SummaryOut,
    SummaryQuery,
)

products_blp = Blueprint(
    "products", __name__, url_prefix="/api/v1", description="HQ's product catalogue"
)
blp = Blueprint(
    "orders", __name__, url_prefix="/api/v1", description="Dealer orders, approval, comments"
)
reports_blp = Blueprint(
    "order_reports", __name__, url_prefix="/api/v1", description="Sales and order reports"
)


# -- products ---------------------------------------------------------------------------


@products_blp.get("/products")
@products_blp.arguments(ProductListArgs, location="query")
@products_blp.response(200, page_schema(ProductOut))
@document_errors(products_blp, 401, 422)
@authenticated
def list_products(args: dict) -> ResponseReturnValue:
    """The catalogue; ``active`` and ``q`` (SKU or name) filter it."""
    return jsonify(call("orders", "list_products", wire(ProductListArgs, args)))


@products_blp.post("/products")
@products_blp.arguments(ProductCreate)
@products_blp.response(201, ProductOut)
@document_errors(products_blp, 401, 403, 409, 422)
@idempotent(products_blp, "orders.create_product")
@requires("product.manage", hq=True)
def create_product(data: dict) -> ResponseReturnValue:
    """Add a product (SKU unique: 409 ``sku_taken``)."""
    return jsonify(call("orders", "create_product", wire(ProductCreate, data))), 201


@products_blp.get("/products/<int:product_id>")
@products_blp.response(200, ProductOut)
@document_errors(products_blp, 401, 404)
@authenticated
def get_product(product_id: int) -> ResponseReturnValue:
    return jsonify(call("orders", "get_product", product_id))


@products_blp.patch("/products/<int:product_id>")
@products_blp.arguments(ProductUpdate)
@products_blp.response(200, ProductOut)
@document_errors(products_blp, 401, 403, 404, 422)
@requires("product.manage", hq=True)
def update_product(data: dict, product_id: int) -> ResponseReturnValue:
    """Change a product's name, unit, list price or activity; orders keep their copy."""
    return jsonify(call("orders", "update_product", product_id, wire(ProductUpdate, data)))


# -- orders -----------------------------------------------------------------------------


@blp.get("/orders")
@blp.arguments(OrderListArgs, location="query")
@blp.response(200, page_schema(OrderSummaryOut))
@document_errors(blp, 401, 422)
@authenticated
def list_orders(args: dict) -> ResponseReturnValue:
    """Orders in the caller's scope, newest first (HQ: all)."""
    return jsonify(call("orders", "list_orders", wire(OrderListArgs, args)))


@blp.post("/orders")
@blp.arguments(OrderCreate)
@blp.response(201, OrderOut)
@document_errors(blp, 401, 403, 409, 422, 503)
@idempotent(blp, "orders.create_order")
@requires("order.create")
def create_order(data: dict) -> ResponseReturnValue:
    """Draft an order for a customer protected for your partner (422 ``customer_not_owned``
    otherwise)."""
    return jsonify(call("orders", "create_order", wire(OrderCreate, data))), 201


@blp.get("/orders/<int:order_id>")
@blp.response(200, OrderOut)
@document_errors(blp, 401, 404)
@authenticated
def get_order(order_id: int) -> ResponseReturnValue:
    """The order with its lines, approval steps, history and comments; once approved, its
    ``commission`` (rate, amount, basis and what has accrued) from the commission service."""
    order = call("orders", "get_order", order_id)
    if order.get("status") in ("approved", "completed"):
        # The order is still worth showing while the commission service does not answer.
        with contextlib.suppress(ServiceUnavailable, ServiceTimeout):
            order["commission"] = call("commission", "order_commission", order_id)
    return jsonify(order)


@blp.patch("/orders/<int:order_id>")
@blp.arguments(OrderUpdate)
@blp.response(200, OrderOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@requires("order.create")
def update_order(data: dict, order_id: int) -> ResponseReturnValue:
    """Revise a draft or rejected order (the ordering partner)."""
    return jsonify(call("orders", "update_order", order_id, wire(OrderUpdate, data)))


@blp.post("/orders/<int:order_id>/submit")
@blp.response(200, OrderOut)
@document_errors(blp, 401, 403, 404, 409, 422, 503)
@idempotent(blp, "orders.submit_order")
@requires("order.create")
def submit_order(order_id: int) -> ResponseReturnValue:
    """Start the approval flow (the customer must still be protected for you)."""
    return jsonify(call("orders", "submit_order", order_id))


@blp.post("/orders/<int:order_id>/approve")
@blp.arguments(DecisionIn)
@blp.response(200, OrderOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@idempotent(blp, "orders.approve_order")
@requires(hq=True)
def approve_order(data: dict, order_id: int) -> ResponseReturnValue:
    """Approve the current step (HQ with that step's permission; 403 out of turn; 403
    ``same_approver`` to whoever submitted the order or decided another of its steps)."""
    return jsonify(call("orders", "approve_order", order_id, wire(DecisionIn, data)))


@blp.post("/orders/<int:order_id>/reject")
@blp.arguments(RejectIn)
@blp.response(200, OrderOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@idempotent(blp, "orders.reject_order")
@requires(hq=True)
def reject_order(data: dict, order_id: int) -> ResponseReturnValue:
    """Reject at the current step, with a comment; the partner may revise and resubmit
    (403 ``same_approver`` to whoever submitted the order or decided another of its steps)."""
    return jsonify(call("orders", "reject_order", order_id, wire(RejectIn, data)))


@blp.post("/orders/<int:order_id>/complete")
@blp.response(200, OrderOut)
@document_errors(blp, 401, 403, 404, 409)
@idempotent(blp, "orders.complete_order")
@requires("order.fulfil", hq=True)
def complete_order(order_id: int) -> ResponseReturnValue:
    """Mark an approved order delivered."""
    return jsonify(call("orders", "complete_order", order_id))


@blp.post("/orders/<int:order_id>/cancel")
@blp.arguments(CancelIn)
@blp.response(200, OrderOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@idempotent(blp, "orders.cancel_order")
@authenticated
def cancel_order(data: dict, order_id: int) -> ResponseReturnValue:
    """Cancel: the ordering partner before approval; HQ ``order.cancel`` after, with a
    reason."""
    return jsonify(call("orders", "cancel_order", order_id, wire(CancelIn, data)))


@blp.get("/orders/<int:order_id>/comments")
@blp.response(200, CommentOut(many=True))
@document_errors(blp, 401, 404)
@authenticated
def list_comments(order_id: int) -> ResponseReturnValue:
    return jsonify(call("orders", "list_comments", order_id))


@blp.post("/orders/<int:order_id>/comments")
@blp.arguments(CommentIn)
@blp.response(201, CommentOut)
@document_errors(blp, 401, 404, 422)
@idempotent(blp, "orders.add_comment")
@authenticated
def add_comment(data: dict, order_id: int) -> ResponseReturnValue:
    """Comment on the order; everyone who took part in it is told."""
    return jsonify(call("orders", "add_comment", order_id, wire(CommentIn, data))), 201


# -- payments received (回款) and credit ---------------------------------------------------


@blp.get("/orders/<int:order_id>/payment-plan")
@blp.response(200, PaymentPlanOut)
@document_errors(blp, 401, 404, 409)
@authenticated
def get_payment_plan(order_id: int) -> ResponseReturnValue:
    """The payment plan (回款计划) of an approved or completed order (409 before): the one
    HQ set, or by default (``default`` true) the whole total due 30 days after approval."""
    return jsonify(call("orders", "get_payment_plan", order_id))


@blp.put("/orders/<int:order_id>/payment-plan")
@blp.arguments(PaymentPlanIn)
@blp.response(200, PaymentPlanOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@requires("payment.manage", hq=True)
def set_payment_plan(data: dict, order_id: int) -> ResponseReturnValue:
    """Replace the plan: amounts summing exactly to the order's total (422
    ``plan_total_mismatch``), due dates not before the approval."""
    return jsonify(call("orders", "set_payment_plan", order_id, wire(PaymentPlanIn, data)))


@blp.get("/orders/<int:order_id>/payments")
@blp.response(200, PaymentOut(many=True))
@document_errors(blp, 401, 404)
@authenticated
def list_order_payments(order_id: int) -> ResponseReturnValue:
    """The order's receipts and refunds (回款记录), oldest first."""
    return jsonify(call("orders", "list_order_payments", order_id))


@blp.post("/orders/<int:order_id>/payments")
@blp.arguments(PaymentIn)
@blp.response(201, PaymentOut)
@document_errors(blp, 401, 403, 404, 409, 422)
@idempotent(blp, "orders.record_payment")
@requires("payment.record", hq=True)
def record_payment(data: dict, order_id: int) -> ResponseReturnValue:
    """Record a receipt (``kind`` ``receipt``, the default) or a refund against an approved
    or completed order (409 otherwise), received on a day not in the future (UTC) nor
    before the approval. A receipt beyond what is outstanding is 422 ``overpayment``, a
    refund beyond what was received 422 ``overrefund``."""
    return jsonify(call("orders", "record_payment", order_id, wire(PaymentIn, data))), 201


@blp.get("/payments")
@blp.arguments(PaymentListArgs, location="query")
@blp.response(200, page_schema(PaymentOut))
@document_errors(blp, 401, 422)
@authenticated
def list_payments(args: dict) -> ResponseReturnValue:
    """Payments of the orders in the caller's scope, the latest day first; ``from`` and
    ``to`` are days the money moved."""
    return jsonify(call("orders", "list_payments", wire(PaymentListArgs, args)))


@blp.get("/partners/<int:partner_id>/credit")
@blp.response(200, CreditOut)
@document_errors(blp, 401, 404)
@authenticated
def get_credit(partner_id: int) -> ResponseReturnValue:
    """A partner's credit limit, what it owes (approved and completed orders less what they
    were paid, plus orders in approval) and what is available: HQ reads any partner's, a
    partner its own."""
    return jsonify(call("orders", "get_credit", partner_id))


@blp.put("/partners/<int:partner_id>/credit")
@blp.arguments(CreditIn)
@blp.response(200, CreditOut)
@document_errors(blp, 401, 403, 404, 422)
@requires("payment.manage", hq=True)
def set_credit(data: dict, partner_id: int) -> ResponseReturnValue:
    """Set the partner's credit limit (null: none). Submitting an order whose total would
    take what the partner owes beyond it is 422 ``credit_limit_exceeded``, naming the
    ``available`` amount in ``errors``."""
    return jsonify(call("orders", "set_credit", partner_id, wire(CreditIn, data)))


# -- reports ----------------------------------------------------------------------------


@reports_blp.get("/reports/sales")
@reports_blp.arguments(SalesReportQuery, location="query")
@reports_blp.response(200, SalesReportOut)
@document_files(reports_blp)
@document_errors(reports_blp, 401, 403, 422)
@requires("report.read")
def sales_report(args: dict) -> ResponseReturnValue:
    """Orders grouped by any of province, city, partner, product, month, quarter, source,
    status, with count, quantity and amount; ``format=csv`` or ``xlsx`` for a file."""
    file_format = args.pop("format")
    query = wire(SalesReportArgs, args)
    if file_format == "json":
        return jsonify(call("orders", "sales_report", query))
    return file_response(call("orders", "export_sales_report", query | {"format": file_format}))


@reports_blp.get("/reports/orders-summary")
@reports_blp.arguments(SummaryQuery, location="query")
@reports_blp.response(200, SummaryOut)
@document_files(reports_blp)
@document_errors(reports_blp, 401, 403, 422)
@requires("report.read")
def order_summary(args: dict) -> ResponseReturnValue:
    """Orders by province, city and partner: counted, in approval, approved, amounts;
    ``format=csv`` or ``xlsx`` for a file."""
    file_format = args.pop("format")
    query = wire(SummaryArgs, args)
    if file_format == "json":
        return jsonify(call("orders", "order_summary", query))
    return file_response(call("orders", "export_order_summary", query | {"format": file_format}))


@reports_blp.get("/reports/receivables")
@reports_blp.arguments(ReceivablesQuery, location="query")
@reports_blp.response(200, ReceivablesOut)
@document_files(reports_blp)
@document_errors(reports_blp, 401, 403, 422)
@requires("report.read")
def receivables_report(args: dict) -> ResponseReturnValue:
    """应收账龄: what approved orders still owe, by any of partner, province, city, in the
    buckets ``not_due``, ``1_30``, ``31_60``, ``61_90``, ``over_90`` days overdue as of
    ``as_of`` (default today, UTC), with ``total``; ``format=csv`` or ``xlsx`` for a file."""
    file_format = args.pop("format")
    query = wire(ReceivablesArgs, args)
    if file_format == "json":
        return jsonify(call("orders", "receivables_report", query))
    export = query | {"format": file_format}
    return file_response(call("orders", "export_receivables_report", export))


@reports_blp.get("/reports/collections")
@reports_blp.arguments(CollectionsQuery, location="query")
@reports_blp.response(200, CollectionsOut)
@document_files(reports_blp)
@document_errors(reports_blp, 401, 403, 422)
@requires("report.read")
def collections_report(args: dict) -> ResponseReturnValue:
    """回款报表: receipts net of refunds received from ``from`` to ``to``, by any of
    partner, province, city, month, quarter; ``format=csv`` or ``xlsx`` for a file."""
    file_format = args.pop("format")
    query = wire(CollectionsArgs, args)
    if file_format == "json":
        return jsonify(call("orders", "collections_report", query))
    export = query | {"format": file_format}
    return file_response(call("orders", "export_collections_report", export))
