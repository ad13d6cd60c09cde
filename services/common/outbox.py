"""The transactional outbox: events are rows first, messages second.

A unit of work adds its events to its own transaction (``add_event``). ``EventOutbox``'s
relay thread publishes committed rows in batches with publisher confirms (waited for once
per batch) and marks them sent. It
is woken after each commit and also sweeps on an interval, so rows left behind by a crash
or a broker outage go out as soon as the broker is back. On PostgreSQL, rows are claimed
with ``FOR UPDATE SKIP LOCKED`` so several replicas never publish the same row at once.

Every event goes out with the AMQP ``user_id`` of the relay's connection, the service's
own broker user (``ConfirmingPublisher``; RabbitMQ checks it): its consumers accept it from
that user only (``entrypoints.EventHandler``).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

import eventlet
from nameko.extensions import DependencyProvider
from nameko.standalone.events import get_event_exchange
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.amqp import ConfirmingPublisher, Outgoing
from services.common.broker import expected_sender
from services.common.config import broker_settings
from services.common.context import REQUEST_ID_KEY
from services.common.db import dependency_named, is_postgres
from services.common.models import OutboxEvent
from services.common.timeutil import iso, utcnow

log = logging.getLogger(__name__)


def make_envelope(source: str, event_type: str, data: dict[str, Any], **meta: Any) -> dict:
    """The body every event carries: a unique id (for idempotent consumers) and the data."""
    return {
        "id": str(uuid.uuid4()),
        "type": event_type,
        "source": source,
        "occurred_at": iso(utcnow()),
        "data": data,
        **meta,
    }


def add_event(session: Session, source: str, event_type: str, data: dict, **meta: Any) -> str:
    """Add an event to the outbox inside ``session``'s transaction; returns its id."""
    envelope = make_envelope(source, event_type, data, **meta)
    session.add(OutboxEvent(event_id=envelope["id"], event_type=event_type, payload=envelope))
    return envelope["id"]


class OutboxRelay:
    """Publishes pending outbox rows of one service's database."""

    def __init__(self, source: str, session_factory: Callable[[], Session], config: dict) -> None:
        self.source = source
        self.session_factory = session_factory
        self.exchange = get_event_exchange(source, config)
        self.publisher = ConfirmingPublisher(config["AMQP_URI"])
        self._declared = False
        prefix = config.get("BROKER_USER_PREFIX", broker_settings().user_prefix)
        expected = expected_sender(source, prefix, self.publisher.user)
        if self.publisher.user != expected:
            # Its consumers would park every event it publishes.
            log.error(
                "%s publishes as the broker user %s, but its events are accepted only from %s"
                " (PRM_BROKER_USER, PRM_BROKER_USER_PREFIX)",
                source,
                self.publisher.user,
                expected,
            )

    def close(self) -> None:
        self.publisher.close()

    def relay_once(self, limit: int = 200) -> int:
        """Publish up to ``limit`` pending events, oldest first; the number published."""
        published = 0
        with self.session_factory() as session:
            stmt = (
                select(OutboxEvent)
                .where(OutboxEvent.status == "pending")
                .order_by(OutboxEvent.id)
                .limit(limit)
            )
            if is_postgres(session):
                stmt = stmt.with_for_update(skip_locked=True)
            rows = session.scalars(stmt).all()
            if not rows:
                return 0
            try:
                if not self._declared:
                    self.publisher.declare(self.exchange)
                    self._declared = True
                # One batch, its confirms waited for once: the relay shares its process
                # with the service's workers, and a wait per event gave them the turn
                # between every two events.
                routed = self.publisher.publish_many(
                    [self._outgoing(row) for row in rows], exchange=self.exchange
                )
            except ConnectionError as exc:
                self._declared = False
                for row in rows:
                    row.attempts += 1
                    row.last_error = str(exc)[:1000]
                session.commit()
                raise
            now = utcnow()
            for row, took in zip(rows, routed, strict=True):
                row.status = "sent" if took else "unrouted"
                row.attempts += 1
                row.sent_at = now
                if took:
                    published += 1
                else:
                    log.warning("event %s (%s) had no queue", row.event_id, row.event_type)
            session.commit()
        return published

    @staticmethod
    def _outgoing(row: OutboxEvent) -> Outgoing:
        headers = {"nameko.event_id": row.event_id}
        request_id = row.payload.get(REQUEST_ID_KEY)
        if request_id:
            headers["nameko.request_id"] = request_id
        return Outgoing(row.payload, row.event_type, headers, {"message_id": row.event_id})

    def drain(self, limit: int = 200) -> int:
        """Publish until nothing is pending; the number published."""
        total = 0
        while True:
            count = self.relay_once(limit)
            total += count
            if count < limit:
                return total


class EventOutbox(DependencyProvider):
    """Runs the relay thread; injects ``wake()``, which units of work call after a commit
    that added events."""

    def setup(self) -> None:
        self.interval = float(self.container.config.get("OUTBOX_INTERVAL", 1.0))
        self._wake = threading.Event()
        self._running = False
        self.relay: OutboxRelay | None = None

    def start(self) -> None:
        database = dependency_named(self.container, "uow")
        self.relay = OutboxRelay(
            self.container.service_name, database.session, self.container.config
        )
        self._running = True
        self.container.spawn_managed_thread(self._run, identifier="outbox-relay")

    def stop(self) -> None:
        self._running = False
        self._wake.set()
        if self.relay is not None:
            self.relay.close()

    def kill(self) -> None:
        self.stop()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        backoff = self.interval
        while self._running:
            self._wake.wait(backoff)
            self._wake.clear()
            if not self._running:
                break
            try:
                self.relay.drain()
                backoff = self.interval
            except Exception as exc:
                log.warning("outbox relay of %s failed: %s", self.container.service_name, exc)
                backoff = min(max(backoff * 2, self.interval), 30.0)
            eventlet.sleep(0)

    def get_dependency(self, worker_ctx: Any) -> Callable[[], None]:
        """``wake()``: publish now what was committed (the units of work call it)."""
        return self.wake
