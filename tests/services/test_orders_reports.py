"""Sales reports against figures computed by hand, on PostgreSQL through the service (and
the same SQL on SQLite, which local runs use); CSV and XLSX files with the same figures.

The known data set lives in a year of its own, so other tests' orders never count:

===  =======  ========================  ==========================  =========  ===========
no   partner  customer (region, src)    lines                       status     created (UTC)
===  =======  ========================  ==========================  =========  ===========
o1   P1       330106 杭州, partner      X 2 x 100.00, Y 1 x 50.00   approved   Y-01-10 02:00
o2   P1       330203 宁波, hq           X 5 x 90.00                 submitted  Y-01-31 16:30
o3   P2       320105 南京, partner      Y 10 x 45.00                completed  Y-03-31 15:59
o4   P2       320105 南京, partner      X 1 x 100.00                rejected   Y-03-31 16:00
o5   P1       330106 杭州, partner      Y 3 x 50.00                 draft      Y-02-15 04:00
o6   P1       330106 杭州, partner      X 1 x 80.00                 cancelled  Y-02-20 04:00
===  =======  ========================  ==========================  =========  ===========

In Shanghai (UTC+8) o2 is on the 1st of February and o4 on the 1st of April (Q2).
"""

from __future__ import annotations

import base64
import csv
import io
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from nameko.testing.services import entrypoint_hook, replace_dependencies
from openpyxl import load_workbook
from sqlalchemy import update
from sqlalchemy.orm import Session

from services.common.context import Caller
from services.common.db import make_engine
from services.common.errors import Forbidden, InvalidInput
from services.common.migrations import upgrade
from services.common.schemas import load
from services.orders import reports, rollup
from services.orders.models import Order, OrderLine, PartnerCopy, Product
from services.orders.schemas import SalesReportArgs
from services.orders.service import OrdersService
from services.partners import regions as partners_regions
from tests.support import infra
from tests.support.orders_service import (
    FINANCE,
    SALES_OPS,
    FakeFiling,
    call,
    draft,
    line,
    new_id,
    new_product,
    partner_user,
)

ROOT = Path(__file__).resolve().parents[2]
YEAR = random.randint(2040, 2090)
RANGE = {"from": f"{YEAR}-01-01", "to": f"{YEAR}-12-31"}
HQ = Caller(user_id=201, permissions=frozenset({"report.read"}))


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(YEAR, month, day, hour, minute, tzinfo=UTC)


_DATASET: dict = {}


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with infra.migrated_database("orders") as url:
        yield url


@pytest.fixture(scope="module")
def engine(database_url: str):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def filing() -> FakeFiling:
    return FakeFiling()


class FakePartners:
    """The partners service's region names, from the same dictionary; counts the calls."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def region_names(self, query: dict) -> dict:
        self.asked.append(query["codes"])
        return partners_regions.region_names(query["codes"])


@pytest.fixture
def partners() -> FakePartners:
    return FakePartners()


@pytest.fixture
def service(database_url, container_factory, rabbit_config, filing, partners) -> Iterator:
    config = rabbit_config | {"OUTBOX_INTERVAL": 60, "DATABASE_URL": database_url}
    container = container_factory(OrdersService, config)
    replace_dependencies(container, filing=filing, partners=partners)
    container.start()
    yield container


@pytest.fixture
def dataset(service, filing, engine) -> dict:
    """The orders of the table above, made through the service (once), then dated."""
    if not _DATASET:
        _DATASET.update(_make_dataset(service, filing, engine))
    return _DATASET


def partner_data(partner_id: int, code: str, name: str) -> dict:
    """A partner as the partners service's events carry it (``PartnerChanged``)."""
    return {
        "id": partner_id,
        "code": code,
        "name": name,
        "type": "city_partner",
        "parent_id": None,
        "status": "active",
        "territory": ["330100"],
        "created_at": "2026-01-01T00:00:00Z",
    }


def _make_dataset(container, fake: FakeFiling, engine) -> dict:
    p1, p2 = new_id(), new_id()
    u1, u2 = partner_user(p1, "report.read"), partner_user(p2, "report.read")
    hangzhou = fake.add(p1, "330106", "partner")
    ningbo = fake.add(p1, "330203", "hq")
    nanjing = fake.add(p2, "320105", "partner")
    x, y = new_product(container, "100.00"), new_product(container, "50.00")

    def order(user, customer, lines, to: str, created: datetime) -> int:
        made = draft(container, user, customer, lines)
        if to != "draft":
            call(container, "submit_order", made["id"], caller=user)
        if to in ("approved", "completed"):
            call(container, "approve_order", made["id"], {}, caller=SALES_OPS)
            call(container, "approve_order", made["id"], {}, caller=FINANCE)
        if to == "completed":
            call(container, "complete_order", made["id"], caller=SALES_OPS)
        if to == "rejected":
            call(container, "reject_order", made["id"], {"comment": "no"}, caller=SALES_OPS)
        if to == "cancelled":
            call(container, "cancel_order", made["id"], {}, caller=user)
        with Session(engine) as session:
            session.execute(update(Order).where(Order.id == made["id"]).values(created_at=created))
            rollup.rebuild(session.connection())  # dated behind the use cases' back
            session.commit()
        return made["id"]

    two_lines = [line(x, 2, "100.00"), line(y, 1, "50.00")]
    ids = {
        "o1": order(u1, hangzhou, two_lines, "approved", at(1, 10, 2)),
        "o2": order(u1, ningbo, [line(x, 5, "90.00")], "submitted", at(1, 31, 16, 30)),
        "o3": order(u2, nanjing, [line(y, 10, "45.00")], "completed", at(3, 31, 15, 59)),
        "o4": order(u2, nanjing, [line(x, 1, "100.00")], "rejected", at(3, 31, 16, 0)),
        "o5": order(u1, hangzhou, [line(y, 3, "50.00")], "draft", at(2, 15, 4)),
        "o6": order(u1, hangzhou, [line(x, 1, "80.00")], "cancelled", at(2, 20, 4)),
    }
    for partner_id, code, name in ((p1, "HZ-T", "杭州伙伴"), (p2, "NJ-T", "南京伙伴")):
        event = {
            "id": f"evt-{partner_id}",
            "type": "partner_created",
            "occurred_at": "2026-01-01T00:00:00Z",
            "data": partner_data(partner_id, code, name),
        }
        with entrypoint(container, "on_partner_created") as hook:
            hook(event)
    return {"p1": p1, "p2": p2, "u1": u1, "u2": u2, "x": x, "y": y, "ids": ids}


def entrypoint(container, method: str):
    return entrypoint_hook(container, method)


def report(dataset_service, query: dict, caller: Caller = HQ) -> dict:
    return call(dataset_service, "sales_report", RANGE | query, caller=caller)


def figures(rows: list[dict], *keys: str) -> list[tuple]:
    """Each row's ``keys``, then its count, quantity and amount."""
    return [
        (*(row[k] for k in keys), row["order_count"], row["quantity"], row["amount"])
        for row in rows
    ]


@pytest.fixture
def svc(dataset, service):
    return service


def test_totals_count_every_order_that_went_into_approval(svc, dataset) -> None:
    result = report(svc, {})
    assert result["totals"] == {"order_count": 4, "quantity": 19, "amount": "1250.00"}
    assert figures(result["rows"]) == [(4, 19, "1250.00")]


def test_by_province(svc, dataset) -> None:
    result = report(svc, {"group_by": "province"})
    assert figures(result["rows"], "province") == [
        ("320000", 2, 11, "550.00"),
        ("330000", 2, 8, "700.00"),
    ]
    assert result["totals"] == {"order_count": 4, "quantity": 19, "amount": "1250.00"}


def test_by_province_and_month_in_the_shanghai_calendar(svc, dataset) -> None:
    result = report(svc, {"group_by": "province,month"})
    assert figures(result["rows"], "province", "month") == [
        ("320000", f"{YEAR}-03", 1, 10, "450.00"),
        ("320000", f"{YEAR}-04", 1, 1, "100.00"),
        ("330000", f"{YEAR}-01", 1, 3, "250.00"),
        ("330000", f"{YEAR}-02", 1, 5, "450.00"),
    ]


def test_by_quarter(svc, dataset) -> None:
    result = report(svc, {"group_by": "quarter"})
    assert figures(result["rows"], "quarter") == [
        (f"{YEAR}-Q1", 3, 18, "1150.00"),
        (f"{YEAR}-Q2", 1, 1, "100.00"),
    ]


def test_by_product_counts_lines_and_the_totals_count_orders_once(svc, dataset) -> None:
    result = report(svc, {"group_by": "product"})
    x, y = dataset["x"], dataset["y"]
    assert figures(result["rows"], "product_id", "sku") == sorted(
        [(x["id"], x["sku"], 3, 8, "750.00"), (y["id"], y["sku"], 2, 11, "500.00")]
    )
    assert result["totals"] == {"order_count": 4, "quantity": 19, "amount": "1250.00"}


def test_by_partner_and_source_with_partner_names(svc, dataset) -> None:
    result = report(svc, {"group_by": "partner,source"})
    p1, p2 = dataset["p1"], dataset["p2"]
    assert figures(result["rows"], "partner_id", "partner_name", "source") == [
        (p1, "杭州伙伴", "hq", 1, 5, "450.00"),
        (p1, "杭州伙伴", "partner", 1, 3, "250.00"),
        (p2, "南京伙伴", "partner", 2, 11, "550.00"),
    ]


def test_regions_are_named_next_to_their_codes_with_one_lookup_per_report(
    svc, dataset, partners
) -> None:
    result = report(svc, {"group_by": "province,city"})
    assert [
        (row["province"], row["province_name"], row["city"], row["city_name"])
        for row in result["rows"]
    ] == [
        ("320000", "江苏省", "320100", "南京市"),
        ("330000", "浙江省", "330100", "杭州市"),
        ("330000", "浙江省", "330200", "宁波市"),
    ]
    assert partners.asked == [["320000", "320100", "330000", "330100", "330200"]]

    by_month = report(svc, {"group_by": "month"})
    assert all("province_name" not in row for row in by_month["rows"])
    assert len(partners.asked) == 1  # no regions in the report: nobody asked


def test_by_city_and_status(svc, dataset) -> None:
    result = report(svc, {"group_by": "city,status"})
    assert figures(result["rows"], "city", "status") == [
        ("320100", "completed", 1, 10, "450.00"),
        ("320100", "rejected", 1, 1, "100.00"),
        ("330100", "approved", 1, 3, "250.00"),
        ("330200", "submitted", 1, 5, "450.00"),
    ]


def test_status_filter_gives_booked_sales_or_what_is_left_out_by_default(svc, dataset) -> None:
    booked = report(svc, {"group_by": "month", "status": "approved,completed"})
    assert figures(booked["rows"], "month") == [
        (f"{YEAR}-01", 1, 3, "250.00"),
        (f"{YEAR}-03", 1, 10, "450.00"),
    ]
    assert booked["totals"] == {"order_count": 2, "quantity": 13, "amount": "700.00"}
    left_out = report(svc, {"group_by": "status", "status": "draft,cancelled"})
    assert figures(left_out["rows"], "status") == [
        ("cancelled", 1, 1, "80.00"),
        ("draft", 1, 3, "150.00"),
    ]


def test_date_range_takes_whole_shanghai_days(svc, dataset) -> None:
    result = call(svc, "sales_report", {"from": f"{YEAR}-02-01", "to": f"{YEAR}-03-31"}, caller=HQ)
    assert result["totals"] == {"order_count": 2, "quantity": 15, "amount": "900.00"}


def test_a_partner_report_contains_only_its_own_orders(svc, dataset) -> None:
    mine = report(svc, {"group_by": "province,partner"}, caller=dataset["u1"])
    assert figures(mine["rows"], "province", "partner_id") == [
        ("330000", dataset["p1"], 2, 8, "700.00")
    ]
    assert mine["totals"] == {"order_count": 2, "quantity": 8, "amount": "700.00"}
    theirs = report(svc, {"partner_id": dataset["p2"]}, caller=dataset["u1"])
    assert theirs["totals"] == {"order_count": 0, "quantity": 0, "amount": "0.00"}


def test_reading_reports_needs_report_read(svc, dataset) -> None:
    with pytest.raises(Forbidden):
        report(svc, {}, caller=partner_user(dataset["p1"]))


def test_unknown_dimensions_are_invalid_input(svc, dataset) -> None:
    with pytest.raises(InvalidInput) as error:
        report(svc, {"group_by": "province,colour"})
    assert "group_by" in error.value.errors


def test_csv_export_has_chinese_headers_and_the_same_figures(svc, dataset) -> None:
    query = RANGE | {"group_by": "province,month", "format": "csv"}
    exported = call(svc, "export_sales_report", query, caller=HQ)
    assert exported["content_type"].startswith("text/csv")
    assert exported["filename"].endswith(".csv")
    text = base64.b64decode(exported["content_base64"]).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["省份代码", "省份", "月份", "订单数", "数量", "金额（元）"],
        ["320000", "江苏省", f"{YEAR}-03", "1", "10", "450.00"],
        ["320000", "江苏省", f"{YEAR}-04", "1", "1", "100.00"],
        ["330000", "浙江省", f"{YEAR}-01", "1", "3", "250.00"],
        ["330000", "浙江省", f"{YEAR}-02", "1", "5", "450.00"],
        ["合计", "", "", "4", "19", "1250.00"],
    ]


def test_xlsx_export_opens_with_numbers_formatted_and_the_same_figures(svc, dataset) -> None:
    query = {"group_by": "partner,status", "format": "xlsx", "status": "approved,submitted"}
    exported = call(svc, "export_sales_report", RANGE | query, caller=HQ)
    workbook = load_workbook(io.BytesIO(base64.b64decode(exported["content_base64"])))
    sheet = workbook.active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    p1 = dataset["p1"]
    assert values == [
        ["合作伙伴ID", "合作伙伴编码", "合作伙伴", "订单状态", "订单数", "数量", "金额（元）"],
        [p1, "HZ-T", "杭州伙伴", "已审批", 1, 3, 250],
        [p1, "HZ-T", "杭州伙伴", "审批中", 1, 5, 450],
        ["合计", None, None, None, 2, 8, 700],
    ]
    assert sheet["G2"].number_format == "#,##0.00"
    assert sheet["E2"].number_format == "#,##0"
    assert isinstance(sheet["G2"].value, int | float | Decimal)


def test_summary_by_region_and_partner(svc, dataset) -> None:
    result = call(svc, "order_summary", RANGE, caller=HQ)
    p1, p2 = dataset["p1"], dataset["p2"]
    keys = (
        "province",
        "province_name",
        "city",
        "city_name",
        "partner_id",
        "order_count",
        "in_approval",
        "approved_count",
        "amount",
        "approved_amount",
    )
    assert [tuple(row[key] for key in keys) for row in result["rows"]] == [
        ("320000", "江苏省", "320100", "南京市", p2, 2, 0, 1, "550.00", "450.00"),
        ("330000", "浙江省", "330100", "杭州市", p1, 1, 0, 1, "250.00", "250.00"),
        ("330000", "浙江省", "330200", "宁波市", p1, 1, 1, 0, "450.00", "0.00"),
    ]
    assert result["totals"] == {
        "order_count": 4,
        "in_approval": 1,
        "approved_count": 2,
        "amount": "1250.00",
        "approved_amount": "700.00",
    }
    mine = call(svc, "order_summary", RANGE, caller=dataset["u2"])
    assert [r["partner_id"] for r in mine["rows"]] == [p2]


def test_an_older_partner_event_arriving_late_changes_nothing(svc, dataset, engine) -> None:
    newer = {
        "id": f"evt-new-{dataset['p1']}",
        "type": "partner_updated",
        "occurred_at": "2026-06-01T00:00:00Z",
        "data": partner_data(dataset["p1"], "HZ-T", "杭州新名"),
    }
    older = newer | {
        "id": f"evt-old-{dataset['p1']}",
        "occurred_at": "2026-03-01T00:00:00Z",
        "data": newer["data"] | {"name": "杭州旧名"},
    }
    try:
        with entrypoint(svc, "on_partner_updated") as hook:
            hook(newer)
        with entrypoint(svc, "on_partner_suspended") as hook:
            hook(older)
        with Session(engine) as session:
            assert session.get(PartnerCopy, dataset["p1"]).name == "杭州新名"
    finally:
        restore = newer | {
            "id": f"evt-back-{dataset['p1']}",
            "occurred_at": "2026-07-01T00:00:00Z",
            "data": newer["data"] | {"name": "杭州伙伴"},
        }
        with entrypoint(svc, "on_partner_updated") as hook:
            hook(restore)


# -- the same SQL on SQLite (local runs) ------------------------------------------------


def test_sales_report_on_sqlite_gives_the_same_figures(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    upgrade("orders", ROOT / "services" / "orders" / "migrations", url)
    sqlite = make_engine(url)
    with Session(sqlite) as session:
        x = Product(sku="X", name="X", unit="台", list_price=Decimal("100.00"))
        y = Product(sku="Y", name="Y", unit="台", list_price=Decimal("50.00"))
        session.add_all([x, y])
        session.flush()

        def add(province, city, status, created, lines):
            order_lines = [
                OrderLine(
                    position=i,
                    product_id=product.id,
                    sku=product.sku,
                    product_name=product.name,
                    unit="台",
                    quantity=quantity,
                    list_price=product.list_price,
                    unit_price=Decimal(price),
                    amount=Decimal(price) * quantity,
                )
                for i, (product, quantity, price) in enumerate(lines)
            ]
            session.add(
                Order(
                    partner_id=1,
                    customer_id=1,
                    customer_name="c",
                    contract_no=f"C{created}",
                    region_code=city,
                    province=province,
                    city=city,
                    customer_source="partner",
                    status=status,
                    created_at=created,
                    max_discount=Decimal(0),
                    total_amount=sum(ln.amount for ln in order_lines),
                    total_quantity=sum(ln.quantity for ln in order_lines),
                    lines=order_lines,
                )
            )

        add("330000", "330100", "approved", at(1, 10, 2), [(x, 2, "100.00"), (y, 1, "50.00")])
        add("330000", "330200", "submitted", at(1, 31, 16, 30), [(x, 5, "90.00")])
        add("320000", "320100", "completed", at(3, 31, 15, 59), [(y, 10, "45.00")])
        add("320000", "320100", "rejected", at(3, 31, 16, 0), [(x, 1, "100.00")])
        add("330000", "330100", "draft", at(2, 15, 4), [(y, 3, "50.00")])
        session.flush()
        rollup.rebuild(session.connection())

        def run(query: dict) -> dict:
            return reports.sales_figures(session, HQ, load(SalesReportArgs, RANGE | query))

        by_month = run({"group_by": "province,month"})
        assert figures(by_month["rows"], "province", "month") == [
            ("320000", f"{YEAR}-03", 1, 10, "450.00"),
            ("320000", f"{YEAR}-04", 1, 1, "100.00"),
            ("330000", f"{YEAR}-01", 1, 3, "250.00"),
            ("330000", f"{YEAR}-02", 1, 5, "450.00"),
        ]
        assert by_month["totals"] == {"order_count": 4, "quantity": 19, "amount": "1250.00"}
        assert figures(run({"group_by": "quarter"})["rows"], "quarter") == [
            (f"{YEAR}-Q1", 3, 18, "1150.00"),
            (f"{YEAR}-Q2", 1, 1, "100.00"),
        ]
        assert figures(run({"group_by": "product"})["rows"], "sku") == [
            ("X", 3, 8, "750.00"),
            ("Y", 2, 11, "500.00"),
        ]
    sqlite.dispose()
