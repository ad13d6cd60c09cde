"""The wire schemas of the commission service's RPC payloads (rates, entries, reports,
statements), reused by the gateway."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import (
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from services.common.report_files import EXPORT_FORMATS
from services.common.schemas import (
    Id,
    IsoDateTime,
    Money,
    PageArgs,
    Rate,
    WireSchema,
    comma_list_pattern,
    sort_field,
)

# -- the vocabulary of the wire, which the models' state columns take ------------------

#: The customer's source (an entry's ``source``): the partner's own, or assigned by HQ.
PARTNER_SOURCED, HQ_SOURCED = "partner", "hq"
SOURCES = (PARTNER_SOURCED, HQ_SOURCED)
#: An entry's ``kind``: the commission of an approved order, or its undoing.
COMMISSION, REVERSAL = "commission", "reversal"
KINDS = (COMMISSION, REVERSAL)
#: A rate rule's ``basis``: the whole commission when the order is approved, or accrued
#: with each receipt at the rate fixed at approval (a refund reverses its share).
APPROVAL, COLLECTION = "approval", "collection"
BASES = (APPROVAL, COLLECTION)
#: A statement's ``status``, in the order it moves through them.
ISSUED, CONFIRMED, PAID = "issued", "confirmed", "paid"
STATEMENT_STATUSES = (ISSUED, CONFIRMED, PAID)

REPORT_DIMENSIONS = ("partner", "period", "source")
REPORT_FORMATS = ("json", *EXPORT_FORMATS)

#: The report's columns in file exports, with their Chinese headers (in this order).
REPORT_COLUMNS = (
    ("partner_id", "合作伙伴ID"),
    ("partner_code", "合作伙伴编码"),
    ("partner_name", "合作伙伴名称"),
    ("period", "期间"),
    ("source", "客户来源"),
    ("contract_amount", "合同金额"),
    ("commission_amount", "提成金额"),
    ("entry_count", "条目数"),
)

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class Period(fields.String):
    """A settlement period: a calendar month ``YYYY-MM``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"pattern": _PERIOD.pattern, "example": "2026-11"})
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not _PERIOD.match(text):
            raise ValidationError("a period is a month written YYYY-MM")
        return text


class GroupBy(fields.String):
    """``partner,period,source`` (any of them, comma separated) <-> a list of dimensions."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "metadata",
            {
                "description": f"comma-separated, any of {', '.join(REPORT_DIMENSIONS)}",
                "pattern": comma_list_pattern(REPORT_DIMENSIONS),
            },
        )
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[str]:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ValidationError("a comma-separated list of dimensions")
        dims = list(dict.fromkeys(i.strip() for i in items if i.strip()))
        unknown = [d for d in dims if d not in REPORT_DIMENSIONS]
        if unknown:
            raise ValidationError(
                f"unknown dimensions {', '.join(unknown)}; use {', '.join(REPORT_DIMENSIONS)}"
            )
        return dims

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else ",".join(value)


# -- rates ------------------------------------------------------------------------------


class RateIn(WireSchema):
    """A rate rule for a partner type or for one partner; ``effective_from`` defaults to
    today (Asia/Shanghai). The same scope and date replace the rule of that date."""

    partner_type = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=40)
    )
    partner_id = Id(load_default=None, allow_none=True, strict=True)
    self_sourced_rate = Rate(required=True)
    hq_assigned_rate = Rate(required=True)
    effective_from = fields.Date(load_default=None, allow_none=True)
    basis = fields.String(load_default=APPROVAL, validate=validate.OneOf(BASES))

    @validates_schema
    def _one_scope(self, data: dict, **kwargs: Any) -> None:
        if (data.get("partner_type") is None) == (data.get("partner_id") is None):
            message = "give either partner_type or partner_id"
            raise ValidationError({"partner_type": [message], "partner_id": [message]})
        if data.get("partner_id") is not None and data["partner_id"] < 1:
            raise ValidationError({"partner_id": ["not a valid id"]})


class RateOut(WireSchema):
    id = fields.Integer()
    partner_type = fields.String(allow_none=True)
    partner_id = fields.Integer(allow_none=True)
    self_sourced_rate = Rate()
    hq_assigned_rate = Rate()
    effective_from = fields.Date()
    basis = fields.String()  # approval collection
    updated_by = fields.Integer(allow_none=True)
    created_at = IsoDateTime()
    updated_at = IsoDateTime()


class RateListArgs(PageArgs):
    partner_type = fields.String(validate=validate.Length(min=1, max=40))
    partner_id = Id()
    sort = sort_field("id")


class RateInForceArgs(WireSchema):
    partner_id = Id(required=True)
    on = fields.Date(load_default=None, allow_none=True)


class RateInForceOut(WireSchema):
    partner_id = fields.Integer()
    partner_type = fields.String()
    on = fields.Date()
    basis = fields.String()  # "partner" (an override) or "partner_type"
    rule_id = fields.Integer()
    self_sourced_rate = Rate()
    hq_assigned_rate = Rate()
    effective_from = fields.Date()
    #: The rule's basis (``basis`` above says where the rule comes from).
    commission_basis = fields.String()  # approval collection


# -- entries ----------------------------------------------------------------------------


class EntryOut(WireSchema):
    id = fields.Integer()
    order_id = fields.Integer()
    partner_id = fields.Integer()
    contract_no = fields.String()
    source = fields.String()
    contract_amount = Money(dump_only=True)
    rate = Rate()
    amount = Money(dump_only=True)
    period = fields.String()
    kind = fields.String()
    #: The receipt or refund the entry accrues on (basis ``collection``); else null.
    payment_id = fields.Integer(allow_none=True)
    statement_id = fields.Integer(allow_none=True)
    approved_at = IsoDateTime()
    created_at = IsoDateTime()


class EntryListArgs(PageArgs):
    partner_id = Id()
    order_id = Id()
    statement_id = Id()
    period = Period()
    from_ = Period(data_key="from")
    to = Period()
    kind = fields.String(validate=validate.OneOf(KINDS))
    source = fields.String(validate=validate.OneOf(SOURCES))
    settled = fields.Boolean()
    sort = sort_field("id", "period", "amount")


class OrderCommissionOut(WireSchema):
    rate = Rate()
    #: The order's whole commission (contract x rate); ``accrued``: what is written so far
    #: (the same on basis ``approval``; with each receipt on basis ``collection``).
    amount = Money(dump_only=True)
    basis = fields.String()
    accrued = Money(dump_only=True)


# -- report -----------------------------------------------------------------------------


class ReportArgs(WireSchema):
    group_by = GroupBy(load_default=lambda: ["partner", "period"])
    from_ = Period(data_key="from")
    to = Period()
    partner_id = Id()
    source = fields.String(validate=validate.OneOf(SOURCES))

    @validates_schema
    def _ordered(self, data: dict, **kwargs: Any) -> None:
        if data.get("from_") and data.get("to") and data["from_"] > data["to"]:
            raise ValidationError({"to": ["must not be before from"]})


class ReportExportArgs(ReportArgs):
    format = fields.String(required=True, validate=validate.OneOf(EXPORT_FORMATS))


class ReportQuery(ReportArgs):
    """The HTTP query of the report: the service's arguments and the answer's format."""

    format = fields.String(load_default="json", validate=validate.OneOf(REPORT_FORMATS))


class ReportTotalsOut(WireSchema):
    contract_amount = fields.String()
    commission_amount = fields.String()
    entry_count = fields.Integer()


class ReportOut(WireSchema):
    group_by = fields.List(fields.String())
    rows = fields.List(fields.Dict())
    totals = fields.Nested(ReportTotalsOut)


# -- statements -------------------------------------------------------------------------


class StatementIn(WireSchema):
    partner_id = Id(required=True, strict=True)
    period = Period(required=True)


class StatementOut(WireSchema):
    id = fields.Integer()
    partner_id = fields.Integer()
    period = fields.String()
    status = fields.String()
    total_amount = Money(dump_only=True)
    entry_count = fields.Integer()
    payment_ref = fields.String(allow_none=True)
    issued_at = IsoDateTime()
    confirmed_at = IsoDateTime(allow_none=True)
    paid_at = IsoDateTime(allow_none=True)


class StatementListArgs(PageArgs):
    partner_id = Id()
    period = Period()
    status = fields.String(validate=validate.OneOf(STATEMENT_STATUSES))
    sort = sort_field("id", "period", "total_amount", "status")


class PayIn(WireSchema):
    payment_ref = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=100),
            validate.Regexp(r"\s*\S", error="must not be blank"),
        ],
    )
