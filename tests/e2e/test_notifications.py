"""Notifications over HTTP, as users meet them: the inbox fills when something needs them,
and a partner's own webhook hears of its events, signed.

Leads and filings are made through the filing service's API; order steps come from the
orders service when it is in the stack, and are also published here as the orders service
would publish them, so the notify side is proven on its own.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest

import manage
from services.notify.transport import SIGNATURE_HEADER, verify_signature
from tests.support.answers import assert_problem, ok
from tests.support.client import Client, unique
from tests.support.events import publish_new
from tests.support.fake_data import mobile
from tests.support.receivers import Receiver
from tests.support.waiting import wait_for
from tests.support.world import World

NOTIFICATIONS = "/api/v1/notifications"
CHANNELS = "/api/v1/notification-channels"


def inbox(client: Client, query: str = "per_page=100") -> list[dict]:
    return ok(client.get(f"{NOTIFICATIONS}?{query}"))["items"]


def wait_for_message(client: Client, title: str, query: str = "per_page=100") -> dict:
    found = wait_for(lambda: [m for m in inbox(client, query) if m["title"] == title])
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def new_lead(admin: Client, region_code: str) -> dict:
    body = {
        "name": f"线索{unique()}",
        "contact_name": "张先生",
        "phone": mobile(),
        "region_code": region_code,
    }
    return ok(admin.post("/api/v1/leads", body), 201)


# -- leads, filings, orders reach the people who act on them --------------------------------


def test_a_lead_assigned_to_partner_a_reaches_a_sales_users_and_none_of_b(
    admin: Client, world: World
) -> None:
    a, b = world.partner(["530102"]), world.partner(["530103"])
    a_sales = [world.partner_user(a["id"]) for _ in range(2)]
    b_sales = world.partner_user(b["id"])
    lead = new_lead(admin, "530102")
    assert lead["assigned_partner_id"] == a["id"]

    for sales in a_sales:
        message = wait_for_message(sales, f"新线索待申领：{lead['name']}")
        assert message["kind"] == "lead_assigned"
        assert (message["subject_type"], message["subject_id"]) == ("lead", lead["id"])
        assert message["read_at"] is None
    assert inbox(b_sales) == []


def test_a_filing_waiting_for_approval_notifies_hq_users_with_filing_approve(
    world: World,
) -> None:
    partner = world.partner(["620102"])
    filer = world.partner_user(partner["id"])
    approver = world.login(world.user(None, ["channel_manager"]))
    marketer = world.login(world.user(None, ["marketing"]))
    name = f"兰州{unique()}商贸有限公司"
    body = {"name": name, "contact_name": "李女士", "phone": mobile(), "region_code": "620102"}
    customer = ok(filer.post("/api/v1/customers", body), 201)

    waiting = wait_for_message(approver, f"客户报备待审批：{name}")
    assert (waiting["subject_type"], waiting["subject_id"]) == ("filing", customer["filing"]["id"])
    assert inbox(marketer) == []  # HQ, but without filing.approve
    assert [m for m in inbox(filer) if m["kind"] == "filing_submitted"] == []

    ok(approver.post(f"/api/v1/filings/{customer['filing']['id']}/approve", {"comment": "同意"}))
    approved = wait_for_message(filer, f"客户报备已通过：{name}")
    assert (approved["subject_type"], approved["subject_id"]) == ("customer", customer["id"])


def order_step(step: dict, contract_no: str) -> dict:
    return {
        "order_id": random.randint(10**6, 10**7),
        "partner_id": 1,
        "contract_no": contract_no,
        "customer_name": "滇池贸易有限公司",
        "total_amount": "128000.00",
        "step": step,
    }


def test_an_order_step_waiting_notifies_that_steps_approvers(world: World) -> None:
    sales_ops = world.login(world.user(None, ["sales_ops"]))
    finance = world.login(world.user(None, ["finance"]))
    contract = unique("HT-")
    step = {"name": "sales", "permission": "order.approve.sales", "mode": "any", "approvers": []}
    publish_new("orders", "order_step_waiting", order_step(step, contract))

    message = wait_for_message(sales_ops, f"订单待审批：合同 {contract}（滇池贸易有限公司）")
    assert "¥128,000.00" in message["body"]
    assert message["subject_type"] == "order"
    assert [m for m in inbox(finance) if contract in m["title"]] == []


def test_an_order_step_every_named_approver_must_sign_goes_to_those_approvers_only(
    world: World,
) -> None:
    named_user = world.user(None, ["finance"])
    named, unnamed = world.login(named_user), world.login(world.user(None, ["finance"]))
    contract = unique("HT-")
    step = {
        "name": "finance",
        "permission": "order.approve.finance",
        "mode": "all",
        "approvers": [named_user["id"]],
    }
    publish_new("orders", "order_step_waiting", order_step(step, contract))

    wait_for_message(named, f"订单待审批：合同 {contract}（滇池贸易有限公司）")
    assert [m for m in inbox(unnamed) if contract in m["title"]] == []


@pytest.mark.skipif("orders" not in manage.SERVICES, reason="the orders service is not running")
def test_a_real_order_submitted_notifies_the_first_steps_approvers(
    admin: Client, world: World
) -> None:
    partner = world.partner(["630102"])
    sales = world.partner_user(partner["id"])
    name = f"西宁{unique()}有限公司"
    body = {"name": name, "contact_name": "赵先生", "phone": mobile(), "region_code": "630102"}
    customer = ok(sales.post("/api/v1/customers", body), 201)
    for _ in range(5):  # as many steps as HQ's filing flow has now
        if ok(admin.get(f"/api/v1/customers/{customer['id']}"))["status"] == "protected":
            break
        admin.post(f"/api/v1/filings/{customer['filing']['id']}/approve", {"comment": "同意"})
    product = {"sku": unique("SKU-"), "name": "通知测试产品", "unit": "套", "list_price": "500.00"}
    product = ok(admin.post("/api/v1/products", product), 201)
    contract = unique("HT-")
    order = {
        "customer_id": customer["id"],
        "contract_no": contract,
        "lines": [{"product_id": product["id"], "quantity": 2, "unit_price": "500.00"}],
    }
    order = ok(sales.post("/api/v1/orders", order), 201)
    ok(sales.post(f"/api/v1/orders/{order['id']}/submit"))

    # The HQ admin holds every approval permission, whatever HQ's order flow starts with.
    message = wait_for_message(
        admin, f"订单待审批：合同 {contract}（{name}）", "kind=order_step_waiting&per_page=100"
    )
    assert (message["subject_type"], message["subject_id"]) == ("order", order["id"])
    assert "¥1,000.00" in message["body"]


# -- the inbox is one's own -----------------------------------------------------------------


def test_reading_marking_and_counting_ones_own_messages_only(admin: Client, world: World) -> None:
    partner = world.partner(["640104"])
    mine, colleague = world.partner_user(partner["id"]), world.partner_user(partner["id"])
    outsider = world.partner_user(world.partner(["530103"])["id"])
    leads = [new_lead(admin, "640104") for _ in range(3)]
    for lead in leads:
        wait_for_message(mine, f"新线索待申领：{lead['name']}")

    assert ok(mine.get(f"{NOTIFICATIONS}/unread-count")) == {"count": 3}
    page = ok(mine.get(f"{NOTIFICATIONS}?unread=true&per_page=2&page=2"))
    assert (page["total"], page["page"], page["per_page"], len(page["items"])) == (3, 2, 2, 1)

    first = inbox(mine)[0]
    assert_problem(outsider.post(f"{NOTIFICATIONS}/{first['id']}/read"), 404, "not_found")
    assert_problem(colleague.post(f"{NOTIFICATIONS}/{first['id']}/read"), 404, "not_found")
    assert first["id"] not in [m["id"] for m in inbox(outsider)]

    read = ok(mine.post(f"{NOTIFICATIONS}/{first['id']}/read"))
    assert read["read_at"] is not None
    assert ok(mine.get(f"{NOTIFICATIONS}/unread-count")) == {"count": 2}
    assert first["id"] not in [m["id"] for m in inbox(mine, "unread=true")]
    assert ok(mine.post(f"{NOTIFICATIONS}/read-all")) == {"count": 2}
    assert ok(mine.get(f"{NOTIFICATIONS}/unread-count")) == {"count": 0}
    assert ok(colleague.get(f"{NOTIFICATIONS}/unread-count")) == {"count": 3}


def test_notification_requests_need_a_token_and_valid_arguments(
    anonymous: Client, world: World
) -> None:
    assert_problem(anonymous.get(NOTIFICATIONS), 401, "unauthenticated")
    sales = world.partner_user(world.partner(["530103"])["id"])
    assert_problem(sales.get(f"{NOTIFICATIONS}?per_page=1000"), 422, "invalid_input")
    assert_problem(sales.get(f"{NOTIFICATIONS}?unread=maybe"), 422, "invalid_input")


# -- channels -------------------------------------------------------------------------------


def test_a_partners_webhook_hears_of_its_lead_signed_and_logs_the_delivery(
    admin: Client, world: World, receiver: Receiver
) -> None:
    partner = world.partner(["530111"])
    partner_admin = world.partner_user(partner["id"], "partner_admin")
    created = ok(
        partner_admin.post(
            CHANNELS,
            {
                "kind": "webhook",
                "target": receiver.url,
                "scope": "partner",
                "events": ["lead_assigned"],
            },
        ),
        201,
    )
    secret = created["secret"]
    assert created["partner_id"] == partner["id"] and created["active"] is True
    listed = ok(partner_admin.get(CHANNELS))["items"]
    assert [c["id"] for c in listed] == [created["id"]] and "secret" not in listed[0]

    lead = new_lead(admin, "530111")
    assert lead["assigned_partner_id"] == partner["id"]
    wait_for(lambda: receiver.received)
    request = receiver.received[0]
    assert verify_signature(secret, request.headers[SIGNATURE_HEADER], request.body)
    document = json.loads(request.body)
    assert (document["event"], document["data"]["lead_id"]) == ("lead_assigned", lead["id"])

    log = wait_for(
        lambda: [
            d
            for d in ok(partner_admin.get(f"{CHANNELS}/{created['id']}/deliveries"))["items"]
            if d["status"] == "sent"
        ]
    )
    assert [(d["event"], d["attempts"], d["last_error"]) for d in log] == [
        ("lead_assigned", 1, None)
    ]
    assert log[0]["at"].endswith("Z")


def test_channels_are_their_owners_and_bad_ones_are_refused(world: World) -> None:
    partner, rival = world.partner(["530103"]), world.partner(["620103"])
    sales = world.partner_user(partner["id"])
    partner_admin = world.partner_user(partner["id"], "partner_admin")
    rival_admin = world.partner_user(rival["id"], "partner_admin")

    bad = assert_problem(
        sales.post(CHANNELS, {"kind": "webhook", "target": "ftp://example.com/x"}),
        422,
        "invalid_input",
    )
    assert "target" in bad["errors"]
    assert_problem(
        sales.post(
            CHANNELS, {"kind": "webhook", "target": "https://h.example/x", "scope": "partner"}
        ),
        403,
        "forbidden",
    )
    own = ok(sales.post(CHANNELS, {"kind": "webhook", "target": "http://127.0.0.1:9/own"}), 201)
    shared = ok(
        partner_admin.post(
            CHANNELS,
            {
                "kind": "webhook",
                "target": "http://127.0.0.1:9/p",
                "scope": "partner",
                "format": "dingtalk",
            },
        ),
        201,
    )
    assert ok(sales.get(CHANNELS))["total"] == 1
    assert ok(partner_admin.get(CHANNELS))["total"] == 1  # its partner's, not sales' own
    for outsider, channel in ((rival_admin, shared), (partner_admin, own), (rival_admin, own)):
        assert_problem(outsider.get(f"{CHANNELS}/{channel['id']}"), 404, "not_found")
        assert_problem(outsider.get(f"{CHANNELS}/{channel['id']}/deliveries"), 404, "not_found")

    switched = ok(partner_admin.patch(f"{CHANNELS}/{shared['id']}", {"active": False}))
    assert switched["active"] is False
    assert partner_admin.request("DELETE", f"{CHANNELS}/{shared['id']}").status_code == 204
    assert_problem(partner_admin.get(f"{CHANNELS}/{shared['id']}"), 404, "not_found")


def test_channel_secrets_are_stored_sealed_and_a_lost_key_answers_503(world: World) -> None:
    sales = world.partner_user(world.partner(["530113"])["id"])
    token = f"robot{unique()}"
    target = f"http://127.0.0.1:9/robot/send?access_token={token}"
    created = ok(sales.post(CHANNELS, {"kind": "webhook", "target": target}), 201)
    stored = manage.stored_channel(created["id"])
    assert token not in stored["target"] and created["secret"] not in stored["secret"]
    assert stored["target"].startswith("sealed:")
    # as if PRM_SECRETS_KEY had lost the key this value was sealed with
    before = manage.lose_channel_key(created["id"])
    try:
        lost = assert_problem(sales.get(CHANNELS), 503, "service_unavailable")
        assert "PRM_SECRETS_KEY" in lost["detail"] and token not in json.dumps(lost)
    finally:
        manage.put_stored_channel_target(created["id"], before)
    assert [c["target"] for c in ok(sales.get(CHANNELS))["items"]] == [target]


def test_a_dingtalk_robot_secret_is_taken_but_never_shown(world: World) -> None:
    sales = world.partner_user(world.partner(["530112"])["id"])
    robot_secret = f"SEC{unique()}d1e2f3"
    robot = {"kind": "webhook", "target": "http://127.0.0.1:9/robot/send?access_token=t1"}

    response = sales.post(CHANNELS, {**robot, "format": "dingtalk", "robot_secret": robot_secret})
    created = ok(response, 201)
    assert created["robot_signed"] is True and created["secret"]
    assert robot_secret not in response.text and "robot_secret" not in created
    path = f"{CHANNELS}/{created['id']}"
    for answer in (
        sales.get(path),
        sales.get(CHANNELS),
        sales.patch(path, {"robot_secret": robot_secret + "x"}),
    ):
        assert answer.status_code == 200, answer.text
        assert robot_secret not in answer.text and "robot_secret" not in answer.text
    assert ok(sales.get(path))["robot_signed"] is True

    bad = assert_problem(
        sales.post(CHANNELS, {**robot, "format": "json", "robot_secret": robot_secret}),
        422,
        "invalid_input",
    )
    assert list(bad["errors"]) == ["robot_secret"]
    kept = assert_problem(sales.patch(path, {"format": "wecom"}), 422, "invalid_input")
    assert "robot_secret" in kept["errors"]
    moved = ok(sales.patch(path, {"format": "wecom", "robot_secret": None}))
    assert (moved["format"], moved["robot_signed"]) == ("wecom", False)
