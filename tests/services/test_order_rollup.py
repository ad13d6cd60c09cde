"""The reports' rollup of the orders (``services.orders.rollup``), on PostgreSQL and SQLite.

After a seeded random history made through the use cases (creations across partners,
regions, products and days, revisions, submissions with customers moved meanwhile, one or
all approval steps, rejections, completions, cancellations before and after approval), the
rollup kept by the use cases equals the plain GROUP BY of the orders at every level, and the
sales report and the summary read from it give, for every combination tried of dimensions,
ranges, statuses and callers, the figures computed one order at a time from the orders.

On PostgreSQL, writers of one key at once lose nothing: a second writer waits for the
first and adds to what it committed, also when the first created the key or deleted it.
Date ranges are read as whole months and the days left over (``rollup.split_range``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.context import Caller
from services.common.db import make_engine
from services.common.migrations import upgrade
from services.common.schemas import load
from services.common.unit_of_work import UnitOfWork
from services.orders import ordering, reports, rollup
from services.orders.models import Order, OrderLine, OrderRollup, PartnerCopy, Product
from services.orders.schemas import OrderCreate, OrderUpdate, SalesReportArgs, SummaryArgs
from tests.support import infra
from tests.support.concurrent_writers import second_writer_waits
from tests.support.orders_service import DIRECTOR, FINANCE, SALES_OPS, FakeFiling, partner_user

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")
STEPS = 160
APPROVERS = {
    "order.approve.sales": SALES_OPS,
    "order.approve.finance": FINANCE,
    "order.approve.director": DIRECTOR,
}
REGIONS = ("330106", "330203", "320105", "330000", "110101")
PRODUCTS = (("R-A", "100.00"), ("R-B", "250.00"), ("R-C", "39.90"), ("R-D", "1200.00"))
PARTNERS = (11, 12, 13)
HQ = Caller(user_id=1, permissions=frozenset({"report.read"}))
ALL_STATUSES = {"draft", "submitted", "approved", "rejected", "completed", "cancelled"}


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def engine(request, tmp_path_factory) -> Iterator[Any]:
    if request.param == "postgresql":
        with infra.migrated_database("orders") as url:
            engine = make_engine(url)
            yield engine
            engine.dispose()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('rollup') / 'orders.db'}"
        upgrade("orders", ROOT / "services" / "orders" / "migrations", url)
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture(scope="module")
def history(engine) -> dict:
    """The random history, made once per database."""
    return History(engine, random.Random(20261202)).run(STEPS)


class History:
    """Orders changed at random through the use cases, the way users would."""

    def __init__(self, engine: Any, rng: random.Random) -> None:
        self.engine = engine
        self.rng = rng
        self.filing = FakeFiling()
        self.users = {p: partner_user(p, "report.read") for p in PARTNERS}
        self.customers = {
            p: [
                self.filing.add(p, rng.choice(REGIONS), rng.choice(("partner", "hq")))
                for _ in range(3)
            ]
            for p in PARTNERS
        }
        self.orders: dict[int, tuple[int, str]] = {}  # id -> (partner, status)
        self.products: list[int] = []
        self.seen: set[str] = set()
        self.numbers = iter(range(1, 10**6))

    def run(self, steps: int) -> dict:
        with Session(self.engine) as session:
            for sku, price in PRODUCTS:
                product = Product(sku=sku, name=f"产品 {sku}", unit="台", list_price=Decimal(price))
                session.add(product)
                session.flush()
                self.products.append(product.id)
            for partner_id in PARTNERS:
                session.add(
                    PartnerCopy(
                        id=partner_id,
                        code=f"P{partner_id}",
                        name=f"伙伴{partner_id}",
                        status="active",
                        as_of=datetime(2026, 1, 1, tzinfo=UTC),
                    )
                )
            session.commit()
        actions = [self.create] * 4 + [
            self.update,
            self.submit,
            self.submit,
            self.approve,
            self.approve,
            self.reject,
            self.complete,
            self.cancel,
            self.move_customer,
        ]
        for _ in range(steps):
            self.rng.choice(actions)()
        return {"orders": dict(self.orders), "statuses": set(self.seen)}

    # -- the use cases --------------------------------------------------------------

    def call(self, use_case: Any, *args: Any) -> dict:
        uow = UnitOfWork(lambda: Session(self.engine), "orders")
        try:
            answer = use_case(uow, *args)
        finally:
            uow.close()
        self.orders[answer["id"]] = (answer["partner_id"], answer["status"])
        self.seen.add(answer["status"])
        return answer

    def lines(self) -> list[dict]:
        chosen = self.rng.sample(self.products, self.rng.randint(1, 3))
        prices = dict(zip(self.products, (price for _, price in PRODUCTS), strict=True))
        return [
            {
                "product_id": product,
                "quantity": self.rng.randint(1, 9),
                "unit_price": str(Decimal(prices[product]) - self.rng.choice((0, 1, 5))),
            }
            for product in chosen
        ]

    def pick(self, *statuses: str) -> tuple[int, int] | None:
        found = [(i, p) for i, (p, s) in sorted(self.orders.items()) if s in statuses]
        return self.rng.choice(found) if found else None

    def create(self) -> None:
        partner_id = self.rng.choice(PARTNERS)
        body = {
            "customer_id": self.rng.choice(self.customers[partner_id]),
            "contract_no": f"HT-{next(self.numbers)}",
            "lines": self.lines(),
        }
        made = self.call(
            ordering.create_order,
            self.users[partner_id],
            load(OrderCreate, body),
            self.filing.owned_customer,
        )
        self.redate(made["id"])

    def redate(self, order_id: int) -> None:
        """The order created on another day (three months around two month ends, at any
        hour, so also just before and after midnight in Shanghai), recorded as a use case
        records its changes."""
        moment = datetime(2031, 1, 1, tzinfo=UTC) + timedelta(
            days=self.rng.randint(0, 89), hours=self.rng.choice((0, 8, 15, 16, 23))
        )
        with Session(self.engine) as session:
            order = session.get(Order, order_id, with_for_update=True)
            counted = rollup.counted(order)
            order.created_at = moment
            session.flush()
            rollup.record(session, counted, order)
            session.commit()

    def update(self) -> None:
        if picked := self.pick("draft", "rejected"):
            body = load(OrderUpdate, {"lines": self.lines()})
            self.call(ordering.update_order, self.users[picked[1]], picked[0], body)

    def submit(self) -> None:
        if picked := self.pick("draft", "rejected"):
            user = self.users[picked[1]]
            self.call(ordering.submit_order, user, picked[0], self.filing.owned_customer)

    def approve(self) -> None:
        if picked := self.pick("submitted"):
            for _ in range(self.rng.choice((1, 3))):
                order = self.call(ordering.approve_order, self.approver(picked[0]), picked[0], None)
                if order["status"] != "submitted":
                    break

    def reject(self) -> None:
        if picked := self.pick("submitted"):
            self.call(ordering.reject_order, self.approver(picked[0]), picked[0], "no")

    def complete(self) -> None:
        if picked := self.pick("approved"):
            self.call(ordering.complete_order, SALES_OPS, picked[0])

    def cancel(self) -> None:
        if picked := self.pick("draft", "submitted", "rejected", "approved"):
            order_id, partner_id = picked
            if self.orders[order_id][1] == "approved":
                self.call(ordering.cancel_order, FINANCE, order_id, "refused by the customer")
            else:
                self.call(ordering.cancel_order, self.users[partner_id], order_id, None)

    def move_customer(self) -> None:
        """A customer's region or source changes: orders submitted from now on carry it."""
        partner_id = self.rng.choice(PARTNERS)
        customer = self.filing.customers[self.rng.choice(self.customers[partner_id])]
        customer["region_code"] = self.rng.choice(REGIONS)
        customer["source"] = self.rng.choice(("partner", "hq"))

    def approver(self, order_id: int) -> Caller:
        with Session(self.engine) as session:
            order = session.get(Order, order_id)
            step = next(s for s in order.approval["steps"] if s["status"] == "pending")
        return APPROVERS[step["permission"]]


# -- the rollup is the GROUP BY of the orders -------------------------------------------


def rollup_rows(session: Session) -> dict[tuple, tuple]:
    rows = session.execute(select(OrderRollup.__table__)).all()
    return {
        tuple(row[: len(rollup.KEY)]): (
            row.order_count,
            row.line_count,
            row.quantity,
            Decimal(row.amount).quantize(Decimal("0.01")),
        )
        for row in rows
    }


def test_the_history_covers_every_status_and_both_sides_of_month_ends(history, engine) -> None:
    assert history["statuses"] == ALL_STATUSES
    with Session(engine) as session:
        days = {rollup.business_day(o.created_at) for o in session.scalars(select(Order))}
    assert {1, 2, 3} <= {day.month for day in days}
    assert len(history["orders"]) > 40


def test_the_rollup_kept_by_the_use_cases_equals_the_group_by_of_the_orders(
    history, engine
) -> None:
    with Session(engine) as session:
        kept = rollup_rows(session)
        rollup.rebuild(session.connection())
        computed = rollup_rows(session)
        session.rollback()
    assert kept == computed
    assert {key[0] for key in kept} == {level.number for level in rollup.LEVELS}
    assert all(figures[0] or figures[1] for figures in kept.values())  # no key left at zero


# -- the reports read from it give the figures of the orders ----------------------------

GROUPINGS = [
    [],
    ["province"],
    ["city"],
    ["partner"],
    ["product"],
    ["month"],
    ["quarter"],
    ["source"],
    ["status"],
    ["province", "city", "partner"],
    ["product", "month"],
    ["partner", "quarter", "status"],
    ["city", "product", "source"],
    ["month", "source", "partner"],
    list(reports.DIMENSIONS),
]
RANGES = [
    {},
    {"from": "2031-02-01", "to": "2031-03-31"},  # whole months
    {"from": "2031-01-15", "to": "2031-03-10"},  # cuts two months
    {"from": "2031-02-03", "to": "2031-02-20"},  # within one month
    {"from": "2031-02-10"},
    {"to": "2031-02-28"},
    {"from": "2031-03-01", "to": "2031-03-01"},
    {"from": "0001-01-01", "to": "9999-12-31"},
]
STATUS_FILTERS = [{}, {"status": "approved,completed"}, {"status": "draft,cancelled,submitted"}]


def callers() -> list[Caller]:
    regional = Caller(
        user_id=2, permissions=frozenset({"report.read"}), partner_ids=frozenset({11, 13})
    )
    return [HQ, partner_user(12, "report.read"), regional]


def orders_of(engine: Any) -> tuple[list[Order], dict[int, Product], dict[int, PartnerCopy]]:
    with Session(engine) as session:
        orders = list(session.scalars(select(Order)))
        products = {p.id: p for p in session.scalars(select(Product))}
        partners = {p.id: p for p in session.scalars(select(PartnerCopy))}
        session.expunge_all()
    return orders, products, partners


def _in_report(order: Order, caller: Caller, args: dict, statuses: tuple) -> bool:
    day = order.created_at.astimezone(SHANGHAI).date()
    return (
        order.status in statuses
        and (caller.partner_ids is None or order.partner_id in caller.partner_ids)
        and args.get("partner_id") in (None, order.partner_id)
        and (args.get("date_from") is None or day >= args["date_from"])
        and (args.get("date_to") is None or day <= args["date_to"])
    )


def expected_sales(orders, products, partners, caller: Caller, args: dict) -> tuple[list, dict]:
    """The sales report one order at a time: rows as sorted tuples, and the totals."""
    statuses = tuple(args.get("status") or reports.DEFAULT_STATUSES)
    group_by = args.get("group_by") or []
    groups: dict[tuple, list] = {}
    totals = [0, 0, Decimal(0)]
    for order in orders:
        if not _in_report(order, caller, args, statuses):
            continue
        totals = [totals[0] + 1, totals[1] + order.total_quantity, totals[2] + order.total_amount]
        day = order.created_at.astimezone(SHANGHAI).date()
        units = order.lines if "product" in group_by else [None]
        for line in units:
            key: tuple = ()
            for dim in group_by:
                key += _shown(dim, order, line, day, products, partners)
            figures = groups.setdefault(key, [0, 0, Decimal(0)])
            figures[0] += 1
            figures[1] += line.quantity if line else order.total_quantity
            figures[2] += line.amount if line else order.total_amount
    if not group_by and not groups:
        groups[()] = [0, 0, Decimal(0)]
    rows = sorted((*key, c, q, f"{a:.2f}") for key, (c, q, a) in groups.items())
    return rows, {"order_count": totals[0], "quantity": totals[1], "amount": f"{totals[2]:.2f}"}


def _shown(dim: str, order: Order, line: OrderLine | None, day: date, products, partners) -> tuple:
    partner = partners.get(order.partner_id)
    return {
        "province": lambda: (order.province,),
        "city": lambda: (order.city or "",),
        "partner": lambda: (order.partner_id, partner and partner.code, partner and partner.name),
        "product": lambda: (
            line.product_id,
            products[line.product_id].sku,
            products[line.product_id].name,
        ),
        "month": lambda: (f"{day:%Y-%m}",),
        "quarter": lambda: (f"{day.year}-Q{(day.month - 1) // 3 + 1}",),
        "source": lambda: (order.customer_source,),
        "status": lambda: (order.status,),
    }[dim]()


def report_rows(report: dict) -> list[tuple]:
    keys = [key for dim in report["group_by"] for key in reports.DIMENSIONS[dim].keys]
    return sorted(
        (
            *(row[k] if row[k] is not None else "" for k in keys),
            row["order_count"],
            row["quantity"],
            row["amount"],
        )
        for row in report["rows"]
    )


def test_the_sales_report_gives_the_figures_of_the_orders_for_any_dimensions_and_filters(
    history, engine
) -> None:
    orders, products, partners = orders_of(engine)
    compared = 0
    with Session(engine) as session:
        for caller in callers():
            for group_by in GROUPINGS:
                for date_range in RANGES:
                    for statuses in STATUS_FILTERS:
                        query = {"group_by": ",".join(group_by)} | date_range | statuses
                        args = load(SalesReportArgs, query)
                        report = reports.sales_figures(session, caller, args)
                        rows, totals = expected_sales(orders, products, partners, caller, args)
                        assert (report_rows(report), report["totals"]) == (rows, totals), query
                        compared += len(rows)
        partner_filter = load(SalesReportArgs, {"group_by": "city,month", "partner_id": "13"})
        report = reports.sales_figures(session, HQ, partner_filter)
        assert (
            report_rows(report) == expected_sales(orders, products, partners, HQ, partner_filter)[0]
        )
    assert compared > 2000  # the history gave the reports something to count


def expected_summary(orders, partners, caller: Caller, args: dict) -> tuple[list, dict]:
    groups: dict[tuple, list] = {}
    for order in orders:
        if not _in_report(order, caller, args, reports.DEFAULT_STATUSES):
            continue
        partner = partners.get(order.partner_id)
        key = (order.province, order.city or "", order.partner_id, partner.code, partner.name)
        booked = order.status in reports.BOOKED
        figures = groups.setdefault(key, [0, 0, 0, Decimal(0), Decimal(0)])
        figures[0] += 1
        figures[1] += order.status == "submitted"
        figures[2] += booked
        figures[3] += order.total_amount
        figures[4] += order.total_amount if booked else 0
    rows = sorted(
        (*key, c, i, a, f"{m:.2f}", f"{b:.2f}") for key, (c, i, a, m, b) in groups.items()
    )
    totals = [sum(row[5 + n] for row in rows) for n in range(3)]
    amounts = [sum((Decimal(row[8 + n]) for row in rows), Decimal(0)) for n in range(2)]
    keys = ("order_count", "in_approval", "approved_count", "amount", "approved_amount")
    return rows, dict(zip(keys, [*totals, *(f"{a:.2f}" for a in amounts)], strict=True))


def test_the_summary_gives_the_figures_of_the_orders(history, engine) -> None:
    orders, _, partners = orders_of(engine)
    keys = (
        "province",
        "city",
        "partner_id",
        "partner_code",
        "partner_name",
        "order_count",
        "in_approval",
        "approved_count",
        "amount",
        "approved_amount",
    )
    with Session(engine) as session:
        for caller in callers():
            for date_range in RANGES:
                args = load(SummaryArgs, date_range)
                report = reports.summary_figures(session, caller, args)
                rows = sorted(
                    tuple(r[k] if r[k] is not None else "" for k in keys) for r in report["rows"]
                )
                assert (rows, report["totals"]) == expected_summary(orders, partners, caller, args)


# -- concurrent writers of one key (PostgreSQL) -----------------------------------------


def _one_line_order(status: str, quantity: int) -> Order:
    """An order as ``rollup.counted`` sees it (never written: only its figures count)."""
    return Order(
        partner_id=99,
        province="330000",
        city="330100",
        customer_source="partner",
        status=status,
        created_at=datetime(2032, 5, 5, 4, tzinfo=UTC),
        lines=[OrderLine(product_id=7, quantity=quantity, amount=Decimal("10.50") * quantity)],
    )


def _key_figures(engine: Any, level: int = 0) -> tuple | None:
    """The figures of the one key of ``level`` that ``_one_line_order("submitted")`` adds to
    (the history's orders are of 2031)."""
    with Session(engine) as session:
        row = session.execute(
            select(OrderRollup.order_count, OrderRollup.quantity, OrderRollup.amount).where(
                OrderRollup.level == level,
                OrderRollup.day >= date(2032, 1, 1),
                OrderRollup.status == "submitted",
            )
        ).one_or_none()
    return tuple(row) if row else None


def test_concurrent_writers_of_one_key_lose_nothing_on_postgresql(engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    first, second = _one_line_order("submitted", 2), _one_line_order("submitted", 3)

    # The key does not exist yet: both insert it; the second adds to the first.
    with Session(engine) as holder:
        rollup.record(holder, {}, first)
        thread, errors = second_writer_waits(engine, lambda s: rollup.record(s, {}, second))
        holder.commit()
    thread.join(30)
    assert errors == []
    assert _key_figures(engine) == (2, 5, Decimal("52.50"))

    # The key exists: one writer takes an order out of it while another adds one.
    with Session(engine) as holder:
        rollup.record(holder, rollup.counted(first), _one_line_order("approved", 2))
        third = _one_line_order("submitted", 4)
        thread, errors = second_writer_waits(engine, lambda s: rollup.record(s, {}, third))
        holder.commit()
    thread.join(30)
    assert errors == []
    assert _key_figures(engine) == (2, 7, Decimal("73.50"))

    # The first writer empties the key and deletes it; the second puts it back.
    with Session(engine) as holder:
        for order in (second, third):
            rollup.record(
                holder, rollup.counted(order), _one_line_order("approved", order.lines[0].quantity)
            )
        assert _key_figures(engine) == (2, 7, Decimal("73.50"))  # others see the committed key
        fourth = _one_line_order("submitted", 1)
        thread, errors = second_writer_waits(engine, lambda s: rollup.record(s, {}, fourth))
        holder.commit()
    thread.join(30)
    assert errors == []
    assert _key_figures(engine) == (1, 1, Decimal("10.50"))
    for level in rollup.LEVELS:
        assert _key_figures(engine, level.number) == (1, 1, Decimal("10.50"))


# -- the range split ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date_from", "date_to", "months", "days"),
    [
        (None, None, (None, None), []),
        (date(2031, 2, 1), date(2031, 3, 31), (date(2031, 2, 1), date(2031, 4, 1)), []),
        (
            date(2031, 1, 15),
            date(2031, 3, 10),
            (date(2031, 2, 1), date(2031, 3, 1)),
            [(date(2031, 1, 15), date(2031, 1, 31)), (date(2031, 3, 1), date(2031, 3, 10))],
        ),
        (date(2031, 2, 3), date(2031, 2, 20), None, [(date(2031, 2, 3), date(2031, 2, 20))]),
        (date(2031, 1, 15), date(2031, 2, 10), None, [(date(2031, 1, 15), date(2031, 2, 10))]),
        (date(1, 1, 1), date(9999, 12, 31), (date(1, 1, 1), None), []),
        (date(9999, 12, 2), None, None, [(date(9999, 12, 2), None)]),
        (
            None,
            date(2031, 2, 27),
            (None, date(2031, 2, 1)),
            [(date(2031, 2, 1), date(2031, 2, 27))],
        ),
    ],
)
def test_a_range_is_read_as_whole_months_and_the_days_left_over(
    date_from, date_to, months, days
) -> None:
    assert rollup.split_range(date_from, date_to) == (months, days)
