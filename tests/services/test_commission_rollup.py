"""The commission report's rollup of the entries (``services.commission.rollup``), on
PostgreSQL and SQLite.

After a seeded random history of orders' events handled by the use cases (approvals across
partners, sources, amounts and months, some delivered twice; cancellations of approved
orders, some arriving before their approval, some after the month was settled on a
statement; cancellations of orders never approved), the rollup equals the GROUP BY of the
entries, and the report read from it gives, for every grouping, range, filter and caller
tried, the figures computed one entry at a time. On PostgreSQL two writers of one key at
once lose nothing.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.commission import entries, reports, rollup, seed, statements
from services.commission.models import CommissionEntry, CommissionRollup, PartnerCopy
from services.commission.schemas import ReportArgs
from services.common.context import Caller
from services.common.db import make_engine
from services.common.errors import Conflict
from services.common.events import load_event
from services.common.migrations import upgrade
from services.common.schemas import load
from services.common.unit_of_work import UnitOfWork
from services.orders import events as orders_events
from tests.support import infra
from tests.support.commission_service import FakePartners, partner_caller
from tests.support.concurrent_writers import second_writer_waits

ROOT = Path(__file__).resolve().parents[2]
HQ = Caller(
    user_id=1, permissions=frozenset({"report.read", "commission.manage", "commission.read"})
)
NOW = datetime(2026, 11, 15, 4, tzinfo=UTC)


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def engine(request, tmp_path_factory) -> Iterator[Any]:
    if request.param == "postgresql":
        with infra.migrated_database("commission") as url:
            yield _seeded(url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('rollup') / 'commission.db'}"
        upgrade("commission", ROOT / "services" / "commission" / "migrations", url)
        yield _seeded(url)


def _seeded(url: str) -> Any:
    engine = make_engine(url)
    with Session(engine) as session:
        seed.bootstrap(session)
        session.commit()
    return engine


@pytest.fixture(scope="module")
def history(engine) -> dict:
    return History(engine, random.Random(20261202)).run(120)


class History:
    """Orders' events handled by the use cases in a random order."""

    def __init__(self, engine: Any, rng: random.Random) -> None:
        self.engine = engine
        self.rng = rng
        self.partners = FakePartners()
        self.partner_ids = [
            self.partners.add(kind) for kind in ("city_partner", "provincial_agent", "city_partner")
        ]
        self.approved: list[dict] = []
        self.next_order = iter(range(1, 10**6))

    def run(self, steps: int) -> dict:
        actions = [self.approve] * 4 + [self.again, self.cancel, self.cancel_first, self.settle]
        for _ in range(steps):
            self.rng.choice(actions)()
        self.cancel_unapproved()
        return {"partners": self.partner_ids}

    def uow(self) -> UnitOfWork:
        return UnitOfWork(lambda: Session(self.engine), "commission")

    def handle(self, use_case: Any, schema: Any, data: dict) -> None:
        uow = self.uow()
        try:
            use_case(uow, load_event(schema, {"data": data}), self.partners.get_partner, NOW)
        finally:
            uow.close()

    def order(self) -> dict:
        order_id = next(self.next_order)
        amount = f"{self.rng.randint(1, 500_000)}.{self.rng.randint(0, 99):02d}"
        approved_at = datetime(2026, 5, 1, tzinfo=UTC) + timedelta(
            days=self.rng.randint(0, 150), hours=self.rng.choice((3, 15, 16, 20))
        )
        return {
            "order_id": order_id,
            "partner_id": self.rng.choice(self.partner_ids),
            "customer_id": order_id,
            "customer_name": "某某公司",
            "contract_no": f"HT-{order_id}",
            "region_code": "330106",
            "province": "330000",
            "city": "330100",
            "customer_source": self.rng.choice(("partner", "hq")),
            "total_amount": amount,
            "lines": [
                {"product_id": 1, "sku": "S", "quantity": 1, "unit_price": amount, "amount": amount}
            ],
            "approved_at": approved_at.isoformat().replace("+00:00", "Z"),
        }

    def approve(self) -> None:
        order = self.order()
        self.handle(entries.record_approval, orders_events.OrderApproved, order)
        self.approved.append(order)

    def again(self) -> None:
        """An approval delivered once more: nothing changes."""
        if self.approved:
            order = self.rng.choice(self.approved)
            self.handle(entries.record_approval, orders_events.OrderApproved, order)

    def cancel(self) -> None:
        if self.approved:
            self.handle(
                entries.record_cancellation,
                orders_events.OrderCancelled,
                self.cancellation(self.rng.choice(self.approved), True),
            )

    def cancel_first(self) -> None:
        """The cancellation arrives before the approval (separate queues)."""
        order = self.order()
        self.handle(
            entries.record_cancellation,
            orders_events.OrderCancelled,
            self.cancellation(order, True),
        )
        self.handle(entries.record_approval, orders_events.OrderApproved, order)
        self.approved.append(order)

    def cancel_unapproved(self) -> None:
        self.handle(
            entries.record_cancellation,
            orders_events.OrderCancelled,
            self.cancellation(self.order(), False),
        )

    def settle(self) -> None:
        """HQ settles a partner's month: later reversals of it go to the current month."""
        partner_id = self.rng.choice(self.partner_ids)
        period = f"2026-{self.rng.randint(5, 9):02d}"
        uow = self.uow()
        try:
            statements.issue_statement(uow, HQ, {"partner_id": partner_id, "period": period}, NOW)
        except Conflict:
            pass  # nothing to settle
        finally:
            uow.close()

    @staticmethod
    def cancellation(order: dict, was_approved: bool) -> dict:
        return {
            key: order[key]
            for key in (
                "order_id",
                "partner_id",
                "customer_id",
                "contract_no",
                "total_amount",
                "customer_source",
            )
        } | {
            "was_approved": was_approved,
            "approved_at": order["approved_at"] if was_approved else None,
            "reason": "客户取消",
            "cancelled_at": NOW.isoformat().replace("+00:00", "Z"),
        }


def rollup_rows(session: Session) -> dict[tuple, tuple]:
    return {
        (row.period, row.partner_id, row.source): (
            row.entry_count,
            Decimal(row.contract_amount).quantize(Decimal("0.01")),
            Decimal(row.amount).quantize(Decimal("0.01")),
        )
        for row in session.execute(select(CommissionRollup.__table__))
    }


def test_the_rollup_kept_with_the_entries_equals_their_group_by(history, engine) -> None:
    with Session(engine) as session:
        kinds = set(session.scalars(select(CommissionEntry.kind)))
        settled = session.scalar(
            select(CommissionEntry.id).where(CommissionEntry.statement_id.is_not(None)).limit(1)
        )
        kept = rollup_rows(session)
        rollup.rebuild(session.connection())
        computed = rollup_rows(session)
        session.rollback()
    assert kinds == {"commission", "reversal"} and settled is not None  # the history did it all
    assert kept == computed
    assert len(kept) > 20


def expected(engine: Any, caller: Caller, args: dict) -> tuple[list, dict]:
    with Session(engine) as session:
        found = list(session.scalars(select(CommissionEntry)))
        names = {p.id: (p.code, p.name) for p in session.scalars(select(PartnerCopy))}
    groups: dict[tuple, list] = {}
    totals = [Decimal(0), Decimal(0), 0]
    for entry in found:
        if (
            (caller.partner_ids is not None and entry.partner_id not in caller.partner_ids)
            or (args.get("from_") and entry.period < args["from_"])
            or (args.get("to") and entry.period > args["to"])
            or args.get("partner_id") not in (None, entry.partner_id)
            or args.get("source") not in (None, entry.source)
        ):
            continue
        key: tuple = ()
        if "partner" in args["group_by"]:
            key += (entry.partner_id, *names[entry.partner_id])
        if "period" in args["group_by"]:
            key += (entry.period,)
        if "source" in args["group_by"]:
            key += (entry.source,)
        figures = groups.setdefault(key, [Decimal(0), Decimal(0), 0])
        for sums in (figures, totals):
            sums[0] += entry.contract_amount
            sums[1] += entry.amount
            sums[2] += 1
    rows = sorted((*key, f"{c:.2f}", f"{a:.2f}", n) for key, (c, a, n) in groups.items())
    return rows, {
        "contract_amount": f"{totals[0]:.2f}",
        "commission_amount": f"{totals[1]:.2f}",
        "entry_count": totals[2],
    }


GROUPINGS = [
    "",
    "partner",
    "period",
    "source",
    "partner,period",
    "period,source",
    "partner,period,source",
]
FILTERS = [
    {},
    {"from": "2026-06", "to": "2026-08"},
    {"from": "2026-07"},
    {"to": "2026-06"},
    {"source": "hq"},
    {"from": "2026-09", "source": "partner"},
]


def test_the_report_gives_the_figures_of_the_entries(history, engine) -> None:
    mine, other, _ = history["partners"]
    callers = [
        HQ,
        partner_caller(mine, "report.read"),
        partner_caller(mine, "report.read", also_sees=other),
    ]
    keys = ("partner_id", "partner_code", "partner_name", "period", "source")
    compared = 0
    for caller in callers:
        for group_by in GROUPINGS:
            for filters in [*FILTERS, {"partner_id": str(other)}]:
                args = load(ReportArgs, {"group_by": group_by} | filters)
                uow = UnitOfWork(lambda: Session(engine), "commission")
                try:
                    report = reports.commission_report(uow, caller, args)
                finally:
                    uow.close()
                rows = sorted(
                    (
                        *(row[k] for k in keys if k in row),
                        row["contract_amount"],
                        row["commission_amount"],
                        row["entry_count"],
                    )
                    for row in report["rows"]
                )
                assert (rows, report["totals"]) == expected(engine, caller, args), (
                    group_by,
                    filters,
                )
                compared += len(rows)
    assert compared > 200


def test_two_writers_of_one_key_at_once_lose_nothing_on_postgresql(engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")

    def entry(amount: str) -> CommissionEntry:
        return CommissionEntry(
            period="2031-01",
            partner_id=7,
            source="hq",
            contract_amount=Decimal(amount),
            amount=Decimal(amount) / 10,
        )

    with Session(engine) as holder:
        rollup.add(holder, entry("100.00"))
        thread, errors = second_writer_waits(engine, lambda s: rollup.add(s, entry("50.00")))
        holder.commit()
    thread.join(30)
    assert errors == []
    with Session(engine) as session:
        row = session.get(CommissionRollup, ("2031-01", 7, "hq"))
        assert (row.entry_count, row.contract_amount, row.amount) == (
            2,
            Decimal("150.00"),
            Decimal("15.00"),
        )
