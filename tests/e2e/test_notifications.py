"""Notifications over HTTP, as users meet them: the inbox fills when something needs them,
and a partner's own webhook hears of its events, signed.

Leads and filings are made through the filing service's API; order steps come from the
orders service when it is in the stack, and are also published here as the orders service
would publish them, so the notify side is proven on its own.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import requests
from nameko.standalone.events import get_event_exchange
from sqlalchemy import text

import manage
from services.common import sealing
from services.common.amqp import ConfirmingPublisher
from services.common.db import make_engine
from services.common.outbox import make_envelope
from services.notify.transport import SIGNATURE_HEADER, verify_signature
from tests.e2e.conftest import World
from tests.support.client import Client, unique

NOTIFICATIONS = "/api/v1/notifications"
CHANNELS = "/api/v1/notification-channels"


def ok(response: requests.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def assert_problem(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    return body


def inbox(client: Client, query: str = "per_page=100") -> list[dict]:
    return ok(client.get(f"{NOTIFICATIONS}?{query}"))["items"]


def wait_for(predicate: Callable[[], object], timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def wait_for_message(client: Client, title: str, query: str = "per_page=100") -> dict:
    found = wait_for(lambda: [m for m in inbox(client, query) if m["title"] == title])
    assert len(found) == 1, found
    return found[0]


def mobile() -> str:
    return f"139{random.randint(0, 99_999_999):08d}"


def publish(source: str, event_type: str, data: dict) -> dict:
    """Publish an event as the ``source`` service's outbox relay would."""
    envelope = make_envelope(source, event_type, data)
    config = {"AMQP_URI": os.environ["AMQP_URI"]}
    publisher = ConfirmingPublisher(config["AMQP_URI"])
    try:
        publisher.publish(
            envelope, exchange=get_event_exchange(source, config), routing_key=event_type
        )
    finally:
        publisher.close()
    return envelope


class Receiver:
    """A webhook receiver on 127.0.0.1 that records what it gets and answers 200."""

    def __init__(self) -> None:
        self.received: list[SimpleNamespace] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(SimpleNamespace(headers=dict(self.headers), body=body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/prm"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


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
    publish("orders", "order_step_waiting", order_step(step, contract))

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
    publish("orders", "order_step_waiting", order_step(step, contract))

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
    engine = make_engine(os.environ["NOTIFY_DATABASE_URL"])

    def store_target(value: str) -> None:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE channels SET target = :t WHERE id = :id"),
                {"t": value, "id": created["id"]},
            )

    try:
        with engine.connect() as connection:
            stored = connection.execute(
                text("SELECT target, secret FROM channels WHERE id = :id"), {"id": created["id"]}
            ).one()
        assert token not in stored.target and created["secret"] not in stored.secret
        assert stored.target.startswith("sealed:")
        # as if PRM_SECRETS_KEY had lost the key this value was sealed with
        store_target(sealing.seal(target, keys=("a-key-the-stack-never-had-" + "x" * 20,)))
        try:
            lost = assert_problem(sales.get(CHANNELS), 503, "service_unavailable")
            assert "PRM_SECRETS_KEY" in lost["detail"] and token not in json.dumps(lost)
        finally:
            store_target(stored.target)
    finally:
        engine.dispose()
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
