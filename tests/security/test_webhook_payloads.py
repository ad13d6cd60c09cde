"""What a partner's channels are sent names no other partner: not the partner HQ gave its
customer to, not the one it came from, for every event kind that reaches a partner.

Events the timers raise (protection ending, release, claim deadline) and statements are
published here as their services would publish them; the others are driven through the API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from services.notify.recipients import PARTNER_EVENTS
from tests.support.approvals import StepApprovers
from tests.support.client import Client, unique
from tests.support.events import publish_new
from tests.support.fake_data import mobile
from tests.support.receivers import Receiver
from tests.support.waiting import wait_for
from tests.support.world import World

CHANNELS = "/api/v1/notification-channels"
REACHING_A_PARTNER = {*PARTNER_EVENTS, "customer_transferred", "order_commented"}


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    servers = {name: Receiver() for name in ("a", "a_user", "b")}
    yield servers
    for server in servers.values():
        server.close()


def _ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def _subscribe(client: Client, url: str, scope: str) -> None:
    _ok(client.post(CHANNELS, {"kind": "webhook", "target": url, "scope": scope}), 201)


def _customer(sales: Client, approvers: StepApprovers | None) -> dict:
    """A customer ``sales`` files; protected when ``approvers`` (made before) approve it."""
    body = {
        "name": f"转移测试{unique()}有限公司",
        "contact_name": "王先生",
        "phone": mobile(),
        "region_code": "330106",
    }
    customer = _ok(sales.post("/api/v1/customers", body), 201)
    if approvers is not None:
        approvers.approve_all(f"/api/v1/filings/{customer['filing']['id']}")
        customer = _ok(sales.get(f"/api/v1/customers/{customer['id']}"))
        assert customer["status"] == "protected", customer
    return customer


def _order(sales: Client, customer: dict, product: dict) -> dict:
    body = {
        "customer_id": customer["id"],
        "contract_no": unique("HT-"),
        "lines": [{"product_id": product["id"], "quantity": 1, "unit_price": "800.00"}],
    }
    order = _ok(sales.post("/api/v1/orders", body), 201)
    return _ok(sales.post(f"/api/v1/orders/{order['id']}/submit"))


def _partner_values(document: object, key: str = "") -> Iterator[tuple[str, object]]:
    """Every (key, value) of the document whose key names a partner."""
    if isinstance(document, dict):
        for name, value in document.items():
            yield from _partner_values(value, name)
    elif isinstance(document, list):
        for value in document:
            yield from _partner_values(value, key)
    elif "partner" in key:
        yield key, document


def test_partner_bound_deliveries_name_no_other_partner(
    admin: Client, world: World, receivers: dict[str, Receiver]
) -> None:
    a, b = world.partner(["330100"]), world.partner(["330100"])
    a_sales_user = world.user(a["id"], ["partner_sales"])
    a_sales = world.login(a_sales_user)
    _subscribe(world.partner_user(a["id"], "partner_admin"), receivers["a"].url, "partner")
    _subscribe(a_sales, receivers["a_user"].url, "user")
    _subscribe(world.partner_user(b["id"], "partner_admin"), receivers["b"].url, "partner")

    # filing approved and rejected; an order approved (commission), one rejected, a comment
    approvers = StepApprovers(world)
    kept = _customer(a_sales, approvers)
    rejected = _customer(a_sales, None)
    rejecter = approvers.nth(0)
    _ok(
        rejecter.post(f"/api/v1/filings/{rejected['filing']['id']}/reject", {"comment": "资料不全"})
    )
    sales_ops = world.login(world.user(None, ["sales_ops"]))
    product = _ok(
        sales_ops.post(
            "/api/v1/products",
            {"sku": unique("SKU-"), "name": "通知产品", "unit": "套", "list_price": "800.00"},
        ),
        201,
    )
    approved = approvers.approve_all(f"/api/v1/orders/{_order(a_sales, kept, product)['id']}")
    assert approved["status"] == "approved", approved
    refused = _order(a_sales, kept, product)
    _ok(rejecter.post(f"/api/v1/orders/{refused['id']}/reject", {"comment": "价格不对"}))
    _ok(sales_ops.post(f"/api/v1/orders/{refused['id']}/comments", {"body": "请修改价格"}), 201)
    # a lead for the region both partners cover; then HQ gives A's customer to B
    lead = {"name": f"线索{unique()}", "contact_name": "张", "phone": mobile()}
    _ok(admin.post("/api/v1/leads", lead | {"region_code": "330106"}), 201)
    moved = admin.post(
        f"/api/v1/customers/{kept['id']}/transfer", {"partner_id": b["id"], "reason": "区域调整"}
    )
    _ok(moved)
    # what the timers and the statement run would publish for A
    later = (datetime.now(UTC) + timedelta(days=3)).isoformat().replace("+00:00", "Z")
    customer = {
        "customer_id": rejected["id"],
        "customer_name": rejected["name"],
        "partner_id": a["id"],
        "region_code": "330106",
        "source": "partner",
        "status": "protected",
        "protected_until": later,
    }
    publish_new("filing", "protection_ending", customer)
    publish_new("filing", "customer_released", customer | {"status": "released"})
    publish_new("filing", "customer_claimed", customer)
    publish_new("filing", "idle_release_near", customer | {"release_at": later})
    extension = customer | {"extension_id": 1, "days": 30}
    publish_new("filing", "extension_approved", extension)
    publish_new("filing", "extension_rejected", extension | {"reason": "理由不足"})
    publish_new(
        "filing",
        "lead_claim_deadline_near",
        {
            "lead_id": 1,
            "lead_name": "线索",
            "partner_id": a["id"],
            "region_code": "330106",
            "status": "assigned",
            "claim_deadline": later,
        },
    )
    # several leads of A at once: an import's batch, and their deadlines near
    leads = {
        "partner_id": a["id"],
        "count": 2,
        "lead_ids": [1, 2],
        "lead_id": 1,
        "lead_name": "线索",
        "claim_deadline": later,
    }
    publish_new("filing", "leads_assigned", leads | {"import_id": "imp-1"})
    publish_new("filing", "lead_claim_deadlines_near", leads)
    publish_new(
        "commission",
        "statement_issued",
        {
            "statement_id": 1,
            "partner_id": a["id"],
            "period": "2026-10",
            "total_amount": "64.00",
            "entry_count": 1,
        },
    )

    def kinds(name: str) -> set[str]:
        return {json.loads(r.body)["event"] for r in receivers[name].received}

    expected_a = REACHING_A_PARTNER - {"lead_assigned", "order_commented"}
    wait_for(lambda: expected_a <= kinds("a"), timeout=90)
    wait_for(lambda: "order_commented" in kinds("a_user"), timeout=60)
    wait_for(lambda: "customer_transferred" in kinds("b"), timeout=60)

    for name, own, other in (("a", a, b), ("a_user", a, b), ("b", b, a)):
        for request in receivers[name].received:
            text = request.body.decode("utf-8")
            document = json.loads(text)
            for key, value in _partner_values(document):
                assert value in (own["id"], None), (name, document["event"], key, value)
            assert other["name"] not in text and other["code"] not in text, (name, text)
