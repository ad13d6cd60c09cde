"""Payloads of the orders service: what its schemas accept, the events it emits, and the
report files it writes."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from services.common.errors import InvalidInput
from services.common.events import load_event
from services.common.report_files import XLSX_TYPE
from services.common.schemas import load
from services.orders import comments, events, exports, ordering, payments, reminders
from services.orders.models import Order, OrderComment, OrderLine, Payment
from services.orders.schemas import (
    OrderCreate,
    OrderFlowIn,
    OrderListArgs,
    ProductCreate,
    SalesReportArgs,
    SalesReportQuery,
)


def order_body(**fields: object) -> dict:
    return {
        "customer_id": 1,
        "contract_no": "HT-2026-001",
        "lines": [{"product_id": 1, "quantity": 2, "unit_price": "99.90"}],
    } | fields


def test_an_order_body_loads_money_as_exact_decimals() -> None:
    loaded = load(OrderCreate, order_body())
    assert loaded["lines"][0]["unit_price"] == Decimal("99.90")
    assert loaded["notes"] is None


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"lines": []}, "lines"),
        ({"lines": [{"product_id": 1, "quantity": 0, "unit_price": "1.00"}]}, "lines"),
        ({"lines": [{"product_id": 1, "quantity": 1.5, "unit_price": "1.00"}]}, "lines"),
        ({"lines": [{"product_id": 1, "quantity": 1, "unit_price": 1.1}]}, "lines"),
        ({"lines": [{"product_id": 1, "quantity": 1, "unit_price": "1.001"}]}, "lines"),
        ({"lines": [{"product_id": 1, "quantity": 1, "unit_price": "0"}]}, "lines"),
        ({"lines": [{"product_id": 1, "quantity": 1, "unit_price": "1", "x": 1}]}, "lines"),
        ({"contract_no": " HT"}, "contract_no"),
        ({"contract_no": ""}, "contract_no"),
        ({"customer_id": "1"}, "customer_id"),
        ({"status": "approved"}, "status"),
    ],
)
def test_malformed_order_bodies_are_invalid_input_naming_the_field(fields, where) -> None:
    with pytest.raises(InvalidInput) as error:
        load(OrderCreate, order_body(**fields))
    assert where in error.value.errors


def test_integer_money_is_accepted_and_dumped_with_two_places() -> None:
    loaded = load(ProductCreate, {"sku": "A-1", "name": "a", "unit": "台", "list_price": 12})
    assert loaded["list_price"] == Decimal("12.00")
    assert ProductCreate().dump(loaded)["list_price"] == "12.00"


def test_report_dimensions_are_a_comma_list_of_known_ones_each_once() -> None:
    loaded = load(SalesReportArgs, {"group_by": "province, month", "status": "approved"})
    assert loaded["group_by"] == ["province", "month"]
    assert loaded["status"] == ["approved"]
    for bad in ("province,province", "province,region", "month;quarter"):
        with pytest.raises(InvalidInput):
            load(SalesReportArgs, {"group_by": bad})
    assert load(SalesReportQuery, {})["format"] == "json"
    with pytest.raises(InvalidInput):
        load(SalesReportQuery, {"format": "pdf"})


def test_a_date_range_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidInput):
        load(OrderListArgs, {"from": "2026-03-02", "to": "2026-03-01"})
    assert load(OrderListArgs, {"from": "2026-03-01", "to": "2026-03-01"})["date_to"]


def test_flow_steps_have_unique_names_and_permission_codes() -> None:
    with pytest.raises(InvalidInput):
        load(OrderFlowIn, {"steps": [{"name": "a", "permission": "order.approve.sales"}] * 2})
    with pytest.raises(InvalidInput):
        load(OrderFlowIn, {"steps": [{"name": "a", "permission": "Approve Sales"}]})
    with pytest.raises(InvalidInput):
        load(OrderFlowIn, {"kind": "filing", "steps": [{"name": "a", "permission": "x.y"}]})


# -- events -----------------------------------------------------------------------------

APPROVED_AT = datetime(2026, 11, 28, 4, 5, 6, tzinfo=UTC)


def an_order() -> Order:
    return Order(
        id=42,
        partner_id=7,
        customer_id=9,
        customer_name="西湖科技",
        contract_no="HT-42",
        region_code="330106",
        province="330000",
        city="330100",
        customer_source="partner",
        total_amount=Decimal("1234.5"),
        approved_at=APPROVED_AT,
        cancelled_at=datetime(2026, 12, 1, tzinfo=UTC),
        cancel_reason="客户放弃",
        lines=[
            OrderLine(
                product_id=3,
                sku="CRM-STD",
                quantity=2,
                unit_price=Decimal("617.25"),
                amount=Decimal("1234.50"),
            )
        ],
    )


def test_event_payloads_carry_decimals_as_strings_and_times_in_utc() -> None:
    order = an_order()
    assert ordering.approved_event(order) == {
        "order_id": 42,
        "partner_id": 7,
        "customer_id": 9,
        "customer_name": "西湖科技",
        "contract_no": "HT-42",
        "region_code": "330106",
        "province": "330000",
        "city": "330100",
        "customer_source": "partner",
        "total_amount": "1234.50",
        "lines": [
            {
                "product_id": 3,
                "sku": "CRM-STD",
                "quantity": 2,
                "unit_price": "617.25",
                "amount": "1234.50",
            }
        ],
        "approved_at": "2026-11-28T04:05:06Z",
    }
    approved = ordering.cancelled_event(order, was_approved=True)
    not_approved = ordering.cancelled_event(order, was_approved=False)
    assert approved["approved_at"] == "2026-11-28T04:05:06Z"
    assert not_approved["approved_at"] is None
    assert not_approved["cancelled_at"] == "2026-12-01T00:00:00Z"
    step = {"name": "sales", "permission": "order.approve.sales", "mode": "any", "approvers": []}
    waiting = ordering.step_waiting_event(order, step | {"status": "pending", "actions": []})
    assert waiting["step"] == step
    comment = OrderComment(id=5, author_user_id=11, body="请审批")
    assert comments.commented_event(order, comment, [3, 4])["participant_user_ids"] == [3, 4]


def test_every_event_payload_has_exactly_its_documented_keys() -> None:
    order = an_order()
    documented = {
        "submitted": {
            "order_id",
            "partner_id",
            "customer_id",
            "customer_name",
            "contract_no",
            "total_amount",
        },
        "rejected": {"order_id", "partner_id", "contract_no", "customer_name", "comment"},
        "cancelled": {
            "order_id",
            "partner_id",
            "customer_id",
            "contract_no",
            "was_approved",
            "approved_at",
            "total_amount",
            "customer_source",
            "reason",
            "cancelled_at",
        },
        "completed": {"order_id", "partner_id", "contract_no"},
    }
    assert set(ordering.submitted_event(order)) == documented["submitted"]
    assert set(ordering.rejected_event(order, "no")) == documented["rejected"]
    assert set(ordering.cancelled_event(order, True)) == documented["cancelled"]
    assert set(ordering.completed_event(order)) == documented["completed"]


def test_every_event_kind_has_a_schema_and_what_is_built_loads_back_through_it() -> None:
    order = an_order()
    step = {"name": "sales", "permission": "order.approve.sales", "mode": "any", "approvers": []}
    built = {
        events.ORDER_SUBMITTED: ordering.submitted_event(order),
        events.ORDER_STEP_WAITING: ordering.step_waiting_event(order, step),
        events.ORDER_APPROVED: ordering.approved_event(order),
        events.ORDER_REJECTED: ordering.rejected_event(order, "no"),
        events.ORDER_CANCELLED: ordering.cancelled_event(order, True),
        events.ORDER_COMPLETED: ordering.completed_event(order),
        events.ORDER_COMMENTED: comments.commented_event(
            order, OrderComment(id=5, author_user_id=11, body="请审批"), [3]
        ),
    }
    order.paid_amount = Decimal("1000.00")
    for kind, schema, payment_kind in (
        (events.PAYMENT_RECORDED, events.PaymentRecorded, "receipt"),
        (events.PAYMENT_REFUNDED, events.PaymentRefunded, "refund"),
    ):
        payment = Payment(
            id=9,
            kind=payment_kind,
            amount=Decimal("1000.00"),
            received_on=datetime(2026, 11, 30, tzinfo=UTC).date(),
            created_at=datetime(2026, 12, 1, tzinfo=UTC),
        )
        built[kind] = payments.payment_event(schema, payment, order, 2)
    assert built[events.PAYMENT_RECORDED] | {"kind": "refund"} == built[events.PAYMENT_REFUNDED]
    installment = {
        "position": 1,
        "due_date": datetime(2026, 12, 28, tzinfo=UTC).date(),
        "amount": Decimal("1234.50"),
        "unpaid": Decimal("234.50"),
    }
    for kind, today in (
        (events.PAYMENT_DUE_SOON, datetime(2026, 12, 26, tzinfo=UTC).date()),
        (events.PAYMENT_OVERDUE, datetime(2027, 1, 4, tzinfo=UTC).date()),
    ):
        built[kind] = reminders.due_event(order, installment, today)
    assert built[events.PAYMENT_OVERDUE]["days_overdue"] == 7
    assert built[events.PAYMENT_DUE_SOON]["unpaid_amount"] == "234.50"
    assert set(built[events.PAYMENT_RECORDED]) == set(events.PaymentRecorded().fields)
    assert set(built) == set(events.EVENTS)
    for kind, data in built.items():
        loaded = load_event(events.EVENTS[kind], {"type": kind, "data": data})
        assert set(loaded) == set(data)
    with pytest.raises(InvalidInput):
        load_event(events.OrderApproved, {"type": "order_approved", "data": {"order_id": 42}})


# -- report files -----------------------------------------------------------------------

REPORT = {
    "group_by": ["province", "source", "status"],
    "from": "2026-01-01",
    "to": "2026-03-31",
    "rows": [
        {
            "province": "330000",
            "province_name": "浙江省",
            "source": "hq",
            "status": "approved",
            "order_count": 1234,
            "quantity": 5000,
            "amount": "1234567.89",
        },
        {
            "province": "330000",
            "province_name": "浙江省",
            "source": "partner",
            "status": "submitted",
            "order_count": 1,
            "quantity": 2,
            "amount": "0.10",
        },
    ],
    "totals": {"order_count": 1235, "quantity": 5002, "amount": "1234567.99"},
}


def test_csv_has_a_bom_chinese_headers_labels_and_a_totals_row() -> None:
    content, content_type, _ = exports.render(REPORT, "csv")
    assert content_type == "text/csv; charset=utf-8"
    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows == [
        ["省份代码", "省份", "客户来源", "订单状态", "订单数", "数量", "金额（元）"],
        ["330000", "浙江省", "总部分配", "已审批", "1234", "5000", "1234567.89"],
        ["330000", "浙江省", "伙伴报备", "审批中", "1", "2", "0.10"],
        ["合计", "", "", "", "1235", "5002", "1234567.99"],
    ]


def test_xlsx_has_numbers_as_numbers_with_formats_and_codes_as_text() -> None:
    content, content_type, filename = exports.render(REPORT, "xlsx")
    assert content_type == XLSX_TYPE
    assert filename == "sales-report-2026-01-01-2026-03-31.xlsx"
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet.title == "销售报表"
    assert [cell.value for cell in sheet[1]] == [
        "省份代码",
        "省份",
        "客户来源",
        "订单状态",
        "订单数",
        "数量",
        "金额（元）",
    ]
    assert sheet["A2"].value == "330000" and sheet["B2"].value == "浙江省"
    assert sheet["E2"].value == 1234 and sheet["E2"].number_format == "#,##0"
    assert sheet["F2"].number_format == "#,##0"
    assert sheet["G2"].value == pytest.approx(1234567.89)
    assert sheet["G2"].number_format == "#,##0.00"
    assert [cell.value for cell in sheet[4]][:1] == ["合计"]
    assert sheet["G4"].value == pytest.approx(1234567.99)
    assert sheet["A4"].font.bold


def test_a_report_without_dimensions_exports_its_totals_once() -> None:
    report = {
        "group_by": [],
        "rows": [{"order_count": 2, "quantity": 3, "amount": "4.00"}],
        "totals": {"order_count": 2, "quantity": 3, "amount": "4.00"},
    }
    content, _, _ = exports.render(report, "csv")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows == [["订单数", "数量", "金额（元）"], ["2", "3", "4.00"]]
