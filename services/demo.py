"""The demo's business data, made through the running gateway as the demo users would make
it (``manage.py seed --business``): customers protected and waiting for approval, leads
assigned and not, orders as drafts, submitted and approved (one with a payment plan and a
receipt), a partner paid commission on collection, and the commission that follows.

The data crosses services (an order needs a protected customer, commission follows the
orders' events), so it is made once every service runs, over HTTP, with the published
demo password (``partners.seed.DEMO_PASSWORD``). Each item is looked up before it is made:
running it again makes only what is missing.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any
from urllib.parse import urlsplit

import requests

from services.partners.seed import DEMO_PASSWORD

API = "/api/v1"

#: filer, name, contact, phone, region, approved by HQ
DEMO_CUSTOMERS = (
    ("hz-sales", "杭州云帆信息技术有限公司", "周经理", "13957100001", "330106", True),
    ("hz-sales", "杭州青禾智能制造有限公司", "吴总", "13957100002", "330108", True),
    ("hz-sales", "杭州明湖教育科技有限公司", "郑老师", "13957100003", "330110", False),
    ("nb-sales", "宁波港联贸易有限公司", "孙经理", "13957400001", "330203", True),
    ("nb-sales", "宁波甬江新材料有限公司", "钱工", "13957400002", "330212", False),
)

#: name, contact, phone, region (None: none known): Hangzhou's and Ningbo's go to their
#: city partners; Shenzhen's and the one without a region stay with HQ.
DEMO_LEADS = (
    ("杭州星辰物流有限公司", "冯经理", "13857100011", "330105"),
    ("宁波东港电子有限公司", "陈经理", "13857400012", "330206"),
    ("深圳前海数智科技有限公司", "褚经理", "13800075513", "440305"),
    ("华东连锁餐饮管理有限公司", "卫经理", "13800000014", None),
)

#: seller, contract number, customer name, lines (sku, quantity), how far it goes
DEMO_ORDERS = (
    ("hz-sales", "HZ-DEMO-2026-001", "杭州云帆信息技术有限公司", [("CRM-STD-Y", 2)], "draft"),
    (
        "hz-sales",
        "HZ-DEMO-2026-002",
        "杭州青禾智能制造有限公司",
        [("CRM-PRO-Y", 1), ("IMPL-DAY", 4)],
        "submitted",
    ),
    ("hz-sales", "HZ-DEMO-2026-003", "杭州云帆信息技术有限公司", [("TERM-01", 5)], "approved"),
    (
        "nb-sales",
        "NB-DEMO-2026-001",
        "宁波港联贸易有限公司",
        [("CRM-STD-Y", 1), ("IMPL-DAY", 2)],
        "paid_in_part",
    ),
)

#: Who approves at HQ, tried in turn for each step (the step's permission decides).
HQ_APPROVERS = ("channel", "salesops", "finance", "director")

#: The partner paid commission on what is collected (``basis`` ``collection``).
COLLECTION_PARTNER = "NB-CITY"


class DemoError(RuntimeError):
    """The gateway refused a step of the demo."""


class Session:
    """One demo user signed in to the gateway."""

    def __init__(self, base_url: str, username: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.http = requests.Session()
        answer = self.http.post(
            f"{self.base_url}{API}/auth/login",
            json={"username": username, "password": DEMO_PASSWORD},
            timeout=30,
        )
        if answer.status_code != 200:
            raise DemoError(f"{username} cannot sign in: {answer.status_code} {answer.text}")
        self.http.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, f"{self.base_url}{API}{path}", timeout=30, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """The answer's JSON (None for 204); DemoError for anything but a success."""
        answer = self.send(method, path, **kwargs)
        if answer.status_code >= 300:
            raise DemoError(
                f"{self.username}: {method} {path}: {answer.status_code} {answer.text[:500]}"
            )
        return answer.json() if answer.content else None

    def items(self, path: str, **query: Any) -> list[dict]:
        return self.ok("GET", path, params={"per_page": 100, **query})["items"]


def _today() -> date:
    return datetime.now(UTC).date()


def _partner_id(hq: Session, code: str) -> int:
    found = [p for p in hq.items("/partners", q=code) if p["code"] == code]
    if not found:
        raise DemoError(f"no partner {code}: run `manage.py seed` first")
    return found[0]["id"]


def _collection_rate(finance: Session, partner_id: int) -> bool:
    """The partner earns its commission on collection from the start of this year."""
    if finance.items("/commission/rates", partner_id=partner_id):
        return False
    finance.ok(
        "PUT",
        "/commission/rates",
        json={
            "partner_id": partner_id,
            "self_sourced_rate": "0.12",
            "hq_assigned_rate": "0.06",
            "basis": "collection",
            "effective_from": _today().replace(month=1, day=1).isoformat(),
        },
    )
    return True


def _approve_filing(users: Callable[[str], Session], filing_id: int) -> None:
    for _ in range(len(HQ_APPROVERS)):
        for username in HQ_APPROVERS:
            answer = users(username).send("POST", f"/filings/{filing_id}/approve", json={})
            if answer.status_code == 200:
                break
        else:
            raise DemoError(f"no demo user may approve filing {filing_id}")
        if answer.json()["status"] != "pending":
            return


def _customers(users: Callable[[str], Session]) -> tuple[dict[str, int], int]:
    """The demo customers' ids by name (filed where missing, approved where they should
    be), and how many were filed now."""
    ids, made = {}, 0
    for filer, name, contact, phone, region, approve in DEMO_CUSTOMERS:
        client = users(filer)
        found = [c for c in client.items("/customers", q=name) if c["name"] == name]
        customer = found[0] if found else None
        if customer is None:
            made += 1
            customer = client.ok(
                "POST",
                "/customers",
                json={
                    "name": name,
                    "contact_name": contact,
                    "phone": phone,
                    "region_code": region,
                    "address": "演示地址 1 号",
                    "industry": "企业服务",
                },
            )
        filing = customer.get("filing") or {}
        if approve and filing.get("status") == "pending":
            _approve_filing(users, filing["id"])
        ids[name] = customer["id"]
    return ids, made


def _leads(marketing: Session, channel: Session) -> int:
    made = 0
    for name, contact, phone, region in DEMO_LEADS:
        if any(lead["name"] == name for lead in channel.items("/leads", q=name)):
            continue
        marketing.ok(
            "POST",
            "/leads",
            json={
                "name": name,
                "contact_name": contact,
                "phone": phone,
                "region_code": region,
                "notes": "演示线索",
            },
        )
        made += 1
    return made


def _approve_order(users: Callable[[str], Session], order_id: int) -> None:
    for _ in range(len(HQ_APPROVERS) + 1):
        for username in HQ_APPROVERS:
            answer = users(username).send("POST", f"/orders/{order_id}/approve", json={})
            if answer.status_code == 200:
                break
        else:
            raise DemoError(f"no demo user may approve order {order_id}")
        if answer.json()["status"] == "approved":
            return
    raise DemoError(f"order {order_id} is not approved after every step")


def _collect(finance: Session, order: dict) -> None:
    """A plan of two installments (now and in a month), the first one received."""
    path = f"/orders/{order['id']}"
    if finance.ok("GET", f"{path}/payments"):
        return
    total = Decimal(order["total_amount"])
    first = (total / 2).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    amounts = [str(first), str(total - first)]
    today = _today()
    finance.ok(
        "PUT",
        f"{path}/payment-plan",
        json={
            "installments": [
                {"due_date": today.isoformat(), "amount": amounts[0]},
                {"due_date": (today + timedelta(days=30)).isoformat(), "amount": amounts[1]},
            ]
        },
    )
    finance.ok(
        "POST",
        f"{path}/payments",
        json={
            "amount": amounts[0],
            "received_on": today.isoformat(),
            "method": "bank_transfer",
            "reference": f"DEMO-{order['contract_no']}-1",
        },
    )


def _orders(users: Callable[[str], Session], customers: dict[str, int]) -> int:
    products = {p["sku"]: p for p in users("salesops").items("/products")}
    made = 0
    for seller, contract_no, customer, lines, stage in DEMO_ORDERS:
        client = users(seller)
        found = [
            o for o in client.items("/orders", q=contract_no) if o["contract_no"] == contract_no
        ]
        order = found[0] if found else None
        if order is None:
            made += 1
            order = client.ok(
                "POST",
                "/orders",
                json={
                    "customer_id": customers[customer],
                    "contract_no": contract_no,
                    "lines": [
                        {
                            "product_id": products[sku]["id"],
                            "quantity": quantity,
                            "unit_price": products[sku]["list_price"],
                        }
                        for sku, quantity in lines
                    ],
                    "notes": "演示订单",
                },
            )
        if stage == "draft":
            continue
        if order["status"] == "draft":
            order = client.ok("POST", f"/orders/{order['id']}/submit", json={})
        if stage == "submitted":
            continue
        if order["status"] != "approved":
            _approve_order(users, order["id"])
            order = client.ok("GET", f"/orders/{order['id']}")
        if stage == "paid_in_part":
            _collect(users("finance"), order)
    return made


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def seed_business(base_url: str) -> bool:
    """Make what is missing of the demo's business data through the gateway at
    ``base_url``; False if all of it was there. DemoError names a refused step.

    Only on this machine's stack (a loopback address), unless ``PRM_DEMO=1`` says that
    the stack at ``base_url`` is a demo: it records receipts and approves filings."""
    host = urlsplit(base_url).hostname or ""
    if not _loopback(host) and os.environ.get("PRM_DEMO") != "1":
        raise DemoError(
            f"{host or base_url} is not this machine: demo data goes only into a local stack"
            " (set PRM_DEMO=1 if that stack is a demo)"
        )
    signed_in: dict[str, Session] = {}

    def users(username: str) -> Session:
        if username not in signed_in:
            signed_in[username] = Session(base_url, username)
        return signed_in[username]

    partner_id = _partner_id(users("channel"), COLLECTION_PARTNER)
    rate_made = _collection_rate(users("finance"), partner_id)
    customers, customers_made = _customers(users)
    leads_made = _leads(users("marketing"), users("channel"))
    orders_made = _orders(users, customers)
    return rate_made or bool(customers_made or leads_made or orders_made)
