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
)

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
