"""Commission (提成) over HTTP with every service running (DOMAIN.md, "Commission").

Entries come from the orders service's events. Until a real order can be driven through the
API (the last test, once ``orders`` is in the stack), the tests publish those events
themselves, exactly as the orders outbox relay does: the envelope on ``orders.events``, the
event type as routing key. Each test uses partners of its own, so tests sharing the stack
never see each other's entries.
"""

from __future__ import annotations

import csv
import io
import random
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

import manage
from services.common.outbox import make_envelope
from tests.support.answers import assert_problem, ok
from tests.support.client import Client, unique
from tests.support.events import approved_event, publish
from tests.support.stack import Stack
from tests.support.waiting import wait_for
from tests.support.world import World

RATES = "/api/v1/commission/rates"
ENTRIES = "/api/v1/commissions"
REPORT = "/api/v1/reports/commissions"
STATEMENTS = "/api/v1/commission/statements"
SHANGHAI = ZoneInfo("Asia/Shanghai")


# -- helpers ----------------------------------------------------------------------------


def current_period() -> str:
    return datetime.now(SHANGHAI).strftime("%Y-%m")


def cancelled_event(approved: dict) -> dict:
    order = approved["data"]
    return make_envelope(
        "orders",
        "order_cancelled",
        {
            "order_id": order["order_id"],
            "partner_id": order["partner_id"],
            "customer_id": order["customer_id"],
            "contract_no": order["contract_no"],
            "was_approved": True,
            "approved_at": order["approved_at"],
            "total_amount": order["total_amount"],
            "customer_source": order["customer_source"],
            "reason": "客户取消合同",
            "cancelled_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        },
    )


def entries(client: Client, **query: Any) -> list[dict]:
    return ok(client.get(ENTRIES, params={"per_page": 100, **query}))["items"]


def wait_entries(client: Client, count: int, timeout: float = 30.0, **query: Any) -> list[dict]:
    """The entries matching ``query`` once there are ``count`` of them (or more)."""
    return wait_for(
        lambda: (found := entries(client, **query)) and len(found) >= count and found,
        timeout=timeout,
        what=f"{count} commission entries for {query}",
    )


def set_override(admin: Client, partner_id: int, self_sourced: str, hq: str, since: str) -> dict:
    body = {
        "partner_id": partner_id,
        "self_sourced_rate": self_sourced,
        "hq_assigned_rate": hq,
        "effective_from": since,
    }
    return ok(admin.put(RATES, body))


class Dealer:
    """A partner with its admin (confirms statements) and a sales user."""

    def __init__(self, world: World, territory: list[str] | None = None) -> None:
        self.partner = world.partner(territory or ["330100"])
        self.id = self.partner["id"]
        self.admin = world.partner_user(self.id, "partner_admin")
        self.sales = world.partner_user(self.id, "partner_sales")


# -- rates ------------------------------------------------------------------------------


def test_both_partner_types_have_seeded_rates_that_apply_to_a_new_partner(
    admin: Client, world: World
) -> None:
    rules = ok(admin.get(RATES, params={"per_page": 100}))["items"]
    seeded = {
        (rule["partner_type"], rule["self_sourced_rate"], rule["hq_assigned_rate"])
        for rule in rules
        if rule["partner_id"] is None and rule["effective_from"] == "2000-01-01"
    }
    assert seeded == {("city_partner", "0.10", "0.05"), ("provincial_agent", "0.10", "0.05")}
    agent = world.partner(["320000"], "provincial_agent")
    in_force = ok(admin.get(f"{RATES}/in-force", params={"partner_id": agent["id"]}))
    assert (in_force["basis"], in_force["self_sourced_rate"], in_force["hq_assigned_rate"]) == (
        "partner_type",
        "0.10",
        "0.05",
    )


@pytest.mark.parametrize(
    "change",
    [
        {"self_sourced_rate": "1.5"},
        {"self_sourced_rate": "-0.01"},
        {"hq_assigned_rate": "abc"},
        {"hq_assigned_rate": "NaN"},
        {"self_sourced_rate": None},
        {"effective_from": "2026-02-30"},
        {"partner_type": "city_partner"},  # and a partner_id: one scope only
    ],
)
def test_rate_outside_0_to_1_or_malformed_is_422(admin: Client, world: World, change) -> None:
    partner = world.partner(["330100"])
    body = {"partner_id": partner["id"], "self_sourced_rate": "0.08", "hq_assigned_rate": "0.03"}
    problem = assert_problem(admin.put(RATES, body | change), 422, "invalid_input")
    assert set(problem["errors"]) & (set(change) | {"partner_id"})


def test_rates_are_hq_business_and_name_a_real_partner_or_type(admin: Client, world: World) -> None:
    dealer = Dealer(world)
    body = {"partner_id": dealer.id, "self_sourced_rate": "0.5", "hq_assigned_rate": "0.5"}
    assert_problem(dealer.admin.put(RATES, body), 403, "forbidden")
    assert_problem(dealer.admin.get(RATES), 403, "forbidden")
    unknown = body | {"partner_id": 999_999_999}
    assert_problem(admin.put(RATES, unknown), 422, "unknown_partner")
    no_type = {
        "partner_type": "county_partner",
        "self_sourced_rate": "0.1",
        "hq_assigned_rate": "0",
    }
    assert_problem(admin.put(RATES, no_type), 422, "unknown_partner_type")


def test_partner_type_rate_can_be_set_from_a_future_date(admin: Client, world: World) -> None:
    body = {
        "partner_type": "provincial_agent",
        "self_sourced_rate": "0.125",
        "hq_assigned_rate": "0.0625",
        "effective_from": "2099-01-01",
    }
    rule = ok(admin.put(RATES, body))
    assert (rule["self_sourced_rate"], rule["hq_assigned_rate"]) == ("0.125", "0.0625")
    agent = world.partner(["320000"], "provincial_agent")
    later = ok(
        admin.get(f"{RATES}/in-force", params={"partner_id": agent["id"], "on": "2099-06-01"})
    )
    today = ok(admin.get(f"{RATES}/in-force", params={"partner_id": agent["id"]}))
    assert (later["self_sourced_rate"], later["effective_from"]) == ("0.125", "2099-01-01")
    assert today["self_sourced_rate"] == "0.10"


# -- entries ----------------------------------------------------------------------------


def test_partner_gets_8000_for_own_customer_and_3000_for_hq_customer_on_100000(
    admin: Client, world: World
) -> None:
    dealer = Dealer(world)
    set_override(admin, dealer.id, "0.08", "0.03", "2020-01-01")
    own = publish(approved_event(dealer.id, "100000.00", "partner"))
    lead = publish(approved_event(dealer.id, "100000.00", "hq"))
    odd = publish(approved_event(dealer.id, "33333.33", "hq"))
    found = {e["order_id"]: e for e in wait_entries(dealer.sales, 3, partner_id=dealer.id)}
    assert (found[own["data"]["order_id"]]["rate"], found[own["data"]["order_id"]]["amount"]) == (
        "0.08",
        "8000.00",
    )
    assert found[lead["data"]["order_id"]]["amount"] == "3000.00"
    assert found[lead["data"]["order_id"]]["source"] == "hq"
    entry = found[odd["data"]["order_id"]]
    assert (entry["contract_amount"], entry["rate"], entry["amount"]) == (
        "33333.33",
        "0.03",
        "1000.00",
    )
    assert entry["kind"] == "commission"
    assert entry["period"] == current_period()
    assert entry["statement_id"] is None


def test_rate_change_after_approval_does_not_change_the_entry(admin: Client, world: World) -> None:
    dealer = Dealer(world)
    set_override(admin, dealer.id, "0.08", "0.03", "2020-01-01")
    first = publish(approved_event(dealer.id, "50000.00"))
    [before] = wait_entries(admin, 1, order_id=first["data"]["order_id"])
    set_override(admin, dealer.id, "0.12", "0.06", "2020-01-01")  # even back-dated
    second = publish(approved_event(dealer.id, "50000.00"))
    [after] = wait_entries(admin, 1, order_id=second["data"]["order_id"])
    assert ok(admin.get(f"{ENTRIES}/{before['id']}")) == before
    assert (before["rate"], before["amount"]) == ("0.08", "4000.00")
    assert (after["rate"], after["amount"]) == ("0.12", "6000.00")


def test_same_approved_event_delivered_three_times_gives_one_entry(
    admin: Client, world: World
) -> None:
    dealer = Dealer(world)
    event = approved_event(dealer.id, "10000.00")
    for _ in range(3):
        publish(event)
    marker = publish(approved_event(dealer.id, "1.00"))  # published after the three
    wait_entries(admin, 1, order_id=marker["data"]["order_id"])
    time.sleep(1.0)
    assert len(entries(admin, order_id=event["data"]["order_id"])) == 1


def test_cancelling_an_approved_order_gives_a_negative_reversal(
    admin: Client, world: World
) -> None:
    dealer = Dealer(world)
    approved = publish(approved_event(dealer.id, "33333.33", "hq"))
    wait_entries(admin, 1, order_id=approved["data"]["order_id"])
    publish(cancelled_event(approved))
    found = wait_entries(dealer.sales, 2, order_id=approved["data"]["order_id"])
    reversal = next(e for e in found if e["kind"] == "reversal")
    commission = next(e for e in found if e["kind"] == "commission")
    assert reversal["amount"] == "-1666.67" == f"-{commission['amount']}"
    assert reversal["contract_amount"] == "-33333.33"
    assert reversal["period"] == commission["period"]


def test_partner_sees_only_its_own_entries(admin: Client, world: World) -> None:
    mine, theirs = Dealer(world), Dealer(world)
    publish(approved_event(mine.id))
    other = publish(approved_event(theirs.id))
    wait_entries(mine.sales, 1)
    [their_entry] = wait_entries(admin, 1, order_id=other["data"]["order_id"])
    assert {e["partner_id"] for e in entries(mine.sales)} == {mine.id}
    assert entries(mine.sales, partner_id=theirs.id) == []
    assert_problem(mine.sales.get(f"{ENTRIES}/{their_entry['id']}"), 404, "not_found")
    assert ok(theirs.sales.get(f"{ENTRIES}/{their_entry['id']}"))["id"] == their_entry["id"]
    assert_problem(mine.sales.get(ENTRIES, params={"period": "2026-13"}), 422, "invalid_input")


# -- report -----------------------------------------------------------------------------


def test_commission_report_by_partner_period_and_source_with_files(
    admin: Client, world: World
) -> None:
    dealer, other = Dealer(world), Dealer(world)
    set_override(admin, dealer.id, "0.08", "0.03", "2020-01-01")
    for at, source, total in [
        ("2025-09-03T02:00:00Z", "partner", "100000.00"),
        ("2025-09-30T15:59:00Z", "hq", "33333.33"),  # still September in Shanghai
        ("2025-09-30T16:00:00Z", "partner", "10000.00"),  # already October in Shanghai
    ]:
        publish(approved_event(dealer.id, total, source, at))
    publish(approved_event(other.id, "5000.00", "partner", "2025-09-10T02:00:00Z"))
    wait_entries(admin, 3, partner_id=dealer.id)
    wait_entries(admin, 1, partner_id=other.id)

    query = {"group_by": "partner,period,source", "from": "2025-09", "to": "2025-10"}
    report = ok(dealer.admin.get(REPORT, params=query))
    rows = [
        (r["partner_id"], r["period"], r["source"], r["commission_amount"], r["entry_count"])
        for r in report["rows"]
    ]
    assert rows == [
        (dealer.id, "2025-09", "hq", "1000.00", 1),
        (dealer.id, "2025-09", "partner", "8000.00", 1),
        (dealer.id, "2025-10", "partner", "800.00", 1),
    ]
    assert report["rows"][0]["contract_amount"] == "33333.33"
    assert report["totals"] == {
        "contract_amount": "143333.33",
        "commission_amount": "9800.00",
        "entry_count": 3,
    }
    hq_view = ok(
        admin.get(REPORT, params={"group_by": "partner", "from": "2025-09", "to": "2025-09"})
    )
    assert {dealer.id, other.id} <= {r["partner_id"] for r in hq_view["rows"]}

    csv_file = dealer.admin.get(REPORT, params=query | {"format": "csv"})
    assert csv_file.status_code == 200
    assert csv_file.headers["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(csv_file.content.decode("utf-8-sig"))))
    assert table[0] == [
        "合作伙伴ID",
        "合作伙伴编码",
        "合作伙伴名称",
        "期间",
        "客户来源",
        "合同金额",
        "提成金额",
        "条目数",
    ]
    assert table[1][:5] == [
        str(dealer.id),
        dealer.partner["code"],
        dealer.partner["name"],
        "2025-09",
        "总部分配",
    ]
    assert table[-1][0] == "合计" and table[-1][-2:] == ["9800.00", "3"]

    xlsx_file = dealer.admin.get(REPORT, params=query | {"format": "xlsx"})
    assert xlsx_file.headers["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = load_workbook(io.BytesIO(xlsx_file.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][6] == "提成金额"
    assert Decimal(str(values[-1][6])) == Decimal("9800.00")


def test_report_needs_report_read_and_checks_its_query(world: World) -> None:
    dealer = Dealer(world)
    assert_problem(dealer.sales.get(REPORT), 403, "forbidden")  # partner_sales has no report.read
    for bad in (
        {"group_by": "partner,product"},
        {"from": "2025-13"},
        {"from": "2025-10", "to": "2025-09"},
        {"format": "pdf"},
    ):
        assert_problem(dealer.admin.get(REPORT, params=bad), 422, "invalid_input")


# -- statements -------------------------------------------------------------------------


def test_statement_lifecycle_with_locked_entries_and_wrong_transitions_refused(
    admin: Client, world: World
) -> None:
    dealer, stranger = Dealer(world), Dealer(world)
    finance = world.login(world.user(None, ["finance"]))
    events = [
        publish(approved_event(dealer.id, total, "partner", "2025-05-12T02:00:00Z"))
        for total in ("100000.00", "23456.78")
    ]
    wait_entries(admin, 2, partner_id=dealer.id, period="2025-05")

    body = {"partner_id": dealer.id, "period": "2025-05"}
    assert_problem(dealer.admin.post(STATEMENTS, body), 403, "forbidden")
    assert_problem(
        finance.post(STATEMENTS, body | {"period": current_period()}), 422, "period_not_ended"
    )
    assert_problem(finance.post(STATEMENTS, body | {"period": "2025-04"}), 409, "nothing_to_settle")
    statement = ok(finance.post(STATEMENTS, body), 201)
    assert (statement["status"], statement["total_amount"], statement["entry_count"]) == (
        "issued",
        "12345.68",
        2,
    )
    assert statement["payment_ref"] is None

    # The entries are on it, locked: a second statement of the period has nothing to take.
    settled = entries(admin, partner_id=dealer.id, period="2025-05")
    assert {e["statement_id"] for e in settled} == {statement["id"]}
    assert_problem(finance.post(STATEMENTS, body), 409, "nothing_to_settle")

    path = f"{STATEMENTS}/{statement['id']}"
    assert_problem(finance.post(f"{path}/pay", {"payment_ref": "CMB-1"}), 409, "invalid_state")
    assert_problem(stranger.admin.post(f"{path}/confirm"), 404, "not_found")
    assert_problem(stranger.admin.get(path), 404, "not_found")
    assert_problem(dealer.sales.post(f"{path}/confirm"), 403, "forbidden")
    assert ok(dealer.sales.get(path))["status"] == "issued"

    confirmed = ok(dealer.admin.post(f"{path}/confirm"))
    assert confirmed["status"] == "confirmed" and confirmed["confirmed_at"].endswith("Z")
    assert_problem(dealer.admin.post(f"{path}/confirm"), 409, "invalid_state")
    assert_problem(dealer.admin.post(f"{path}/pay", {"payment_ref": "X"}), 403, "forbidden")
    assert_problem(finance.post(f"{path}/pay", {"payment_ref": "  "}), 422, "invalid_input")
    assert_problem(finance.post(f"{path}/pay", {}), 422, "invalid_input")

    paid = ok(finance.post(f"{path}/pay", {"payment_ref": "CMB-20250610-001"}))
    assert (paid["status"], paid["payment_ref"]) == ("paid", "CMB-20250610-001")
    assert_problem(finance.post(f"{path}/pay", {"payment_ref": "CMB-2"}), 409, "invalid_state")
    assert_problem(dealer.admin.post(f"{path}/confirm"), 409, "invalid_state")

    mine = ok(dealer.admin.get(STATEMENTS))["items"]
    assert [s["id"] for s in mine] == [statement["id"]]
    assert ok(stranger.admin.get(STATEMENTS))["items"] == []
    assert statement["id"] in [
        s["id"] for s in ok(admin.get(STATEMENTS, params={"partner_id": dealer.id}))["items"]
    ]

    # Cancelling an order of the settled period reverses it in the current, open period.
    publish(cancelled_event(events[0]))
    found = wait_entries(admin, 2, order_id=events[0]["data"]["order_id"])
    reversal = next(e for e in found if e["kind"] == "reversal")
    assert (reversal["amount"], reversal["period"], reversal["statement_id"]) == (
        "-10000.00",
        current_period(),
        None,
    )
    assert ok(admin.get(path))["total_amount"] == "12345.68"
    assert {e["statement_id"] for e in entries(admin, partner_id=dealer.id, period="2025-05")} == {
        statement["id"]
    }


@pytest.mark.slow
def test_fifty_orders_approved_while_commission_is_down_give_fifty_entries(
    stack: Stack, admin: Client, world: World
) -> None:
    dealer = Dealer(world)
    stack.stop_service("commission")
    try:
        events = [approved_event(dealer.id, f"{1000 + i}.00") for i in range(50)]
        for event in events:
            publish(event)
        for event in events[:5]:
            publish(event)  # redelivered
    finally:
        stack.start_service("commission")
        stack.wait_ready()
    wait_entries(admin, 50, timeout=60, partner_id=dealer.id)
    time.sleep(1.0)  # any redelivery still in flight has finished
    listed = entries(admin, partner_id=dealer.id)
    assert len(listed) == 50
    assert {e["order_id"] for e in listed} == {e["data"]["order_id"] for e in events}


# -- with the orders service: a real order through the API -------------------------------


@pytest.mark.skipif(
    "orders" not in manage.SERVICES, reason="the orders service is not in the stack yet"
)
def test_real_orders_approved_through_the_api_show_their_commission(
    admin: Client, world: World
) -> None:
    region = "540102"  # 拉萨 城关区: no other test's partner covers it
    dealer = Dealer(world, [region])
    set_override(admin, dealer.id, "0.08", "0.03", "2020-01-01")
    channel = world.login(world.user(None, ["channel_manager", "marketing"]))
    sales_ops = world.login(world.user(None, ["sales_ops"]))
    finance = world.login(world.user(None, ["finance"]))
    director = world.login(world.user(None, ["channel_director"]))

    # Its own customer (filed and approved) and an HQ lead's customer (claimed).
    phone = f"139{random.randint(0, 99_999_999):08d}"
    own = ok(
        dealer.sales.post(
            "/api/v1/customers",
            {
                "name": f"拉萨{unique()}科技有限公司",
                "contact_name": "扎西",
                "phone": phone,
                "region_code": region,
            },
        ),
        201,
    )
    ok(channel.post(f"/api/v1/filings/{own['filing']['id']}/approve", {"comment": "同意"}))
    lead = ok(
        channel.post(
            "/api/v1/leads",
            {
                "name": f"拉萨{unique()}贸易有限公司",
                "contact_name": "卓玛",
                "phone": "13800000000",
                "region_code": region,
            },
        ),
        201,
    )
    assert lead["assigned_partner_id"] == dealer.id
    claimed = ok(dealer.sales.post(f"/api/v1/leads/{lead['id']}/claim"))
    assert claimed["source"] == "hq"

    product = ok(
        sales_ops.post(
            "/api/v1/products",
            {
                "sku": unique("SKU-"),
                "name": "提成测试产品",
                "unit": "套",
                "list_price": "100000.00",
            },
        ),
        201,
    )

    def approved_order(customer_id: int) -> dict:
        order = ok(
            dealer.sales.post(
                "/api/v1/orders",
                {
                    "customer_id": customer_id,
                    "contract_no": unique("HT-"),
                    "lines": [
                        {"product_id": product["id"], "quantity": 1, "unit_price": "100000.00"}
                    ],
                },
            ),
            201,
        )
        ok(dealer.sales.post(f"/api/v1/orders/{order['id']}/submit"))
        for approver in (sales_ops, finance, director):
            current = ok(admin.get(f"/api/v1/orders/{order['id']}"))
            if current["status"] == "approved":
                break
            ok(approver.post(f"/api/v1/orders/{order['id']}/approve", {"comment": "同意"}))
        return ok(admin.get(f"/api/v1/orders/{order['id']}"))

    own_order = approved_order(own["id"])
    lead_order = approved_order(claimed["id"])
    assert own_order["status"] == lead_order["status"] == "approved"

    def commission_of(order: dict) -> dict | None:
        return ok(dealer.sales.get(f"/api/v1/orders/{order['id']}"))["commission"]

    assert wait_for(lambda: commission_of(own_order), what="own order's commission") == {
        "rate": "0.08",
        "amount": "8000.00",
        "basis": "approval",
        "accrued": "8000.00",
    }
    assert wait_for(lambda: commission_of(lead_order), what="lead order's commission") == {
        "rate": "0.03",
        "amount": "3000.00",
        "basis": "approval",
        "accrued": "3000.00",
    }

    ok(finance.post(f"/api/v1/orders/{lead_order['id']}/cancel", {"reason": "客户取消"}))
    found = wait_entries(admin, 2, order_id=lead_order["id"])
    assert sorted(e["amount"] for e in found) == ["-3000.00", "3000.00"]
