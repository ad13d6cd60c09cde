"""One world for the tenant isolation matrix (test_isolation_matrix.py), made over HTTP.

Partners A (南宁 450100) and B (海口 460100), unrelated and in separate territories, each
with a ``partner_admin`` and a ``partner_sales`` user. A owns at least one row of every
kind an id route addresses, in the states in which its owner could act on it (a draft
order, a pending filing, an assigned lead, an issued statement, an unread message, ...);
B owns a few rows of its own, so that its lists are not empty and its own rows can be
sent fields that do not belong. A regional HQ user (区域经理) of 海口 (B's city), its role
holding every permission of ``hq_admin``, sees B's partner and rows but nothing of A's:
A's rows include those of no partner that lie in A's region (a customer in the public
pool, a lead A declined, back in the HQ queue), which a regional user sees by region.

Every row is made through the API, but one: a statement settles an ended month, and an
order approved through the API lands in the current one, so the commission entry of an
ended month comes from an ``order_approved`` event published as the orders service's
relay publishes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.support.answers import ok
from tests.support.approvals import StepApprovers
from tests.support.client import Client, unique
from tests.support.events import approved_event, publish
from tests.support.fake_data import mobile, uscc
from tests.support.filing_api import sole_coverage
from tests.support.waiting import wait_for
from tests.support.world import World

PARTNER_ROLES = ("partner_admin", "partner_sales")
A_CITY, A_DISTRICT = "450100", "450102"  # 南宁市, 兴宁区: no other test's partner covers it
B_CITY, B_DISTRICT = "460100", "460105"  # 海口市, 秀英区
SETTLED_PERIOD = "2025-01"
#: Channels that hear of nothing while the tests run, so that their rows stay as they are
#: (a claim deadline 72 hours away is reminded of 12 hours before it; the world's customer
#: released to the pool would be heard of under ``customer_released``).
QUIET_EVENTS = ["lead_claim_deadline_near"]

CUSTOMERS = "/api/v1/customers"
FILINGS = "/api/v1/filings"
LEADS = "/api/v1/leads"
ORDERS = "/api/v1/orders"
ENTRIES = "/api/v1/commissions"
STATEMENTS = "/api/v1/commission/statements"
POOL = "/api/v1/pool"
NOTIFICATIONS = "/api/v1/notifications"
CHANNELS = "/api/v1/notification-channels"
EXTENSIONS = "/api/v1/extensions"


def items(client: Client, path: str, **query: Any) -> list[dict]:
    """The first 100 rows of the list at ``path``."""
    return ok(client.get(path, params={"per_page": 100, **query}))["items"]


@dataclass
class Row:
    """A row of a partner: its kind, its id, and how its owner (or HQ) reads it."""

    kind: str
    id: int
    read: Callable[[], Any]


@dataclass
class Side:
    partner: dict
    users: dict[str, dict]  # by role
    clients: dict[str, Client]  # by role
    rows: dict[str, Row] = field(default_factory=dict)  # by label, e.g. "order.draft"
    #: Strings found in this partner's rows only: codes, names, phones, contract numbers.
    markers: list[str] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.partner["id"]

    def ids(self, kind: str) -> set[int]:
        return {row.id for row in self.rows.values() if row.kind == kind}


@dataclass
class Regional:
    """The regional HQ user: its role's ``regions`` cover B's city, not A's."""

    role: dict
    user: dict
    client: Client
    #: A partner of B's city with nothing of its own, for the requests that would end it
    #: (a termination handing its customers to A).
    spare: dict = field(default_factory=dict)


@dataclass
class IsolationWorld:
    hq: Client
    anonymous: Client
    product: dict  # in HQ's catalogue, shared by every partner
    a: Side
    b: Side
    regional: Regional
    #: Rows every partner shares that some HQ routes address: the product, the role.
    shared: dict[str, Row] = field(default_factory=dict)

    def row(self, label: str) -> Row:
        return self.shared.get(label) or self.a.rows[label]


class _Builder:
    def __init__(self, admin: Client, anonymous: Client) -> None:
        self.hq = admin
        self.people = World(admin, anonymous)
        self.approvers = StepApprovers(self.people)

    def read(self, client: Client, path: str) -> Callable[[], Any]:
        return lambda: ok(client.get(path))

    def regional(self, regions: list[str]) -> Regional:
        """A regional HQ user of ``regions``, its role holding every permission of the
        built-in ``hq_admin`` (the national ones it lists, its user holds none of)."""
        hq_roles = items(self.hq, "/api/v1/roles", scope="hq")
        admin_role = next(r for r in hq_roles if r["code"] == "hq_admin")
        body = {
            "code": unique("regional").lower(),
            "name": "海口区域经理",
            "scope": "hq",
            "permissions": admin_role["permissions"],
            "regions": regions,
        }
        role = ok(self.hq.post("/api/v1/roles", body), 201)
        user = self.people.user(None, [role["code"]])
        return Regional(role, user, self.people.login(user))

    def side(self, city: str) -> Side:
        partner = self.people.partner([city])
        users = {role: self.people.user(partner["id"], [role]) for role in PARTNER_ROLES}
        side = Side(partner, users, {role: self.people.login(u) for role, u in users.items()})
        side.markers += [partner["code"], partner["name"]]
        side.rows["partner"] = Row(
            "partner", partner["id"], self.read(self.hq, f"/api/v1/partners/{partner['id']}")
        )
        for role, user in users.items():
            side.markers.append(user["username"])
            side.rows[f"user.{role}"] = Row(
                "user", user["id"], self.read(self.hq, f"/api/v1/users/{user['id']}")
            )
        return side

    def customer(self, side: Side, label: str, district: str, approve: bool) -> dict:
        body = {
            "name": f"隔离{unique('c')}科技有限公司",
            "uscc": uscc(district),
            "contact_name": "李经理",
            "phone": mobile(),
            "region_code": district,
        }
        customer = ok(side.clients["partner_sales"].post(CUSTOMERS, body), 201)
        side.markers += [body["name"], body["uscc"], body["phone"]]
        path = f"{CUSTOMERS}/{customer['id']}"
        if approve:
            self.approvers.approve_all(f"{FILINGS}/{customer['filing']['id']}")
        customer = ok(self.hq.get(path))
        assert customer["status"] == ("protected" if approve else "pending"), customer
        side.rows[f"customer.{label}"] = Row("customer", customer["id"], self.read(self.hq, path))
        filing_path = f"{FILINGS}/{customer['filing']['id']}"
        side.rows[f"filing.{label}"] = Row(
            "filing", customer["filing"]["id"], self.read(self.hq, filing_path)
        )
        return customer

    def released(self, side: Side, district: str) -> None:
        """A customer of the side given back to the public pool (公海): its territory's
        partners see it in the pool, nobody else."""
        customer = self.customer(side, "released", district, approve=True)
        path = f"{CUSTOMERS}/{customer['id']}/release"
        ok(side.clients["partner_sales"].post(path, {"reason": "客户暂无需求"}))
        assert side.rows["customer.released"].read()["status"] == "released"

    def follow_up(self, side: Side, label: str) -> None:
        """A follow-up of the side's customer ``label``, its text a marker."""
        body = f"跟进{unique('f')}"
        path = f"{CUSTOMERS}/{side.rows[label].id}/follow-ups"
        ok(side.clients["partner_sales"].post(path, {"kind": "visit", "body": body}), 201)
        side.markers.append(body)

    def lead(self, side: Side, district: str) -> dict:
        body = {
            "name": f"线索{unique('l')}贸易有限公司",
            "contact_name": "赵",
            "phone": mobile(),
            "region_code": district,
        }
        with sole_coverage(self.hq, [district], [side.partner]):
            lead = ok(self.hq.post(LEADS, body), 201)
        assert (lead["status"], lead["assigned_partner_id"]) == ("assigned", side.id), lead
        side.markers += [body["name"], body["phone"]]
        path = f"{LEADS}/{lead['id']}"
        side.rows["lead.assigned"] = Row("lead", lead["id"], self.read(self.hq, path))
        return lead

    def declined_lead(self, side: Side, district: str) -> None:
        """A lead the side declined: nobody else covers its region, so it waits in the HQ
        queue, a row of no partner in the side's region."""
        body = {
            "name": f"线索{unique('l')}贸易有限公司",
            "contact_name": "钱",
            "phone": mobile(),
            "region_code": district,
        }
        with sole_coverage(self.hq, [district], [side.partner]):
            lead = ok(self.hq.post(LEADS, body), 201)
            path = f"{LEADS}/{lead['id']}"
            ok(side.clients["partner_sales"].post(f"{path}/decline", {"reason": "不做这行"}))
        lead = ok(self.hq.get(path))
        assert (lead["status"], lead["assigned_partner_id"]) == ("unassigned", None), lead
        side.markers += [body["name"], body["phone"]]
        side.rows["lead.queued"] = Row("lead", lead["id"], self.read(self.hq, path))

    def extension(self, side: Side, label: str) -> None:
        """A pending extension (延期申请) of the side's customer ``label``."""
        reason = f"延期{unique('e')}"
        path = f"{CUSTOMERS}/{side.rows[label].id}/extensions"
        body = {"days": 30, "reason": reason}
        extension = ok(side.clients["partner_sales"].post(path, body), 201)
        assert extension["status"] == "pending", extension
        side.markers.append(reason)
        side.rows["extension.pending"] = Row(
            "extension", extension["id"], self.read(self.hq, f"{EXTENSIONS}/{extension['id']}")
        )

    def money(self, side: Side) -> None:
        """A receipt (回款) HQ recorded on the side's approved order, its reference a marker;
        the order's payment plan and payments, and the side's credit, as rows that a
        payment, a plan or a limit set through any route would change."""
        order_id = side.rows["order.approved"].id
        plan, paid = f"{ORDERS}/{order_id}/payment-plan", f"{ORDERS}/{order_id}/payments"
        body = {
            "amount": "1000.00",
            "received_on": datetime.now(UTC).date().isoformat(),
            "method": "bank_transfer",
            "reference": unique("PAY-"),
        }
        ok(self.hq.post(paid, body), 201)
        side.markers.append(body["reference"])
        side.rows["order.payments"] = Row(
            "order", order_id, lambda: (ok(self.hq.get(plan)), ok(self.hq.get(paid)))
        )
        credit = f"/api/v1/partners/{side.id}/credit"
        side.rows["partner.credit"] = Row("partner", side.id, self.read(self.hq, credit))

    def order(self, side: Side, label: str, customer: dict, product: dict) -> dict:
        sales = side.clients["partner_sales"]
        body = {
            "customer_id": customer["id"],
            "contract_no": unique("HT-"),
            "lines": [{"product_id": product["id"], "quantity": 2, "unit_price": "4800.00"}],
        }
        order = ok(sales.post(ORDERS, body), 201)
        side.markers.append(body["contract_no"])
        path = f"{ORDERS}/{order['id']}"
        if label != "draft":
            ok(sales.post(f"{path}/submit"))
        if label == "approved":
            self.approvers.approve_all(path)
        order = ok(self.hq.get(path))
        assert order["status"] == label, order
        side.rows[f"order.{label}"] = Row("order", order["id"], self.read(self.hq, path))
        return order

    def commission_of(self, side: Side, order: dict) -> None:
        """Waits for the approved order's commission entry, and for the order to show it."""
        [entry] = wait_for(
            lambda: items(self.hq, ENTRIES, order_id=order["id"]), what="commission entry"
        )
        path = f"{ORDERS}/{order['id']}"
        wait_for(lambda: ok(self.hq.get(path))["commission"], what="the order's commission")
        side.rows["entry.order"] = Row(
            "entry", entry["id"], self.read(self.hq, f"{ENTRIES}/{entry['id']}")
        )

    def statement(self, side: Side) -> None:
        """An issued statement of an ended month (see the module's docstring)."""
        event = approved_event(side.id, "20000.00", "partner", f"{SETTLED_PERIOD}-15T02:00:00Z")
        publish(event)
        side.markers += [event["data"]["contract_no"], event["data"]["customer_name"]]
        order_id = event["data"]["order_id"]
        wait_for(lambda: items(self.hq, ENTRIES, order_id=order_id), what="the settled entry")
        body = {"partner_id": side.id, "period": SETTLED_PERIOD}
        statement = ok(self.hq.post(STATEMENTS, body), 201)
        assert statement["status"] == "issued"
        [entry] = items(self.hq, ENTRIES, order_id=order_id)
        assert entry["statement_id"] == statement["id"]
        side.rows["entry.settled"] = Row(
            "entry", entry["id"], self.read(self.hq, f"{ENTRIES}/{entry['id']}")
        )
        side.rows["statement.issued"] = Row(
            "statement",
            statement["id"],
            self.read(self.hq, f"{STATEMENTS}/{statement['id']}"),
        )

    def channel(self, side: Side, label: str, role: str, scope: str) -> None:
        owner = side.clients[role]
        hook = unique("hook")
        body = {
            "kind": "webhook",
            "target": f"http://127.0.0.1:9/{hook}",
            "scope": scope,
            "events": QUIET_EVENTS,
        }
        channel = ok(owner.post(CHANNELS, body), 201)
        side.markers.append(hook)
        path = f"{CHANNELS}/{channel['id']}"
        side.rows[f"channel.{label}"] = Row("channel", channel["id"], self.read(owner, path))

    def message(self, side: Side, role: str) -> None:
        """An unread message of the user: the lead assigned to its partner."""
        owner = side.clients[role]
        found = wait_for(
            lambda: items(owner, NOTIFICATIONS, kind="lead_assigned"), what="a message"
        )
        message_id = found[-1]["id"]

        def read() -> dict | None:
            return next((m for m in items(owner, NOTIFICATIONS) if m["id"] == message_id), None)

        assert read()["read_at"] is None
        side.rows[f"message.{role}"] = Row("message", message_id, read)


def build_world(admin: Client, anonymous: Client) -> IsolationWorld:
    build = _Builder(admin, anonymous)
    product = ok(
        admin.post(
            "/api/v1/products",
            {"sku": unique("SKU-"), "name": "隔离测试产品", "unit": "套", "list_price": "5000.00"},
        ),
        201,
    )
    roles = items(admin, "/api/v1/roles", scope="partner")
    role = next(r for r in roles if r["code"] == "partner_sales")
    # Before anything is submitted: the regional user is one of the approvers of B's.
    regional = build.regional([B_CITY])
    a, b = build.side(A_CITY), build.side(B_CITY)
    world = IsolationWorld(admin, anonymous, product, a, b, regional)
    world.shared["product"] = Row(
        "product", product["id"], build.read(admin, f"/api/v1/products/{product['id']}")
    )
    world.shared["role"] = Row("role", role["id"], build.read(admin, f"/api/v1/roles/{role['id']}"))

    build.customer(a, "pending", A_DISTRICT, approve=False)
    build.customer(a, "protected", A_DISTRICT, approve=True)  # no orders: its row stays put
    ordered = build.customer(a, "ordered", A_DISTRICT, approve=True)
    build.released(a, A_DISTRICT)
    build.follow_up(a, "customer.protected")
    build.extension(a, "customer.protected")
    build.lead(a, A_DISTRICT)
    build.declined_lead(a, A_DISTRICT)
    for label in ("draft", "submitted", "approved"):
        build.order(a, label, ordered, product)
    approved = ok(admin.get(f"{ORDERS}/{a.rows['order.approved'].id}"))
    comment = f"隔离评论{unique()}"
    ok(
        a.clients["partner_sales"].post(f"{ORDERS}/{approved['id']}/comments", {"body": comment}),
        201,
    )
    a.markers.append(comment)
    build.statement(a)
    build.commission_of(a, approved)
    build.money(a)
    build.channel(a, "partner", "partner_admin", "partner")
    build.channel(a, "admin_own", "partner_admin", "user")
    build.channel(a, "sales_own", "partner_sales", "user")

    b_customer = build.customer(b, "protected", B_DISTRICT, approve=True)
    build.extension(b, "customer.protected")
    build.released(b, B_DISTRICT)
    build.lead(b, B_DISTRICT)
    for label in ("draft", "submitted", "approved"):
        build.order(b, label, b_customer, product)
    build.money(b)
    build.statement(b)
    build.channel(b, "partner", "partner_admin", "partner")

    for side in (a, b):
        for role in PARTNER_ROLES:
            build.message(side, role)
    # Last: while B's rows were made, B was the only partner of its city.
    regional.spare = build.people.partner([B_CITY])
    return world
