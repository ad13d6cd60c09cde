"""Notify against real RabbitMQ, PostgreSQL, HTTP and SMTP servers.

Events are published to the broker as the filing service would; the partners service is
a stand-in answering over real RPC with the people each test sets; webhooks go to an
``http.server`` on 127.0.0.1 and e-mail to an aiosmtpd server on 127.0.0.1. The module has
a vhost and a database of its own, so the e2e stack never competes for these events.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

import pytest
from aiosmtpd.controller import Controller
from kombu import Connection
from nameko.standalone.events import get_event_exchange
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.rpc import RpcClient
from services.common.amqp import ConfirmingPublisher
from services.common.context import Caller, CallerContext
from services.common.db import make_engine
from services.common.entrypoints import event_queues, rpc
from services.common.migrations import upgrade
from services.common.outbox import make_envelope
from services.notify.models import Message
from services.notify.service import NotifyService
from services.notify.transport import SIGNATURE_HEADER, verify_signature
from tests.support import infra
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
#: (permission, partner id or None) -> the users the stand-in partners service answers with.
PEOPLE: dict[tuple[str, int | None], list[dict]] = {}


class StandInPartners:
    """Answers ``recipients`` like the partners service, from ``PEOPLE``."""

    name = "partners"
    caller = CallerContext()

    @rpc
    def recipients(self, query: dict) -> list[dict]:
        return PEOPLE.get((query["permission"], query.get("partner_id")), [])


# -- servers --------------------------------------------------------------------------------


class WebhookServer:
    """An HTTP server on 127.0.0.1 that answers from a script of statuses and records
    every request it gets."""

    def __init__(self, statuses: list[int] | None = None, delay: float = 0.0) -> None:
        self.statuses = list(statuses or [200])
        self.delay = delay
        self.received: list[SimpleNamespace] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.received.append(
                    SimpleNamespace(path=self.path, headers=dict(self.headers), body=body)
                )
                if server.delay:
                    time.sleep(server.delay)
                status = server.statuses.pop(0) if len(server.statuses) > 1 else server.statuses[0]
                answer = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def webhook_server() -> Iterator[Callable[..., WebhookServer]]:
    servers: list[WebhookServer] = []

    def start(statuses: list[int] | None = None, delay: float = 0.0) -> WebhookServer:
        servers.append(WebhookServer(statuses, delay))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


class Mailbox:
    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server(monkeypatch) -> Iterator[Mailbox]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("PRM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PRM_SMTP_PORT", str(port))
    monkeypatch.setenv("PRM_SMTP_TLS", "none")
    monkeypatch.setenv("PRM_SMTP_FROM", "prm@example.com")
    yield mailbox
    controller.stop()


# -- the service ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def isolated() -> Iterator[SimpleNamespace]:
    name = f"prm_test_notify_it_{secrets.token_hex(4)}"
    url = infra.create_database(name)
    upgrade("notify", ROOT / "services" / "notify" / "migrations", url)
    amqp_uri = infra.create_vhost(name)
    engine = make_engine(url)
    config = {
        "AMQP_URI": amqp_uri,
        "DATABASE_URL": url,
        "serializer": "json",
        "max_workers": 10,
        "EVENT_MAX_ATTEMPTS": 3,
        "EVENT_RETRY_DELAY": 0.05,
    }
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        for queue in event_queues(NotifyService, config):
            queue(channel).declare()
    client = RpcClient(amqp_uri, timeout=10)
    yield SimpleNamespace(url=url, amqp_uri=amqp_uri, engine=engine, config=config, rpc=client)
    client.close()
    engine.dispose()
    infra.delete_vhost(name)
    infra.drop_database(name)


@pytest.fixture
def start_notify(isolated, container_factory) -> Callable[[], object]:
    """Starts the partners stand-in and a notify container (settings read at start)."""

    def start():
        container_factory(StandInPartners, isolated.config).start()
        container = container_factory(NotifyService, isolated.config)
        container.start()
        return container

    return start


def new_id() -> int:
    return secrets.randbelow(10**8) + 1000


def partner_with_sales(language: str = "zh") -> tuple[int, dict]:
    partner, uid = new_id(), new_id()
    person = {
        "id": uid,
        "username": f"u{uid}",
        "display_name": "销售",
        "email": f"u{uid}@example.com",
        "partner_id": partner,
        "language": language,
    }
    PEOPLE[("lead.claim", partner)] = [person]
    return partner, person


def as_user(person: dict, *permissions: str) -> Caller:
    return Caller(
        user_id=person["id"],
        partner_id=person["partner_id"],
        partner_ids=frozenset({person["partner_id"]}),
        permissions=frozenset(permissions),
    )


def lead_assigned(partner_id: int, name: str = "甲公司") -> dict:
    return make_envelope(
        "filing",
        "lead_assigned",
        {
            "lead_id": new_id(),
            "lead_name": name,
            "partner_id": partner_id,
            "region_code": "530102",
            "status": "assigned",
            "claim_deadline": "2026-05-04T08:30:00Z",
        },
    )


def publish(isolated, *envelopes: dict) -> None:
    publisher = ConfirmingPublisher(isolated.amqp_uri)
    exchange = get_event_exchange("filing", isolated.config)
    try:
        for envelope in envelopes:
            publisher.publish(envelope, exchange=exchange, routing_key=envelope["type"])
    finally:
        publisher.close()


def delivery_log(isolated, person: dict, channel_id: int) -> list[dict]:
    page = isolated.rpc.call("notify", "list_deliveries", channel_id, {}, caller=as_user(person))
    return page["items"]


def messages_of(isolated, user_id: int) -> list[Message]:
    with Session(isolated.engine) as session:
        return list(session.scalars(select(Message).where(Message.user_id == user_id)))


# -- webhooks -------------------------------------------------------------------------------


def test_webhook_gets_a_signed_body_that_verifies_with_the_channel_secret(
    isolated, start_notify, webhook_server
) -> None:
    start_notify()
    server = webhook_server([200])
    partner, sales = partner_with_sales()
    channel = isolated.rpc.call(
        "notify",
        "create_channel",
        {"kind": "webhook", "target": server.url},
        caller=as_user(sales),
    )
    event = lead_assigned(partner, "滇池贸易")
    publish(isolated, event)

    wait_for(lambda: server.received)
    [request] = server.received
    assert verify_signature(channel["secret"], request.headers[SIGNATURE_HEADER], request.body)
    assert not verify_signature("not-the-secret", request.headers[SIGNATURE_HEADER], request.body)
    document = json.loads(request.body)
    assert document["event"] == "lead_assigned"
    assert document["event_id"] == event["id"]
    assert document["title"] == "新线索待申领：滇池贸易"
    assert document["data"]["partner_id"] == partner
    assert request.headers["X-PRM-Event"] == "lead_assigned"
    log = wait_for(
        lambda: [d for d in delivery_log(isolated, sales, channel["id"]) if d["status"] == "sent"]
    )
    assert [(d["event"], d["attempts"], d["last_error"]) for d in log] == [
        ("lead_assigned", 1, None)
    ]


def dingtalk_query(request: SimpleNamespace) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(request.path).query, keep_blank_values=True)


def test_a_dingtalk_robot_with_a_secret_gets_a_url_signed_at_send_time(
    isolated, start_notify, webhook_server
) -> None:
    start_notify()
    signed, plain = webhook_server([200]), webhook_server([200])
    partner, sales = partner_with_sales()
    robot_secret = "SEC" + secrets.token_hex(32)
    channel = isolated.rpc.call(
        "notify",
        "create_channel",
        {
            "kind": "webhook",
            "target": f"{signed.url}?access_token=tok-1",
            "format": "dingtalk",
            "robot_secret": robot_secret,
        },
        caller=as_user(sales),
    )
    assert channel["robot_signed"] is True and robot_secret not in json.dumps(channel)
    unsigned = isolated.rpc.call(
        "notify",
        "create_channel",
        {"kind": "webhook", "target": f"{plain.url}?access_token=tok-2", "format": "dingtalk"},
        caller=as_user(sales),
    )
    assert unsigned["robot_signed"] is False
    publish(isolated, lead_assigned(partner, "洱海商贸"))

    [request] = wait_for(lambda: signed.received)
    query = dingtalk_query(request)
    assert [name for name, _ in query] == ["access_token", "timestamp", "sign"]
    values = dict(query)
    assert values["access_token"] == "tok-1"
    assert abs(int(values["timestamp"]) - time.time() * 1000) < 60_000
    expected = hmac.new(
        robot_secret.encode(), f"{values['timestamp']}\n{robot_secret}".encode(), hashlib.sha256
    ).digest()
    assert hmac.compare_digest(base64.b64decode(values["sign"]), expected)
    assert verify_signature(channel["secret"], request.headers[SIGNATURE_HEADER], request.body)
    document = json.loads(request.body)
    assert document["markdown"]["title"] == "新线索待申领：洱海商贸"

    [other] = wait_for(lambda: plain.received)
    assert dingtalk_query(other) == [("access_token", "tok-2")]
    for robot in (channel, unsigned):
        log = wait_for(
            lambda robot=robot: [
                d for d in delivery_log(isolated, sales, robot["id"]) if d["status"] == "sent"
            ]
        )
        assert [(d["attempts"], d["last_error"]) for d in log] == [(1, None)]
    listed = isolated.rpc.call("notify", "list_channels", {}, caller=as_user(sales))
    assert robot_secret not in json.dumps(listed)
    assert [c["robot_signed"] for c in listed["items"]] == [True, False]


def test_webhook_answering_500_twice_then_200_records_three_attempts(
    isolated, start_notify, webhook_server
) -> None:
    start_notify()
    server = webhook_server([500, 500, 200])
    partner, sales = partner_with_sales()
    channel = isolated.rpc.call(
        "notify",
        "create_channel",
        {"kind": "webhook", "target": server.url, "format": "wecom"},
        caller=as_user(sales),
    )
    publish(isolated, lead_assigned(partner))

    [entry] = wait_for(
        lambda: [d for d in delivery_log(isolated, sales, channel["id"]) if d["status"] == "sent"]
    )
    assert entry["attempts"] == 3
    assert len(server.received) == 3
    bodies = {request.body for request in server.received}
    assert len(bodies) == 1  # every retry sends the same message
    document = json.loads(server.received[0].body)
    assert document["msgtype"] == "markdown"
    assert document["markdown"]["content"].startswith("**新线索待申领")
    after = isolated.rpc.call("notify", "get_channel", channel["id"], caller=as_user(sales))
    assert (after["active"], after["consecutive_failures"]) == (True, 0)


def test_a_webhook_that_keeps_failing_is_disabled_and_its_owner_told(
    isolated, start_notify, webhook_server
) -> None:
    start_notify()
    server = webhook_server([503])
    partner, sales = partner_with_sales("en")
    channel = isolated.rpc.call(
        "notify",
        "create_channel",
        {"kind": "webhook", "target": server.url, "language": "en"},
        caller=as_user(sales),
    )
    publish(isolated, *(lead_assigned(partner) for _ in range(3)))

    disabled = wait_for(
        lambda: (
            not isolated.rpc.call("notify", "get_channel", channel["id"], caller=as_user(sales))[
                "active"
            ]
        )
    )
    assert disabled
    notices = [m for m in messages_of(isolated, sales["id"]) if m.kind == "channel_disabled"]
    assert [n.title for n in notices] == [f"Notification channel disabled: {server.url}"]
    log = delivery_log(isolated, sales, channel["id"])
    assert {d["status"] for d in log} <= {"failed", "cancelled"}
    assert any(d["last_error"] == "HTTP 503" for d in log)


def test_a_hanging_webhook_delays_neither_the_inbox_nor_another_channel(
    isolated, start_notify, webhook_server
) -> None:
    start_notify()
    hanging, healthy = webhook_server([200], delay=8.0), webhook_server([200])
    partner, sales = partner_with_sales()
    admin = {**sales, "id": new_id()}
    isolated.rpc.call(
        "notify",
        "create_channel",
        {"kind": "webhook", "target": hanging.url},
        caller=as_user(sales),
    )
    isolated.rpc.call(
        "notify",
        "create_channel",
        {"kind": "webhook", "target": healthy.url, "scope": "partner"},
        caller=as_user(admin, "channel.manage"),
    )
    started = time.monotonic()
    publish(isolated, lead_assigned(partner))

    wait_for(lambda: messages_of(isolated, sales["id"]), timeout=5)
    wait_for(lambda: healthy.received, timeout=5)
    assert time.monotonic() - started < 4.0
    assert hanging.received  # it was called, and is still hanging


# -- e-mail ---------------------------------------------------------------------------------


def test_an_email_channel_delivers_to_the_smtp_server(isolated, smtp_server, start_notify) -> None:
    start_notify()
    partner, sales = partner_with_sales()
    channel = isolated.rpc.call(
        "notify",
        "create_channel",
        {"kind": "email", "target": "sales@example.com"},
        caller=as_user(sales),
    )
    publish(isolated, lead_assigned(partner, "昆明五华商贸"))

    [envelope] = wait_for(lambda: smtp_server.envelopes)
    assert envelope.mail_from == "prm@example.com"
    assert envelope.rcpt_tos == ["sales@example.com"]
    from email import message_from_bytes, policy

    mail = message_from_bytes(envelope.original_content, policy=policy.default)
    assert mail["Subject"] == "新线索待申领：昆明五华商贸"
    assert "昆明五华商贸" in mail.get_content()
    [entry] = wait_for(
        lambda: [d for d in delivery_log(isolated, sales, channel["id"]) if d["status"] == "sent"]
    )
    assert entry["attempts"] == 1


# -- nothing lost, nothing twice ------------------------------------------------------------


def test_notify_down_while_100_events_are_published_gets_100_messages_none_twice(
    isolated, start_notify
) -> None:
    running = start_notify()
    running.stop()  # notify is down; its durable queues stay bound
    partner, sales = partner_with_sales()
    events = [lead_assigned(partner, f"线索{i:03d}") for i in range(100)]
    publish(isolated, *events)
    publish(isolated, *events[:10])  # the broker may deliver some twice

    start_notify()
    wait_for(lambda: len(messages_of(isolated, sales["id"])) >= 100, timeout=60)
    time.sleep(1.0)  # let any late duplicate land
    with Session(isolated.engine) as session:
        count, distinct = session.execute(
            select(func.count(), func.count(func.distinct(Message.event_id))).where(
                Message.user_id == sales["id"]
            )
        ).one()
    assert (count, distinct) == (100, 100)
    titles = {m.title for m in messages_of(isolated, sales["id"])}
    assert titles == {f"新线索待申领：线索{i:03d}" for i in range(100)}
