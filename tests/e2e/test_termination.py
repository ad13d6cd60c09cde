"""Termination as a handover over HTTP with every service running (DOMAIN.md, "Channel
operations": HQ first sees what the partner holds; on termination its pending filings are
rejected, its protected customers released to the pool or transferred to one named
partner, its open leads go to the next covering partner, its unapproved orders are
cancelled; approved orders, commission and history stay).

The terminated partner T covers 济南 (370100) and 青岛 (370200); the receiver R covers 济南
only: no other test's partner covers 山东 (370000). T holds a customer in 历下区 (370102,
which R covers) and one in 市南区 (370202, which nobody else covers), a pending filing, a
lead in each district, and orders for its 历下区 customer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.answers import assert_problem, ok
from tests.support.client import Client, unique
from tests.support.fake_data import company, mobile
from tests.support.filing_api import (
    CUSTOMERS,
    FILINGS,
    LEADS,
    customer_body,
    file_customer,
    sole_coverage,
)
from tests.support.waiting import wait_for
from tests.support.world import PASSWORD, World

PARTNERS = "/api/v1/partners"
ORDERS = "/api/v1/orders"
ENTRIES = "/api/v1/commissions"
LIXIA, SHINAN, LICHENG = "370102", "370202", "370112"
REASON = "合作协议到期不再续约"


@dataclass
class Holder:
    """A partner holding some of everything, and what it holds."""

    partner: dict
    receiver: dict
    user: dict
    sales: Client
    covered: dict  # protected, in a district the receiver covers
    uncovered: dict  # protected, in a district nobody else covers
    pending: dict  # filed, not approved
    shared_lead: dict  # in a district the receiver covers too
    lone_lead: dict  # in a district nobody else covers
    orders: dict[str, dict] = field(default_factory=dict)
    entry: dict | None = None


@pytest.fixture(scope="module")
def hq(admin: Client, anonymous: Client) -> dict[str, Any]:
    world = World(admin, anonymous)
    sales_ops = world.login(world.user(None, ["sales_ops"]))
    product = ok(
        sales_ops.post(
            "/api/v1/products",
            {"sku": unique("SKU-"), "name": "交接测试产品", "unit": "套", "list_price": "1000.00"},
        ),
        201,
    )
    return {
        "world": world,
        "admin": admin,
        "anonymous": anonymous,
        "manager": world.login(world.user(None, ["channel_manager"])),
        "sales_ops": sales_ops,
        "finance": world.login(world.user(None, ["finance"])),
        "product": product,
    }


def _protected(hq: dict, sales: Client, region: str) -> dict:
    customer = file_customer(sales, customer_body(region))
    path = f"{FILINGS}/{customer['filing']['id']}/approve"
    ok(hq["manager"].post(path, {"comment": "同意"}))
    return ok(hq["admin"].get(f"{CUSTOMERS}/{customer['id']}"))


def _lead(hq: dict, region: str) -> dict:
    body = {
        "name": f"{company()}贸易有限公司",
        "contact_name": "李经理",
        "phone": mobile(),
        "region_code": region,
    }
    return ok(hq["manager"].post(LEADS, body), 201)


def _order(hq: dict, sales: Client, customer: dict, submit: bool, approve: bool) -> dict:
    body = {
        "customer_id": customer["id"],
        "contract_no": unique("HT-"),
        "lines": [{"product_id": hq["product"]["id"], "quantity": 2, "unit_price": "1000.00"}],
    }
    order = ok(sales.post(ORDERS, body), 201)
    if submit:
        ok(sales.post(f"{ORDERS}/{order['id']}/submit"))
    if approve:
        for approver in (hq["sales_ops"], hq["finance"]):
            ok(approver.post(f"{ORDERS}/{order['id']}/approve", {"comment": "同意"}))
    return ok(hq["admin"].get(f"{ORDERS}/{order['id']}"))


def holder(hq: dict, with_orders: bool) -> Holder:
    world, admin = hq["world"], hq["admin"]
    partner = world.partner(["370100", "370200"])
    receiver = world.partner(["370100"])
    user = world.user(partner["id"], ["partner_sales"])
    sales = world.login(user)
    covered = _protected(hq, sales, LIXIA)
    uncovered = _protected(hq, sales, SHINAN)
    pending = file_customer(sales, customer_body(LICHENG))
    # Both leads go to T: the other partners covering 历下区 are suspended meanwhile.
    with sole_coverage(admin, [LIXIA, SHINAN], keep=[partner]):
        shared_lead, lone_lead = _lead(hq, LIXIA), _lead(hq, SHINAN)
    assert shared_lead["assigned_partner_id"] == lone_lead["assigned_partner_id"] == partner["id"]
    held = Holder(
        partner, receiver, user, sales, covered, uncovered, pending, shared_lead, lone_lead
    )
    if with_orders:
        held.orders = {
            "draft": _order(hq, sales, covered, submit=False, approve=False),
            "submitted": _order(hq, sales, covered, submit=True, approve=False),
            "approved": _order(hq, sales, covered, submit=True, approve=True),
        }
        assert held.orders["approved"]["status"] == "approved"
        approved_id = held.orders["approved"]["id"]
        held.entry = wait_for(
            lambda: next(iter(_entries(admin, approved_id)), None),
            what="the approved order's commission entry",
        )
    return held


def _entries(client: Client, order_id: int) -> list[dict]:
    return ok(client.get(ENTRIES, params={"order_id": order_id, "per_page": 100}))["items"]


def handover(admin: Client, partner: dict) -> dict:
    return ok(admin.get(f"{PARTNERS}/{partner['id']}/handover"))


def _covering_others(admin: Client, region: str, partner: dict) -> set[int]:
    query = {"region_code": region, "status": "active", "per_page": 100}
    found = ok(admin.get(PARTNERS, params=query))["items"]
    return {p["id"] for p in found if p["id"] != partner["id"]}


def _status_of(admin: Client, path: str) -> str:
    return ok(admin.get(path))["status"]


def _wait_status(admin: Client, path: str, status: str) -> dict:
    return wait_for(
        lambda: (row := ok(admin.get(path)))["status"] == status and row,
        what=f"{path} {status}",
    )


def _check_common_end(hq: dict, held: Holder) -> None:
    """What every handover ends with: the filing rejected with the reason, the leads moved
    on, the partner's people locked out, nothing left to hand over, a second termination
    refused, and HQ told the handover is done."""
    admin, partner = hq["admin"], held.partner
    filing = _wait_status(admin, f"{FILINGS}/{held.pending['filing']['id']}", "rejected")
    actions = [a for step in filing["steps"] for a in step["actions"]]
    assert [(a["action"], a["comment"]) for a in actions] == [("reject", REASON)]
    assert _status_of(admin, f"{CUSTOMERS}/{held.pending['id']}") == "rejected"

    others = _covering_others(admin, LIXIA, partner)
    shared = wait_for(
        lambda: (
            (row := ok(admin.get(f"{LEADS}/{held.shared_lead['id']}")))["assigned_partner_id"]
            != partner["id"]
            and row
        ),
        what="the shared lead moved on",
    )
    assert shared["status"] == "assigned"
    assert shared["assigned_partner_id"] in others
    assert _covering_others(admin, SHINAN, partner) == set()
    lone = _wait_status(admin, f"{LEADS}/{held.lone_lead['id']}", "unassigned")
    assert lone["assigned_partner_id"] is None

    # The partner's people are out: no sign-in, and the token they hold is refused.
    login = {"username": held.user["username"], "password": PASSWORD}
    assert_problem(hq["anonymous"].post("/api/v1/auth/login", login), 401, "unauthenticated")
    assert_problem(held.sales.get(CUSTOMERS), 401, "unauthenticated")

    left = wait_for(
        lambda: (counts := handover(admin, partner))["open_leads"] == 0 and counts,
        what="nothing left to hand over",
    )
    assert left["status"] == "terminated"
    for key in (
        "protected_customers",
        "pending_filings",
        "open_leads",
        "draft_orders",
        "submitted_orders",
        "rejected_orders",
    ):
        assert left[key] == 0, (key, left)

    again = admin.post(f"{PARTNERS}/{partner['id']}/terminate", {"reason": REASON})
    assert_problem(again, 409, "invalid_state")

    told = wait_for(
        lambda: [
            n
            for n in ok(admin.get("/api/v1/notifications", params={"per_page": 100}))["items"]
            if n["kind"] == "partner_handover_done" and n["subject_id"] == partner["id"]
        ],
        what="HQ told the handover is done",
    )
    assert len(told) == 1


# -- before: what a partner holds, and what a termination takes ------------------------------


def test_handover_counts_what_the_partner_holds_and_a_bad_receiver_is_refused(hq) -> None:
    admin = hq["admin"]
    held = holder(hq, with_orders=True)
    partner = held.partner

    counts = handover(admin, partner)
    assert {key: value for key, value in counts.items() if key != "unsettled_commission"} == {
        "partner_id": partner["id"],
        "status": "active",
        "protected_customers": 2,
        "pending_filings": 1,
        "open_leads": 2,
        "draft_orders": 1,
        "submitted_orders": 1,
        "rejected_orders": 0,
    }
    assert counts["unsettled_commission"] == {"entry_count": 1, "amount": held.entry["amount"]}
    assert_problem(admin.get(f"{PARTNERS}/2000000000/handover"), 404, "not_found")
    assert_problem(held.sales.get(f"{PARTNERS}/{partner['id']}/handover"), 403, "forbidden")

    terminate = f"{PARTNERS}/{partner['id']}/terminate"
    suspended = hq["world"].partner(["370100"])
    ok(admin.post(f"{PARTNERS}/{suspended['id']}/suspend"))
    transfer, release = {"customers": "transfer"}, {"customers": "release"}
    receiver_id = held.receiver["id"]
    refusals = [
        (transfer | {"reason": REASON}, "invalid_input", "to_partner_id"),
        (
            release | {"to_partner_id": receiver_id, "reason": REASON},
            "invalid_input",
            "to_partner_id",
        ),
        (release, "invalid_input", "reason"),
        (release | {"reason": "   "}, "invalid_input", "reason"),
        (release | {"reason": "x" * 501}, "invalid_input", "reason"),
        (
            transfer | {"to_partner_id": partner["id"], "reason": REASON},
            "invalid_receiver",
            "to_partner_id",
        ),
        (
            transfer | {"to_partner_id": suspended["id"], "reason": REASON},
            "invalid_receiver",
            "to_partner_id",
        ),
        (
            transfer | {"to_partner_id": 2000000000, "reason": REASON},
            "unknown_partner",
            "to_partner_id",
        ),
    ]
    for body, code, field_name in refusals:
        problem = assert_problem(admin.post(terminate, body), 422, code)
        assert field_name in problem.get("errors", {}), (body, problem)
    # Nothing was terminated nor handed over by the refusals.
    assert _status_of(admin, f"{PARTNERS}/{partner['id']}") == "active"
    assert handover(admin, partner)["protected_customers"] == 2

    # No body: the termination as it was before handovers, its customers released.
    assert ok(admin.post(terminate))["status"] == "terminated"
    for customer in (held.covered, held.uncovered):
        _wait_status(admin, f"{CUSTOMERS}/{customer['id']}", "released")


# -- transfer ------------------------------------------------------------------------------


def test_terminate_with_transfer_hands_everything_over_and_keeps_the_history(hq) -> None:
    admin = hq["admin"]
    held = holder(hq, with_orders=True)
    partner, receiver = held.partner, held.receiver
    receiver_sales = hq["world"].partner_user(receiver["id"])

    protected_until = ok(admin.get(f"{CUSTOMERS}/{held.covered['id']}"))["protected_until"]
    body = {"customers": "transfer", "to_partner_id": receiver["id"], "reason": REASON}
    terminated = ok(admin.post(f"{PARTNERS}/{partner['id']}/terminate", body))
    assert terminated["status"] == "terminated"

    # The customer in the receiver's territory is the receiver's, still protected, and the
    # receiver is told; the other one is in the pool.
    moved = wait_for(
        lambda: (
            (row := ok(admin.get(f"{CUSTOMERS}/{held.covered['id']}")))["owner_partner_id"]
            == receiver["id"]
            and row
        ),
        what="the covered customer transferred",
    )
    assert (moved["status"], moved["protected_until"]) == ("protected", protected_until)
    assert ok(receiver_sales.get(f"{CUSTOMERS}/{held.covered['id']}"))["status"] == "protected"
    wait_for(
        lambda: [
            n
            for n in ok(receiver_sales.get("/api/v1/notifications"))["items"]
            if n["kind"] == "customer_transferred" and n["subject_id"] == held.covered["id"]
        ],
        what="the receiver told of its new customer",
    )
    pooled = _wait_status(admin, f"{CUSTOMERS}/{held.uncovered['id']}", "released")
    assert pooled["owner_partner_id"] == partner["id"]
    in_pool = ok(admin.get("/api/v1/pool", params={"q": held.uncovered["name"]}))["items"]
    assert [c["id"] for c in in_pool] == [held.uncovered["id"]]

    # Unapproved orders cancelled with the reason; the approved one and its commission stay.
    for name in ("draft", "submitted"):
        cancelled = _wait_status(admin, f"{ORDERS}/{held.orders[name]['id']}", "cancelled")
        assert cancelled["cancel_reason"] == REASON
    approved = ok(admin.get(f"{ORDERS}/{held.orders['approved']['id']}"))
    assert approved["status"] == "approved"
    assert _entries(admin, approved["id"]) == [held.entry]

    _check_common_end(hq, held)
    counts = handover(admin, partner)
    assert counts["unsettled_commission"] == {"entry_count": 1, "amount": held.entry["amount"]}
    done = next(
        n
        for n in ok(admin.get("/api/v1/notifications", params={"per_page": 100}))["items"]
        if n["kind"] == "partner_handover_done" and n["subject_id"] == partner["id"]
    )
    assert str(partner["id"]) in done["title"]


# -- release -------------------------------------------------------------------------------


def test_terminate_with_release_puts_every_customer_in_the_pool(hq) -> None:
    admin = hq["admin"]
    held = holder(hq, with_orders=False)
    partner = held.partner

    body = {"customers": "release", "reason": REASON}
    ok(admin.post(f"{PARTNERS}/{partner['id']}/terminate", body))

    for customer in (held.covered, held.uncovered):
        released = _wait_status(admin, f"{CUSTOMERS}/{customer['id']}", "released")
        assert released["owner_partner_id"] == partner["id"]
    # The receiver R covers 历下区 and may claim from the pool what T held there.
    receiver_sales = hq["world"].partner_user(held.receiver["id"])
    claimed = ok(receiver_sales.post(f"/api/v1/pool/{held.covered['id']}/claim"))
    assert (claimed["status"], claimed["owner_partner_id"]) == ("protected", held.receiver["id"])

    _check_common_end(hq, held)
