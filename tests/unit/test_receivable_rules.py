"""Receivables (回款) rules: receipts pay installments earliest due first, ageing buckets,
when an installment is reminded; the receivables and collections reports and the reminder
timer on an in-memory SQLite database; the report files with their 合计 row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

import manage
from services.common.context import Caller
from services.orders import events, receivables, reminders, rules
from services.orders.models import (
    Base,
    Order,
    PartnerCopy,
    Payment,
    PaymentInstallment,
    PaymentReminder,
)

D = Decimal
TODAY = date(2026, 12, 3)


def plan(*amounts_and_days: tuple[str, int]) -> list[dict]:
    return [
        {"position": n, "due_date": TODAY + timedelta(days=days), "amount": D(amount)}
        for n, (amount, days) in enumerate(amounts_and_days, start=1)
    ]


# -- pure rules -------------------------------------------------------------------------


def test_what_was_paid_pays_the_earliest_due_installment_first() -> None:
    # Given out of order: the later one (position 1) is paid last.
    installments = plan(("70000.00", 40), ("30000.00", 2))
    parts = rules.unpaid_parts(installments, D("40000.00"))
    assert [(p["position"], p["unpaid"]) for p in parts] == [
        (2, D("0.00")),
        (1, D("60000.00")),
    ]
    assert [p["unpaid"] for p in rules.unpaid_parts(installments, D("0"))] == [
        D("30000.00"),
        D("70000.00"),
    ]
    # A refund taking more than was received never makes an installment owe more.
    assert sum(p["unpaid"] for p in rules.unpaid_parts(installments, D("-5"))) == D("100000.00")
    assert all(p["unpaid"] == 0 for p in rules.unpaid_parts(installments, D("100000.00")))


@pytest.mark.parametrize(
    ("late", "bucket"),
    [
        (-5, "not_due"),
        (0, "not_due"),
        (1, "1_30"),
        (30, "1_30"),
        (31, "31_60"),
        (60, "31_60"),
        (61, "61_90"),
        (90, "61_90"),
        (91, "over_90"),
        (900, "over_90"),
    ],
)
def test_ageing_buckets_count_days_overdue(late: int, bucket: str) -> None:
    assert rules.ageing_bucket(TODAY - timedelta(days=late), TODAY) == bucket


def test_due_soon_is_reminded_once_from_three_days_before() -> None:
    due = TODAY + timedelta(days=3)
    assert rules.reminder_due(due + timedelta(days=1), TODAY, False, None) is None
    assert rules.reminder_due(due, TODAY, False, None) == rules.DUE_SOON
    assert rules.reminder_due(TODAY, TODAY, False, None) == rules.DUE_SOON
    assert rules.reminder_due(due, TODAY, True, None) is None


def test_overdue_is_reminded_on_the_first_day_then_weekly() -> None:
    due = TODAY - timedelta(days=1)
    assert rules.reminder_due(due, TODAY, True, None) == rules.OVERDUE
    assert rules.reminder_due(due, TODAY, True, TODAY) is None
    assert rules.reminder_due(due, TODAY, True, TODAY - timedelta(days=6)) is None
    assert rules.reminder_due(due, TODAY, True, TODAY - timedelta(days=7)) == rules.OVERDUE


def test_age_order_is_refused_outside_a_test_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRM_ENV", "production")
    with pytest.raises(manage.TestingRefused, match="PRM_ENV=test"):
        manage.age_order(1, 45)


# -- the reports and the timer on SQLite ----------------------------------------------------


@dataclass
class FakeUow:
    session: Session
    emitted: list[tuple[str, dict]] = field(default_factory=list)

    def emit(self, kind: str, data: dict) -> None:
        self.emitted.append((kind, data))


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as db:
        db.add_all(
            [
                PartnerCopy(id=7, code="P7", name="西宁伙伴", status="active", as_of=_at(TODAY)),
                PartnerCopy(id=8, code="P8", name="银川伙伴", status="active", as_of=_at(TODAY)),
            ]
        )
        yield db
    engine.dispose()


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 8, tzinfo=UTC)


def _order(db: Session, order_id: int, partner_id: int, total: str, approved: date, **kw) -> Order:
    order = Order(
        id=order_id,
        partner_id=partner_id,
        customer_id=order_id,
        customer_name=f"客户{order_id}",
        contract_no=f"HT-{order_id}",
        region_code=kw.get("city", "630100"),
        province=kw.get("province", "630000"),
        city=kw.get("city", "630100"),
        customer_source="partner",
        status="approved",
        total_amount=D(total),
        total_quantity=1,
        max_discount=D(0),
        paid_amount=D(kw.get("paid", "0")),
        approved_at=_at(approved),
        created_at=_at(approved),
        updated_at=_at(approved),
    )
    db.add(order)
    db.flush()
    return order


def _pay(db: Session, order: Order, amount: str, on: date, kind: str = "receipt") -> None:
    db.add(
        Payment(
            order_id=order.id,
            partner_id=order.partner_id,
            kind=kind,
            amount=D(amount),
            received_on=on,
            method="bank_transfer",
            created_at=_at(on),
        )
    )
    db.flush()


def _installments(db: Session, order: Order, *amounts_and_due: tuple[str, date]) -> None:
    for position, (amount, due) in enumerate(amounts_and_due, start=1):
        db.add(
            PaymentInstallment(
                order_id=order.id,
                position=position,
                due_date=due,
                amount=D(amount),
                set_at=_at(TODAY),
            )
        )
    db.flush()


HQ = Caller(user_id=1)


def test_receivables_are_aged_per_installment_net_of_payments_by_as_of(session) -> None:
    approved = TODAY - timedelta(days=45)
    order = _order(session, 1, 7, "100000.00", approved, paid="10000.00")
    _installments(
        session,
        order,
        ("30000.00", approved + timedelta(days=2)),
        ("70000.00", TODAY + timedelta(days=-5)),
    )
    _pay(session, order, "10000.00", TODAY - timedelta(days=1))
    # The default plan: the whole total due 30 days after the approval (40 days overdue).
    _order(session, 2, 8, "5000.00", TODAY - timedelta(days=70), city="640100", province="640000")
    report = receivables.receivables_figures(session, HQ, {"group_by": ["partner"], "as_of": TODAY})
    assert report["rows"] == [
        {
            "partner_id": 7,
            "partner_code": "P7",
            "partner_name": "西宁伙伴",
            "not_due": "0.00",
            "1_30": "70000.00",
            "31_60": "20000.00",
            "61_90": "0.00",
            "over_90": "0.00",
            "total": "90000.00",
        },
        {
            "partner_id": 8,
            "partner_code": "P8",
            "partner_name": "银川伙伴",
            "not_due": "0.00",
            "1_30": "0.00",
            "31_60": "5000.00",
            "61_90": "0.00",
            "over_90": "0.00",
            "total": "5000.00",
        },
    ]
    assert report["totals"]["total"] == "95000.00"
    # Before the receipt, the first installment owed it all; the second was not due yet.
    earlier = receivables.receivables_figures(
        session, HQ, {"group_by": [], "as_of": TODAY - timedelta(days=10)}
    )
    assert earlier["totals"]["31_60"] == "30000.00"  # 33 days late
    assert earlier["totals"]["1_30"] == "5000.00"  # order 2's, 30 days late
    assert earlier["totals"]["not_due"] == "70000.00"
    # A partner sees its own rows only.
    own = Caller(user_id=2, partner_ids=frozenset({8}))
    assert receivables.receivables_figures(session, own, {"group_by": ["city"]})["rows"] == [
        {
            "city": "640100",
            **{b: "0.00" for b in ("not_due", "1_30", "61_90", "over_90")},
            "31_60": "5000.00",
            "total": "5000.00",
        }
    ]


def test_collections_are_net_of_refunds_by_month_and_in_range(session) -> None:
    order = _order(session, 1, 7, "100000.00", date(2026, 9, 1))
    other = _order(session, 2, 8, "9000.00", date(2026, 9, 1), city="640100", province="640000")
    _pay(session, order, "30000.00", date(2026, 10, 5))
    _pay(session, order, "1000.00", date(2026, 10, 20), kind="refund")
    _pay(session, order, "20000.00", date(2026, 11, 2))
    _pay(session, other, "9000.00", date(2026, 12, 1))
    args = {
        "group_by": ["month", "partner"],
        "date_from": date(2026, 10, 1),
        "date_to": date(2026, 11, 30),
    }
    report = receivables.collections_figures(session, HQ, args)
    assert [(r["month"], r["partner_id"], r["amount"]) for r in report["rows"]] == [
        ("2026-10", 7, "29000.00"),
        ("2026-11", 7, "20000.00"),
    ]
    assert report["totals"] == {
        "received": "50000.00",
        "refunded": "1000.00",
        "amount": "49000.00",
        "payment_count": 3,
    }
    quarters = receivables.collections_figures(session, HQ, {"group_by": ["quarter"]})
    assert [(r["quarter"], r["amount"]) for r in quarters["rows"]] == [("2026-Q4", "58000.00")]
    own = Caller(user_id=2, partner_ids=frozenset({8}))
    assert receivables.collections_figures(session, own, {"group_by": []})["totals"]["amount"] == (
        "9000.00"
    )


def test_the_timer_reminds_due_soon_once_and_overdue_weekly(session) -> None:
    order = _order(session, 1, 7, "100000.00", TODAY)
    _installments(
        session,
        order,
        ("30000.00", TODAY + timedelta(days=2)),
        ("70000.00", TODAY + timedelta(days=40)),
    )
    default = _order(session, 2, 8, "5000.00", TODAY - timedelta(days=31))
    uow = FakeUow(session)
    assert reminders.remind(uow, TODAY) == 2
    assert reminders.remind(uow, TODAY) == 0
    assert reminders.remind(uow, TODAY + timedelta(days=1)) == 0
    kinds = sorted((kind, data["order_id"], data["position"]) for kind, data in uow.emitted)
    assert kinds == [(events.PAYMENT_DUE_SOON, 1, 1), (events.PAYMENT_OVERDUE, default.id, 1)]
    # Paid in part: only the unpaid part is reminded once overdue.
    order.paid_amount = D("10000.00")
    uow.emitted.clear()
    assert reminders.remind(uow, TODAY + timedelta(days=3)) == 1
    assert uow.emitted[0][0] == events.PAYMENT_OVERDUE
    assert uow.emitted[0][1]["unpaid_amount"] == "20000.00"
    assert reminders.remind(uow, TODAY + timedelta(days=9)) == 1  # the default plan's, weekly
    assert reminders.remind(uow, TODAY + timedelta(days=10)) == 1  # order 1's, weekly
    sent = session.scalars(select(PaymentReminder)).all()
    assert len(sent) == 5


def test_report_files_end_with_the_totals_row() -> None:
    report = {
        "group_by": ["partner"],
        "as_of": "2026-12-03",
        "rows": [
            {
                "partner_id": 7,
                "partner_code": "P7",
                "partner_name": "=西宁",
                "not_due": "1.00",
                "1_30": "2.00",
                "31_60": "0.00",
                "61_90": "0.00",
                "over_90": "0.00",
                "total": "3.00",
            }
        ],
        "totals": {
            "not_due": "1.00",
            "1_30": "2.00",
            "31_60": "0.00",
            "61_90": "0.00",
            "over_90": "0.00",
            "total": "3.00",
        },
    }
    content, _, name = receivables.render(report, "receivables", "csv")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["合作伙伴ID", "合作伙伴编码", "合作伙伴"]
    assert rows[1][2] == "'=西宁"
    assert rows[-1][0] == "合计" and rows[-1][-1] == "3.00"
    assert name.startswith("receivables-2026-12-03")
    content, _, _ = receivables.render(report, "receivables", "xlsx")
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    last = [cell.value for cell in sheet[sheet.max_row]]
    assert last[0] == "合计" and last[-1] == D("3.00")
