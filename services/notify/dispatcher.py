"""The delivery loop: a managed thread of the notify service that sends queued deliveries.

It wakes every ``PRM_DELIVERY_INTERVAL`` seconds, after each event that queued something,
and after each send, and claims what is due up to its free green threads. Each delivery
is sent in a green thread of its own with a hard time limit and recorded in a transaction
of its own, so a slow or failing target holds one thread and nothing else. Several
replicas share the work through the claim (see ``delivery.claim_due``).

The loop is no worker: each of its transactions is a ``UnitOfWork`` of its own, on a fresh
session of the service's database.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import eventlet
from eventlet.greenpool import GreenPool
from nameko.extensions import DependencyProvider
from sqlalchemy.orm import Session

from services.common.config import NotifySettings, get_secrets_keys, load_notify_settings
from services.common.db import dependency_named
from services.common.timeutil import utcnow
from services.common.unit_of_work import UnitOfWork
from services.notify import delivery
from services.notify.transport import DeliveryError, Job, send

log = logging.getLogger(__name__)

Sender = Callable[[Job, NotifySettings], None]


class Dispatcher:
    """Claims due deliveries and sends each in its own green thread."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        settings: NotifySettings,
        sender: Sender = send,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.sender = sender
        self.on_done = on_done
        self.pool = GreenPool(settings.concurrency)
        self.busy: Counter[int] = Counter()

    def run_once(self) -> int:
        """Claim what is due (as many as there are free threads) and start sending it;
        the number started."""
        slots = self.pool.free()
        if slots <= 0:
            return 0
        with self._unit() as uow:
            jobs = delivery.claim_due(uow, utcnow(), slots, self.settings, self.busy)
        for job in jobs:
            self.busy[job.channel_id] += 1
            self.pool.spawn_n(self._attempt, job)
        return len(jobs)

    def wait(self) -> None:
        """Until every started delivery is recorded."""
        self.pool.waitall()

    def drain(self, rounds: int = 100) -> None:
        """Send until nothing is due now (tests and tools)."""
        for _ in range(rounds):
            started = self.run_once()
            self.wait()
            if not started:
                return

    def _attempt(self, job: Job) -> None:
        try:
            error = self._send(job)
            self._record(job, error)
        except Exception:
            # The lease brings the delivery back; nothing else is lost.
            log.exception("delivery %s could not be recorded", job.delivery_id)
        finally:
            self.busy[job.channel_id] -= 1
            if self.busy[job.channel_id] <= 0:
                del self.busy[job.channel_id]
            if self.on_done is not None:
                self.on_done()

    def _send(self, job: Job) -> str | None:
        """None when the target took it; else why not."""
        hard_limit = self.settings.send_limit
        try:
            with eventlet.Timeout(hard_limit):
                self.sender(job, self.settings)
        except DeliveryError as exc:
            return str(exc) or type(exc).__name__
        except eventlet.Timeout:
            return f"timed out after {hard_limit:.0f} s"
        except Exception as exc:
            log.exception("delivery %s failed unexpectedly", job.delivery_id)
            return f"{type(exc).__name__}: {exc}"
        return None

    def _record(self, job: Job, error: str | None) -> None:
        with self._unit() as uow:
            now = utcnow()
            if error is None:
                delivery.record_success(uow, job, now)
            elif delivery.record_failure(uow, job, error, now, self.settings):
                log.warning("notification channel %s disabled: %s", job.channel_id, error)

    @contextmanager
    def _unit(self) -> Iterator[UnitOfWork]:
        """A unit of work on a session of its own, closed when done."""
        uow = UnitOfWork(self.session_factory, "notify")
        try:
            yield uow
        finally:
            uow.close()


class DeliveryLoop(DependencyProvider):
    """Runs the ``Dispatcher``; injects ``wake()``, which a use case calls once it has
    committed what it queued (the loop reads committed rows only)."""

    def setup(self) -> None:
        self.settings = load_notify_settings()
        get_secrets_keys()  # without the key that opens channel secrets, do not start at all
        self._wake = threading.Event()
        self._running = False
        self.dispatcher: Dispatcher | None = None

    def start(self) -> None:
        database = dependency_named(self.container, "uow")
        self.dispatcher = Dispatcher(database.session, self.settings, on_done=self._wake.set)
        self._running = True
        self.container.spawn_managed_thread(self._run, identifier="notify-deliveries")

    def stop(self) -> None:
        self._running = False
        self._wake.set()
        if self.dispatcher is not None:
            # Let sends in flight record their outcome; the lease covers any that cannot.
            with eventlet.Timeout(self.settings.delivery_timeout + 1, False):
                self.dispatcher.wait()

    def kill(self) -> None:
        self._running = False
        self._wake.set()

    def _run(self) -> None:
        while self._running:
            self._wake.wait(self.settings.delivery_interval)
            self._wake.clear()
            if not self._running:
                break
            try:
                self.dispatcher.run_once()
            except Exception as exc:
                log.warning("delivery loop failed: %s", exc)
            eventlet.sleep(0)

    def get_dependency(self, worker_ctx: Any) -> Callable[[], None]:
        return self._wake.set
