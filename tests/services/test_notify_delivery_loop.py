"""The delivery loop on PostgreSQL: retries with back-off, disabling a failing channel,
independence of channels, and claims that replicas never share.

The loop's ``Dispatcher`` runs here with a fake sender that succeeds, fails or stalls as
each test needs; the real senders are tested against real servers in integration/. At the
end, the webhook sender against receivers on this machine: the connection's own peer is
judged, and a refused connection's error keeps no token.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import eventlet
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from services.common import sealing
from services.common.config import NotifySettings
from services.common.config import load_notify_settings as load_settings
from services.common.db import make_engine
from services.common.migrations import upgrade
from services.common.timeutil import utcnow
from services.common.unit_of_work import UnitOfWork
from services.notify.delivery import claim_due
from services.notify.dispatcher import Dispatcher
from services.notify.models import Channel, Delivery, Message
from services.notify.transport import DeliveryError, Job, send_webhook
from tests.support import infra

ROOT = Path(__file__).resolve().parents[2]
FAST = NotifySettings(
    retry_base=0.05,
    retry_max=0.2,
    max_attempts=3,
    channel_max_failures=10,
    delivery_timeout=1.0,
    concurrency=10,
    lease=30,
)


@pytest.fixture(scope="module")
def sessions() -> Iterator[sessionmaker]:
    name = f"prm_test_notify_loop_{secrets.token_hex(4)}"
    url = infra.create_database(name)
    upgrade("notify", ROOT / "services" / "notify" / "migrations", url)
    engine = make_engine(url)
    yield sessionmaker(bind=engine, expire_on_commit=False)
    engine.dispose()
    infra.drop_database(name)


@pytest.fixture(autouse=True)
def empty_tables(sessions) -> None:
    """Claims look at the whole table: each test starts with nothing queued."""
    with sessions() as session:
        session.execute(text("TRUNCATE deliveries, channels, messages"))
        session.commit()


def add_channel(sessions, owner: int | None = None, **extra) -> Channel:
    with sessions() as session:
        channel = Channel(
            scope="user",
            owner_user_id=owner or secrets.randbelow(10**6) + 1,
            kind="webhook",
            target=f"http://127.0.0.1:9/{secrets.token_hex(3)}",
            format="json",
            events=[],
            language="zh",
            secret="s",
            active=True,
            consecutive_failures=0,
            **extra,
        )
        session.add(channel)
        session.commit()
        return channel


def queue(sessions, channel: Channel, count: int = 1) -> list[int]:
    ids = []
    with sessions() as session:
        for _ in range(count):
            row = Delivery(
                channel_id=channel.id,
                event_id=secrets.token_hex(16),
                event="lead_assigned",
                payload={"title": "t", "body": "b"},
                status="pending",
                attempts=0,
                next_attempt_at=utcnow(),
            )
            session.add(row)
            session.flush()
            ids.append(row.id)
        session.commit()
    return ids


def work(session: Session) -> UnitOfWork:
    """A unit of work on ``session``, as the loop's own transactions are."""
    return UnitOfWork(lambda: session, "notify")


def delivery(sessions, delivery_id: int) -> Delivery:
    with sessions() as session:
        return session.get(Delivery, delivery_id)


def channel_now(sessions, channel_id: int) -> Channel:
    with sessions() as session:
        return session.get(Channel, channel_id)


def run_until(dispatcher: Dispatcher, done, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dispatcher.run_once()
        dispatcher.wait()
        if done():
            return
        eventlet.sleep(0.05)
    raise AssertionError("the deliveries did not settle in time")


class Script:
    """A sender that answers per channel from a script of outcomes (True: taken)."""

    def __init__(self, **outcomes: list[bool]) -> None:
        self.outcomes = {int(k.removeprefix("c")): list(v) for k, v in outcomes.items()}
        self.calls: list[tuple[int, float]] = []

    def __call__(self, job: Job, settings: NotifySettings) -> None:
        self.calls.append((job.channel_id, time.monotonic()))
        script = self.outcomes.get(job.channel_id, [True])
        taken = script.pop(0) if len(script) > 1 else script[0]
        if not taken:
            raise DeliveryError("HTTP 500")


def test_a_failed_delivery_is_retried_after_a_back_off_and_then_sent(sessions) -> None:
    channel = add_channel(sessions)
    [delivery_id] = queue(sessions, channel)
    sender = Script(**{f"c{channel.id}": [False, False, True]})
    dispatcher = Dispatcher(sessions, FAST, sender)
    run_until(dispatcher, lambda: delivery(sessions, delivery_id).status == "sent")

    sent = delivery(sessions, delivery_id)
    assert (sent.attempts, sent.last_error) == (3, None)
    times = [at for cid, at in sender.calls if cid == channel.id]
    assert times[1] - times[0] >= FAST.retry_base * 0.9
    assert times[2] - times[1] >= FAST.retry_base * 2 * 0.9
    assert channel_now(sessions, channel.id).consecutive_failures == 0


def test_a_delivery_is_given_up_after_the_last_attempt(sessions) -> None:
    channel = add_channel(sessions)
    [delivery_id] = queue(sessions, channel)
    dispatcher = Dispatcher(sessions, FAST, Script(**{f"c{channel.id}": [False]}))
    run_until(dispatcher, lambda: delivery(sessions, delivery_id).status == "failed")
    failed = delivery(sessions, delivery_id)
    assert (failed.attempts, failed.last_error) == (FAST.max_attempts, "HTTP 500")


def test_a_channel_failing_n_times_in_a_row_is_disabled_and_its_owner_told(sessions) -> None:
    owner = secrets.randbelow(10**6) + 1
    channel = add_channel(sessions, owner=owner)
    ids = queue(sessions, channel, 5)
    settings = NotifySettings(**{**FAST.__dict__, "channel_max_failures": 4, "max_attempts": 2})
    dispatcher = Dispatcher(sessions, settings, Script(**{f"c{channel.id}": [False]}))
    run_until(dispatcher, lambda: not channel_now(sessions, channel.id).active)

    disabled = channel_now(sessions, channel.id)
    assert disabled.consecutive_failures == 4
    assert "4 failures in a row" in disabled.disabled_reason
    statuses = [delivery(sessions, i).status for i in ids]
    assert "pending" not in statuses and "cancelled" in statuses
    with sessions() as session:
        [notice] = session.scalars(select(Message).where(Message.user_id == owner)).all()
    assert notice.kind == "channel_disabled"
    assert notice.title.startswith("通知渠道已停用：http://127.0.0.1:9/")
    assert (notice.subject_type, notice.subject_id) == ("notification_channel", channel.id)


def test_one_success_ends_a_run_of_failures(sessions) -> None:
    channel = add_channel(sessions)
    ids = queue(sessions, channel, 2)
    settings = NotifySettings(**{**FAST.__dict__, "channel_max_failures": 3})
    dispatcher = Dispatcher(sessions, settings, Script(**{f"c{channel.id}": [False, True]}))
    run_until(dispatcher, lambda: all(delivery(sessions, i).status == "sent" for i in ids))
    after = channel_now(sessions, channel.id)
    assert (after.active, after.consecutive_failures) == (True, 0)


def test_a_stalled_channel_does_not_hold_deliveries_to_another(sessions) -> None:
    stalled, healthy = add_channel(sessions), add_channel(sessions)
    [stuck_id] = queue(sessions, stalled)
    healthy_ids = queue(sessions, healthy, 3)

    def sender(job: Job, settings: NotifySettings) -> None:
        if job.channel_id == stalled.id:
            eventlet.sleep(60)  # a target that never answers

    dispatcher = Dispatcher(sessions, FAST, sender)
    started = time.monotonic()
    deadline = started + 5
    while time.monotonic() < deadline:
        dispatcher.run_once()
        eventlet.sleep(0.05)
        if all(delivery(sessions, i).status == "sent" for i in healthy_ids):
            break
    assert time.monotonic() - started < 2.0, "the healthy channel waited for the stalled one"
    run_until(dispatcher, lambda: delivery(sessions, stuck_id).attempts == 1)
    stuck = delivery(sessions, stuck_id)
    assert stuck.status == "pending" and "timed out" in stuck.last_error


def test_a_delivery_another_replica_is_claiming_is_skipped_not_sent_twice(sessions) -> None:
    channel = add_channel(sessions)
    first, second = queue(sessions, channel, 2)
    settings = NotifySettings(**{**FAST.__dict__, "per_channel": 2})
    with sessions() as other_replica:
        # Another replica holds the first row's lock, mid-claim.
        other_replica.execute(
            text("SELECT id FROM deliveries WHERE id = :id FOR UPDATE"), {"id": first}
        )
        with Session(bind=other_replica.get_bind().engine) as session:
            claimed = claim_due(work(session), utcnow(), 10, settings)
        other_replica.rollback()
    assert [job.delivery_id for job in claimed] == [second]
    # The claim is leased: asked again at once, nobody gets the second row a second time.
    with sessions() as session:
        again = claim_due(work(session), utcnow(), 10, settings)
    assert [job.delivery_id for job in again] == [first]
    with sessions() as session:
        later = claim_due(
            work(session), utcnow() + timedelta(seconds=settings.lease + 1), 10, settings
        )
    assert sorted(job.delivery_id for job in later) == [first, second]


def test_a_channel_gets_at_most_its_share_of_one_claim(sessions) -> None:
    busy_channel, quiet_channel = add_channel(sessions), add_channel(sessions)
    queue(sessions, busy_channel, 5)
    [quiet] = queue(sessions, quiet_channel)
    with sessions() as session:
        claimed = claim_due(work(session), utcnow(), 10, FAST)
    by_channel = [job.channel_id for job in claimed]
    assert by_channel.count(busy_channel.id) == FAST.per_channel
    assert quiet in [job.delivery_id for job in claimed]
    with sessions() as session:
        busy_now = claim_due(work(session), utcnow(), 10, FAST, {quiet_channel.id: 1})
    assert quiet_channel.id not in [job.channel_id for job in busy_now]


def test_deliveries_of_a_switched_off_channel_are_cancelled_not_sent(sessions) -> None:
    channel = add_channel(sessions)
    [delivery_id] = queue(sessions, channel)
    with sessions() as session:
        session.get(Channel, channel.id).active = False
        session.commit()
    sender = Script()
    Dispatcher(sessions, FAST, sender).drain()
    assert delivery(sessions, delivery_id).status == "cancelled"
    assert sender.calls == []


def test_a_channel_whose_secrets_cannot_be_opened_waits_and_holds_no_other_back(
    sessions,
) -> None:
    broken, fine = add_channel(sessions), add_channel(sessions)
    [stuck] = queue(sessions, broken)  # the older: claims look at it first
    [going] = queue(sessions, fine)
    with sessions() as session:  # as if PRM_SECRETS_KEY had lost the key it was sealed with
        foreign = sealing.seal("http://127.0.0.1:9/x", keys=("never-this-stack-s-key" * 2,))
        session.execute(
            text("UPDATE channels SET target = :t WHERE id = :id"), {"t": foreign, "id": broken.id}
        )
        session.commit()

    with sessions() as session:
        jobs = claim_due(work(session), utcnow(), 10, FAST)
    assert [job.delivery_id for job in jobs] == [going]
    waiting = delivery(sessions, stuck)
    # not an attempt of the channel's: it is neither given up nor held against the channel
    assert (waiting.status, waiting.attempts) == ("pending", 0)
    assert "PRM_SECRETS_KEY" in waiting.last_error and waiting.next_attempt_at > utcnow()
    assert channel_now(sessions, broken.id).active


# -- sending to receivers on this machine (real sockets, which the unit tier never opens) ----


class _Receiver(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_POST(self) -> None:
        _Receiver.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def local_receiver() -> Iterator[int]:
    _Receiver.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _job(url: str) -> Job:
    payload = {"title": "t", "body": "b", "event": "order_approved"}
    return Job(1, 1, "order_approved", "webhook", url, "json", "s" * 64, payload)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_name_rebound_to_a_private_address_after_the_check_is_not_called(
    scheme: str, monkeypatch: pytest.MonkeyPatch, local_receiver: int
) -> None:
    """DNS rebinding: the name is public when checked, then points at the platform's own
    network when the connection is made. The connection's own peer is judged: refused."""
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["93.184.216.34"])  # the first lookup, the target check's: public

    def rebinding(host, port, *args, **kwargs):
        if host == "hooks.example.com":
            return real_getaddrinfo(next(answers, "127.0.0.1"), port, *args, **kwargs)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    settings = replace(load_settings(), webhook_allow_private=False)
    with pytest.raises(DeliveryError, match="loopback, private"):
        send_webhook(_job(f"{scheme}://hooks.example.com:{local_receiver}/hook"), settings)
    assert _Receiver.hits == []


def test_private_receivers_are_called_when_configuration_allows_them(local_receiver: int) -> None:
    settings = replace(load_settings(), webhook_allow_private=True)
    send_webhook(_job(f"http://127.0.0.1:{local_receiver}/hook"), settings)
    assert _Receiver.hits == ["/hook"]


def test_what_requests_says_of_a_refused_connection_keeps_no_token() -> None:
    # Some robots carry their token in the path (飞书, Slack), others in the query.
    target = "http://127.0.0.1:9/open-apis/bot/v2/hook/t0ken-in-path?key=k3y-in-query&v=1"
    payload = {"title": "新线索", "body": "请申领"}
    job = Job(1, 2, "lead_assigned", "webhook", target, "json", "prm-secret", payload)
    with pytest.raises(DeliveryError) as raised:
        send_webhook(job, NotifySettings(webhook_allow_private=True))
    text = str(raised.value)
    assert "ConnectionError" in text and "***" in text
    assert "t0ken-in-path" not in text and "k3y-in-query" not in text
