"""Wire schemas of the orders service: what its RPC methods take and return (the events
it produces are in ``events``; order statuses in ``models``).

The gateway validates HTTP bodies and queries with the same schemas; the service validates
again. Money travels as decimal strings with two places (``"1250.00"``), never floats.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from services.common import schemas as common_schemas
from services.common.money import MAX_MONEY, fits_money_column
from services.common.report_files import EXPORT_FORMATS
from services.common.schemas import (
    NON_SPACE,
    Flag,
    FullMatch,
    Id,
    IsoDateTime,
    Money,
    PageArgs,
    Rate,
    RegionCode,
    WireSchema,
    comma_list_pattern,
    sort_field,
    visible_text,
)
from services.orders.events import RECEIPT, REFUND

# -- the vocabulary of the wire, which the models' state columns take ------------------

#: An order's statuses (``Order.status``): drafted, in approval, approved, rejected (the
#: owner may revise and submit again), delivered, cancelled.
DRAFT, SUBMITTED, APPROVED, REJECTED, COMPLETED, CANCELLED = (
    "draft",
    "submitted",
    "approved",
    "rejected",
    "completed",
    "cancelled",
)
ORDER_STATUSES = (DRAFT, SUBMITTED, APPROVED, REJECTED, COMPLETED, CANCELLED)

#: What a payment is (``Payment.kind``): money received (回款), or money given back.
PAYMENT_KINDS = (RECEIPT, REFUND)
#: How a payment was made (``Payment.method``).
PAYMENT_METHODS = ("bank_transfer", "cash", "check", "other")
#: An order's payment status: nothing, part or all of its total paid (net of refunds).
UNPAID, PARTIAL, PAID = "unpaid", "partial", "paid"
#: The most installments a payment plan has.
MAX_INSTALLMENTS = 60

#: Dimensions of the sales report, in the order their columns appear.
DIMENSIONS = ("province", "city", "partner", "product", "month", "quarter", "source", "status")

MAX_QUANTITY = 1_000_000
MAX_LINES = 200

_sku = FullMatch(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$", error="letters, digits, _ . -")
# No whitespace at either end, no line break: as Python's \S and . read it, in any reader.
_contract_no = FullMatch(
    rf"^{NON_SPACE}([^\n]{{0,58}}{NON_SPACE})?$", error="1-60 characters, no outer spaces"
)


class CommaList(fields.Field):
    """``"province,month"`` in a query string <-> ``["province", "month"]``; each item one of
    ``choices``, no repeats (documented as a pattern)."""

    def __init__(self, choices: tuple[str, ...], **kwargs: Any) -> None:
        metadata = {
            "type": "string",
            "pattern": comma_list_pattern(choices, distinct=True),
            "description": f"comma-separated, each at most once: {', '.join(choices)}",
        }
        kwargs["metadata"] = metadata | kwargs.get("metadata", {})
        super().__init__(**kwargs)
        self.choices = choices

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else ",".join(value)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[str]:
        items = value if isinstance(value, list) else str(value).split(",")
        if not all(isinstance(item, str) for item in items):
            raise ValidationError("a comma-separated list")
        items = [item.strip() for item in items if item.strip()]
        unknown = [item for item in items if item not in self.choices]
        if unknown:
            raise ValidationError(f"unknown {', '.join(unknown)}; one of {', '.join(self.choices)}")
        if len(set(items)) != len(items):
            raise ValidationError("each item once")
        return items


class DateRange(WireSchema):
    """``from`` and ``to``: calendar dates (Asia/Shanghai), both included."""

    date_from = fields.Date(data_key="from")
    date_to = fields.Date(data_key="to")

    @validates_schema
    def _ordered(self, data: dict, **kwargs: Any) -> None:
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise ValidationError("from is after to", "from")


# -- products ---------------------------------------------------------------------------


class ProductOut(WireSchema):
    id = fields.Integer()
    sku = fields.String()
    name = fields.String()
    unit = fields.String()
    list_price = Money(dump_only=True)
    active = fields.Boolean()
    created_at = IsoDateTime()
    updated_at = IsoDateTime()


class ProductCreate(WireSchema):
    sku = fields.String(required=True, validate=_sku)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    unit = fields.String(required=True, validate=validate.Length(min=1, max=20))
    list_price = Money(required=True)
    active = Flag(load_default=True)


class ProductUpdate(WireSchema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    unit = fields.String(validate=validate.Length(min=1, max=20))
    list_price = Money()
    active = Flag()


class ProductListArgs(PageArgs):
    active = fields.Boolean()
    q = fields.String(validate=validate.Length(max=100))
    sort = sort_field("id", "sku", "name", "list_price")


# -- orders -----------------------------------------------------------------------------


class LineIn(WireSchema):
    product_id = Id(required=True, strict=True)
    quantity = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_QUANTITY)
    )
    unit_price = Money(required=True)

    @validates_schema
    def _amount_fits(self, data: dict, **kwargs: Any) -> None:
        if not fits_money_column(data["quantity"] * data["unit_price"]):
            raise ValidationError(f"quantity x unit price is more than {MAX_MONEY}", "unit_price")


def _distinct_products(lines: list[dict]) -> None:
    seen: set[int] = set()
    for line in lines:
        if line["product_id"] in seen:
            raise ValidationError(f"product {line['product_id']} is on more than one line")
        seen.add(line["product_id"])


def _total_fits(lines: list[dict]) -> None:
    if not fits_money_column(sum(line["quantity"] * line["unit_price"] for line in lines)):
        raise ValidationError(f"the order's total is more than {MAX_MONEY}")


# A list, not validate.And: the document shows the Length (minItems, maxItems).
_lines = [validate.Length(min=1, max=MAX_LINES), _distinct_products, _total_fits]


class OrderCreate(WireSchema):
    customer_id = Id(required=True, strict=True)
    contract_no = fields.String(required=True, validate=_contract_no)
    lines = fields.List(fields.Nested(LineIn), required=True, validate=_lines)
    notes = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class OrderUpdate(WireSchema):
    """A revision of a draft or rejected order; the customer stays."""

    contract_no = fields.String(validate=_contract_no)
    lines = fields.List(fields.Nested(LineIn), validate=_lines)
    notes = fields.String(allow_none=True, validate=validate.Length(max=2000))


class OrderListArgs(PageArgs, DateRange):
    status = fields.String(validate=validate.OneOf(ORDER_STATUSES))
    partner_id = Id()
    customer_id = Id()
    region_code = RegionCode()
    q = fields.String(validate=validate.Length(max=60))
    sort = sort_field("id", "created_at", "approved_at", "total_amount", "status", "contract_no")


class CancelIn(WireSchema):
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))


class CommentIn(WireSchema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class LineOut(WireSchema):
    product_id = fields.Integer()
    sku = fields.String()
    name = fields.String(attribute="product_name")
    unit = fields.String()
    quantity = fields.Integer()
    list_price = Money(dump_only=True)
    unit_price = Money(dump_only=True)
    discount = Rate(dump_only=True)
    amount = Money(dump_only=True)


class ActionOut(WireSchema):
    user_id = fields.Integer(allow_none=True)
    action = fields.String()
    step = fields.String(allow_none=True)
    comment = fields.String(allow_none=True)
    at = IsoDateTime()


class CommentOut(WireSchema):
    id = fields.Integer()
    order_id = fields.Integer()
    author_user_id = fields.Integer()
    author_partner_id = fields.Integer(allow_none=True)
    body = fields.String()
    created_at = IsoDateTime()


class StepOut(WireSchema):
    name = fields.String()
    permission = fields.String()
    mode = fields.String()
    approvers = fields.List(fields.Integer())
    condition = fields.Dict(allow_none=True)
    status = fields.String()
    actions = fields.List(fields.Dict())


class CommissionOut(WireSchema):
    rate = fields.String()
    amount = fields.String()
    #: ``approval``: the whole amount when approved; ``collection``: it accrues with
    #: each receipt.
    basis = fields.String()
    #: Accrued so far (the amount itself on the approval basis).
    accrued = fields.String()


class OrderSummaryOut(WireSchema):
    """An order in a list: no lines, steps or comments."""

    id = fields.Integer()
    partner_id = fields.Integer()
    customer_id = fields.Integer()
    customer_name = fields.String()
    contract_no = fields.String()
    region_code = fields.String()
    province = fields.String()
    city = fields.String(allow_none=True)
    customer_source = fields.String()
    status = fields.String()
    total_amount = Money(dump_only=True)
    total_quantity = fields.Integer()
    max_discount = Rate(dump_only=True)
    current_step = fields.Dict(allow_none=True)
    created_at = IsoDateTime()
    submitted_at = IsoDateTime(allow_none=True)
    approved_at = IsoDateTime(allow_none=True)
    #: Receipts less refunds; ``outstanding_amount`` and ``payment_status`` are null until
    #: the order is approved (and for a cancelled order), as nothing is due before.
    paid_amount = Money(dump_only=True)
    outstanding_amount = Money(dump_only=True, allow_none=True)
    payment_status = fields.String(
        allow_none=True, metadata={"enum": [UNPAID, PARTIAL, PAID, None]}
    )


class OrderOut(OrderSummaryOut):
    lines = fields.List(fields.Nested(LineOut))
    notes = fields.String(allow_none=True)
    steps = fields.List(fields.Nested(StepOut))
    history = fields.List(fields.Nested(ActionOut))
    comments = fields.List(fields.Nested(CommentOut))
    created_by = fields.Integer(allow_none=True)
    updated_at = IsoDateTime()
    completed_at = IsoDateTime(allow_none=True)
    cancelled_at = IsoDateTime(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    #: Filled by the gateway from the commission service once approved; null here.
    commission = fields.Nested(CommissionOut, allow_none=True)


# -- approval flow ----------------------------------------------------------------------


class OrderFlowIn(common_schemas.FlowIn):
    """The kit's flow payload, which may also name its kind (only ``order`` here)."""

    #: Optional, for callers that send the kind along; this service keeps the order flow.
    kind = fields.String(validate=validate.OneOf(("order",)))


# -- reports ----------------------------------------------------------------------------


class SalesReportArgs(DateRange):
    group_by = CommaList(DIMENSIONS, load_default=list)
    status = CommaList(ORDER_STATUSES)
    partner_id = Id()


class SalesExportArgs(SalesReportArgs):
    format = fields.String(required=True, validate=validate.OneOf(EXPORT_FORMATS))


class SalesReportQuery(SalesReportArgs):
    """The gateway's query string: the report's arguments and, for a file, its format."""

    format = fields.String(load_default="json", validate=validate.OneOf(("json", *EXPORT_FORMATS)))


class SalesRowOut(WireSchema):
    province = fields.String(allow_none=True)
    province_name = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    city_name = fields.String(allow_none=True)
    partner_id = fields.Integer()
    partner_code = fields.String(allow_none=True)
    partner_name = fields.String(allow_none=True)
    product_id = fields.Integer()
    sku = fields.String()
    product_name = fields.String()
    month = fields.String()
    quarter = fields.String()
    source = fields.String()
    status = fields.String()
    order_count = fields.Integer()
    quantity = fields.Integer()
    amount = fields.String()


class SalesTotalsOut(WireSchema):
    order_count = fields.Integer()
    quantity = fields.Integer()
    amount = fields.String()


class SalesReportOut(WireSchema):
    group_by = fields.List(fields.String())
    date_from = fields.String(data_key="from", allow_none=True)
    date_to = fields.String(data_key="to", allow_none=True)
    status = fields.List(fields.String())
    rows = fields.List(fields.Nested(SalesRowOut))
    totals = fields.Nested(SalesTotalsOut)


class SummaryArgs(DateRange):
    partner_id = Id()


class SummaryExportArgs(SummaryArgs):
    format = fields.String(required=True, validate=validate.OneOf(EXPORT_FORMATS))


class SummaryQuery(SummaryArgs):
    """The gateway's query string: the summary's arguments and, for a file, its format."""

    format = fields.String(load_default="json", validate=validate.OneOf(("json", *EXPORT_FORMATS)))


# -- receivables (应收账龄) and collections (回款报表) ----------------------------------

RECEIVABLE_DIMENSIONS = ("partner", "province", "city")
COLLECTION_DIMENSIONS = ("partner", "province", "city", "month", "quarter")
#: The ageing buckets of the receivables report, by days overdue.
AGEING_BUCKET_KEYS = ("not_due", "1_30", "31_60", "61_90", "over_90")


class ReceivablesArgs(WireSchema):
    """``as_of``: the day the receivables are aged on (default: today, UTC)."""

    group_by = CommaList(RECEIVABLE_DIMENSIONS, load_default=list)
    as_of = fields.Date()
    partner_id = Id()


class ReceivablesExportArgs(ReceivablesArgs):
    format = fields.String(required=True, validate=validate.OneOf(EXPORT_FORMATS))


class ReceivablesQuery(ReceivablesArgs):
    format = fields.String(load_default="json", validate=validate.OneOf(("json", *EXPORT_FORMATS)))


class CollectionsArgs(DateRange):
    """``from`` and ``to``: the days the money was received (UTC dates), both included."""

    group_by = CommaList(COLLECTION_DIMENSIONS, load_default=list)
    partner_id = Id()


class CollectionsExportArgs(CollectionsArgs):
    format = fields.String(required=True, validate=validate.OneOf(EXPORT_FORMATS))


class CollectionsQuery(CollectionsArgs):
    format = fields.String(load_default="json", validate=validate.OneOf(("json", *EXPORT_FORMATS)))


class _GroupOut(WireSchema):
    province = fields.String(allow_none=True)
    province_name = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    city_name = fields.String(allow_none=True)
    partner_id = fields.Integer()
    partner_code = fields.String(allow_none=True)
    partner_name = fields.String(allow_none=True)


class AgeingOut(WireSchema):
    not_due = fields.String()
    days_1_30 = fields.String(data_key="1_30")
    days_31_60 = fields.String(data_key="31_60")
    days_61_90 = fields.String(data_key="61_90")
    over_90 = fields.String()
    total = fields.String()


class ReceivablesRowOut(_GroupOut, AgeingOut):
    pass


class ReceivablesOut(WireSchema):
    group_by = fields.List(fields.String())
    as_of = fields.String()
    rows = fields.List(fields.Nested(ReceivablesRowOut))
    totals = fields.Nested(AgeingOut)


class CollectionsTotalsOut(WireSchema):
    received = fields.String()
    refunded = fields.String()
    amount = fields.String()
    payment_count = fields.Integer()


class CollectionsRowOut(_GroupOut, CollectionsTotalsOut):
    month = fields.String()
    quarter = fields.String()


class CollectionsOut(WireSchema):
    group_by = fields.List(fields.String())
    date_from = fields.String(data_key="from", allow_none=True)
    date_to = fields.String(data_key="to", allow_none=True)
    rows = fields.List(fields.Nested(CollectionsRowOut))
    totals = fields.Nested(CollectionsTotalsOut)


class SummaryRowOut(WireSchema):
    province = fields.String()
    province_name = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    city_name = fields.String(allow_none=True)
    partner_id = fields.Integer()
    partner_code = fields.String(allow_none=True)
    partner_name = fields.String(allow_none=True)
    order_count = fields.Integer()
    in_approval = fields.Integer()
    approved_count = fields.Integer()
    amount = fields.String()
    approved_amount = fields.String()


class SummaryOut(WireSchema):
    date_from = fields.String(data_key="from", allow_none=True)
    date_to = fields.String(data_key="to", allow_none=True)
    rows = fields.List(fields.Nested(SummaryRowOut))
    totals = fields.Dict()


# -- payments received (回款), payment plans, credit -------------------------------------


class InstallmentIn(WireSchema):
    due_date = fields.Date(required=True)
    amount = Money(required=True)


class PaymentPlanIn(WireSchema):
    """A plan's installments (at most ``MAX_INSTALLMENTS``); their amounts sum to the
    order's total and no due date is before the approval (the service checks both)."""

    installments = fields.List(
        fields.Nested(InstallmentIn),
        required=True,
        validate=validate.Length(min=1, max=MAX_INSTALLMENTS),
    )


class InstallmentOut(WireSchema):
    due_date = fields.Date()
    amount = Money(dump_only=True)


class PaymentPlanOut(WireSchema):
    """``default`` is true for the plan an order follows until HQ sets one: its total due
    30 days after the approval (``set_by`` and ``set_at`` are then null)."""

    order_id = fields.Integer()
    total_amount = Money(dump_only=True)
    installments = fields.List(fields.Nested(InstallmentOut))
    default = fields.Boolean()
    set_by = fields.Integer(allow_none=True)
    set_at = IsoDateTime(allow_none=True)


_reference = FullMatch(
    rf"^{NON_SPACE}([^\n]{{0,98}}{NON_SPACE})?$", error="1-100 characters, no outer spaces"
)


class PaymentIn(WireSchema):
    """A receipt (default) or a refund: the amount (more than 0), the day the money moved
    (not in the future, UTC, nor before the approval: the service checks it), how, and the
    bank's or the voucher's reference."""

    amount = Money(required=True)
    received_on = fields.Date(required=True)
    method = fields.String(required=True, validate=validate.OneOf(PAYMENT_METHODS))
    reference = fields.String(
        load_default=None,
        allow_none=True,
        validate=[_reference, visible_text],
        metadata={
            "description": "the bank's or voucher's reference: no invisible or control characters"
        },
    )
    kind = fields.String(load_default=RECEIPT, validate=validate.OneOf(PAYMENT_KINDS))


class PaymentOut(WireSchema):
    id = fields.Integer()
    order_id = fields.Integer()
    partner_id = fields.Integer()
    amount = Money(dump_only=True)
    received_on = fields.Date()
    method = fields.String()
    reference = fields.String(allow_none=True)
    kind = fields.String()
    recorded_by = fields.Integer(allow_none=True)
    created_at = IsoDateTime()


class PaymentListArgs(PageArgs):
    """``from`` and ``to``: the days the money moved (``received_on``), both included."""

    partner_id = Id()
    order_id = Id()
    kind = fields.String(validate=validate.OneOf(PAYMENT_KINDS))
    date_from = fields.Date(data_key="from")
    date_to = fields.Date(data_key="to")
    sort = sort_field("id", "received_on", "amount", "created_at")

    @validates_schema
    def _ordered(self, data: dict, **kwargs: Any) -> None:
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise ValidationError("from is after to", "from")


class CreditIn(WireSchema):
    """A partner's credit limit in yuan; null: no limit."""

    limit = Money(required=True, allow_none=True)


class CreditOut(WireSchema):
    """``outstanding``: the partner's approved and completed orders' totals less what they
    were paid, plus the totals of its orders in approval. ``available``: the limit less
    that, never below 0; null (as ``limit``) when the partner has no limit."""

    partner_id = fields.Integer()
    limit = Money(dump_only=True, allow_none=True)
    outstanding = Money(dump_only=True)
    available = Money(dump_only=True, allow_none=True)
    updated_by = fields.Integer(allow_none=True)
    updated_at = IsoDateTime(allow_none=True)
