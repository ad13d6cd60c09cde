"""Entrypoints that keep our promises on top of Nameko's.

Each worker's transaction is its unit of work's (``unit_of_work``): the use case commits
it, so it is committed before the reply is sent or the event acknowledged. At that commit
the unit of work asks the entry point what to save with the effect (``save_with_effect``).

- ``rpc``: refuses a call whose caller context is missing or forged before any worker
  runs; a database that cannot be reached answers ``service_unavailable`` (503: try
  again), not an internal error. ``@rpc(idempotent=True)`` honours the caller's
  idempotency key (``idempotency``): the answer is saved with the effect.
- ``event_handler``: acts as the system; skips an event it has already applied; records
  the event id in the transaction of the effect; acknowledges after the commit; and when
  the handler fails, retries with back-off and after N tries parks the message in
  ``prm.parked`` where an operator sees it and can replay it (``manage.py parked``);
  a failure of another service, the database or the broker is retried until it passes.
- ``timer``: acts as the system.
"""

from __future__ import annotations

import logging
import sys
import time
from functools import partial
from typing import Any

import eventlet
from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu import Queue
from kombu.exceptions import OperationalError
from nameko.events import SERVICE_POOL
from nameko.events import EventHandler as NamekoEventHandler
from nameko.exceptions import ContainerBeingKilled, MalformedRequest
from nameko.rpc import Rpc as NamekoRpc
from nameko.standalone.events import get_event_exchange
from nameko.timer import Timer as NamekoTimer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.amqp import ConfirmingPublisher
from services.common.context import CALLER_KEY, verify_caller
from services.common.db import DATABASE_AWAY, dependency_named
from services.common.errors import AppError, ServiceTimeout, ServiceUnavailable
from services.common.idempotency import key_of, remember, replay
from services.common.models import ProcessedEvent
from services.common.nameko_patch import BROKER_LOST
from services.common.sealing import SealedValueUnreadable
from services.common.timeutil import iso, utcnow

log = logging.getLogger(__name__)

PARKED_QUEUE = "prm.parked"
ATTEMPTS_HEADER = "x-prm-attempts"
#: When the event first failed (Unix seconds): bounds how long transient failures are retried.
FAILING_SINCE_HEADER = "x-prm-failing-since"

#: Failures that say nothing about the event: another service, the database or the broker
#: is away for a moment, or a stored secret waits for its key to be put back. They are
#: retried (with back-off, at most every 30 s) until they pass or until
#: ``EVENT_RETRY_LIMIT`` seconds (a day by default) have gone by since the first failure:
#: then the event is parked, so that an outage nobody mends shows among the parked events
#: instead of circling unseen.
TRANSIENT = (
    ServiceUnavailable,
    ServiceTimeout,
    *DATABASE_AWAY,
    SealedValueUnreadable,
    AmqpConnectionError,
    OperationalError,
    ConnectionError,
)


def _unavailable(service: str, exc: BaseException) -> ServiceUnavailable | None:
    """What the caller is told (503) when a call failed for no fault of its own."""
    if isinstance(exc, DATABASE_AWAY):
        return ServiceUnavailable(
            f"the {service} service could not use its database just now; try again"
        )
    if isinstance(exc, SealedValueUnreadable):
        return ServiceUnavailable(
            f"the {service} service cannot open a stored secret with its keys"
            " (PRM_SECRETS_KEY); an operator must mend it"
        )
    return None


class Rpc(NamekoRpc):
    def __init__(
        self, expected_exceptions: Any = AppError, idempotent: bool = False, **kwargs: Any
    ) -> None:
        self.idempotent = idempotent
        super().__init__(expected_exceptions=expected_exceptions, **kwargs)

    def handle_message(self, body: Any, message: Any) -> None:
        # Raising here makes Nameko's consumer answer with the error; no worker runs.
        context_data = self.unpack_message_headers(message)
        verify_caller(context_data.get(CALLER_KEY))
        try:
            args, kwargs = body["args"], body["kwargs"]
        except (KeyError, TypeError):
            raise MalformedRequest("Message missing `args` or `kwargs`") from None
        self.check_signature(args, kwargs)
        try:
            worker_ctx = self.container.spawn_worker(
                self,
                args,
                kwargs,
                context_data=context_data,
                handle_result=partial(self.handle_result, message),
            )
        except ContainerBeingKilled:
            # As Nameko does: the call goes back to the queue for another replica (or this
            # one, restarted) rather than being answered with an error.
            self.rpc_consumer.requeue_message(message)
            return
        # Read by ``save_with_effect`` at the worker's commit (the worker has not run yet:
        # a green thread starts when this one yields).
        worker_ctx.idempotency_key = key_of(message) if self.idempotent else None

    def save_with_effect(self, worker_ctx: Any, session: Session, answer: Any) -> None:
        """Called by the unit of work at its commit: the answer to the call's key is saved
        in the transaction of its effect."""
        key = getattr(worker_ctx, "idempotency_key", None)
        if key is not None:
            remember(session, worker_ctx, key, answer)

    def handle_result(self, message: Any, worker_ctx: Any, result: Any, exc_info: Any) -> Any:
        key = getattr(worker_ctx, "idempotency_key", None)
        if key is not None and exc_info is not None:
            # Failed, or a call with the same key committed first: answer as that one did.
            database = dependency_named(self.container, "uow")
            result, exc_info = replay(database.session, worker_ctx, key) or (result, exc_info)
        if exc_info is not None:
            result = None
            away = _unavailable(self.container.service_name, exc_info[1])
            if away is not None:
                log.warning("%s: %s (%s)", worker_ctx.call_id, away, exc_info[1])
                exc_info = (ServiceUnavailable, away, exc_info[2])
        try:
            return super().handle_result(message, worker_ctx, result, exc_info)
        except BROKER_LOST as exc:
            # The work is committed; only the reply is lost, and the caller's timeout says
            # so. Raising here would kill the container and every call it is serving.
            log.warning("%s: reply lost with the broker connection: %s", worker_ctx.call_id, exc)
            return result, exc_info


rpc = Rpc.decorator


def handler_queue_name(source: str, event_type: str, service: str, method: str) -> str:
    """Nameko's name for a service-pool handler queue."""
    return f"evt-{source}-{event_type}--{service}.{method}"


class EventHandler(NamekoEventHandler):
    acts_as_system = True

    def __init__(self, source_service: str, event_type: str, **kwargs: Any) -> None:
        kwargs.setdefault("expected_exceptions", AppError)
        super().__init__(
            source_service,
            event_type,
            handler_type=SERVICE_POOL,
            reliable_delivery=True,
            requeue_on_error=False,
            **kwargs,
        )

    def setup(self) -> None:
        super().setup()
        config = self.container.config
        self.handler_key = f"{self.container.service_name}.{self.method_name}"
        self.max_attempts = int(config.get("EVENT_MAX_ATTEMPTS", 5))
        self.retry_delay = float(config.get("EVENT_RETRY_DELAY", 0.5))
        self.retry_limit = float(config.get("EVENT_RETRY_LIMIT", 86400))
        self.publisher = ConfirmingPublisher(config["AMQP_URI"])

    def stop(self) -> None:
        self.publisher.close()
        super().stop()

    def _already_processed(self, event_id: str) -> bool:
        with dependency_named(self.container, "uow").session() as session:
            found = session.scalar(
                select(ProcessedEvent.event_id).where(
                    ProcessedEvent.event_id == event_id,
                    ProcessedEvent.handler == self.handler_key,
                )
            )
        return found is not None

    def handle_message(self, body: Any, message: Any) -> None:
        event_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(event_id, str):
            self._park(message, "event without an id", attempts=0)
            self.queue_consumer.ack_message(message)
            return
        try:
            if self._already_processed(event_id):
                log.info("%s: event %s already applied", self.handler_key, event_id)
                self.queue_consumer.ack_message(message)
                return
        except Exception as exc:
            log.warning("%s: could not check event %s: %s", self.handler_key, event_id, exc)
            self._retry_or_park(message, exc)
            return
        super().handle_message(body, message)

    def save_with_effect(self, worker_ctx: Any, session: Session, answer: Any) -> None:
        """Called by the unit of work at its commit: the event is marked applied in the
        transaction of its effect, so that a redelivery never applies it twice."""
        session.add(ProcessedEvent(event_id=worker_ctx.args[0]["id"], handler=self.handler_key))

    def handle_result(
        self, message: Any, worker_ctx: Any, result: Any = None, exc_info: Any = None
    ) -> Any:
        if exc_info is None:
            exc_info = self._mark_if_nothing_committed(worker_ctx)
        if (
            exc_info is not None
            and isinstance(exc_info[1], IntegrityError)
            and (self._already_processed(worker_ctx.args[0]["id"]))
        ):
            log.info("%s: event applied concurrently elsewhere", self.handler_key)
            exc_info = None
        if exc_info is None:
            self.queue_consumer.ack_message(message)
        else:
            self._retry_or_park(message, exc_info[1])
        return result, exc_info

    def _mark_if_nothing_committed(self, worker_ctx: Any) -> Any:
        """A handler that had nothing to change committed nothing: mark the event applied on
        its own, so that a redelivery is skipped like any other. (Had it changed anything,
        its commit would have marked it with the change.)"""
        works = dependency_named(self.container, "uow")
        work = works.work_of(worker_ctx)
        if work is not None and work.saved_with_effect:
            return None
        try:
            with works.session() as session:
                self.save_with_effect(worker_ctx, session, None)
                session.commit()
        except Exception:
            return sys.exc_info()
        return None

    def _retry_or_park(self, message: Any, exc: BaseException) -> None:
        headers = dict(message.headers or {})
        attempts = int(headers.get(ATTEMPTS_HEADER, 0)) + 1
        failing_since = float(headers.get(FAILING_SINCE_HEADER) or time.time())
        error = f"{type(exc).__name__}: {exc}"[:1000]
        try:
            if attempts >= self.max_attempts and not isinstance(exc, TRANSIENT):
                self._park(message, error, attempts)
            elif time.time() - failing_since >= self.retry_limit:
                self._park(
                    message, f"still failing after {self.retry_limit:.0f} s: {error}", attempts
                )
            else:
                eventlet.sleep(min(self.retry_delay * 2 ** (min(attempts, 8) - 1), 30.0))
                headers.update(
                    {
                        ATTEMPTS_HEADER: attempts,
                        FAILING_SINCE_HEADER: failing_since,
                        "x-prm-last-error": error,
                    }
                )
                self.publisher.publish(
                    message.payload, routing_key=self.queue.name, headers=headers
                )
        except Exception as publish_exc:
            # Could not re-publish: give the message back to the broker rather than lose it.
            log.error("%s: retry publish failed (%s); requeueing", self.handler_key, publish_exc)
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)

    def _park(self, message: Any, error: str, attempts: int) -> None:
        headers = dict(message.headers or {})
        headers.update(
            {
                ATTEMPTS_HEADER: attempts,
                "x-prm-last-error": error,
                "x-prm-queue": self.queue.name,
                "x-prm-parked-at": iso(utcnow()),
            }
        )
        self.publisher.declare(Queue(PARKED_QUEUE, durable=True))
        self.publisher.publish(message.payload, routing_key=PARKED_QUEUE, headers=headers)
        log.error("%s: parked message after %d attempts: %s", self.handler_key, attempts, error)


event_handler = EventHandler.decorator


class Timer(NamekoTimer):
    acts_as_system = True


timer = Timer.decorator


def event_queues(service_cls: type, config: dict) -> list[Queue]:
    """The durable queues of ``service_cls``'s event handlers, bound to their exchanges.

    Declared at deploy time (``manage.py migrate``) so that no event is published before
    the queue that should keep it exists.
    """
    queues = []
    for name in dir(service_cls):
        for entrypoint in getattr(getattr(service_cls, name), "nameko_entrypoints", ()):
            if isinstance(entrypoint, EventHandler):
                queues.append(
                    Queue(
                        handler_queue_name(
                            entrypoint.source_service,
                            entrypoint.event_type,
                            service_cls.name,
                            name,
                        ),
                        exchange=get_event_exchange(entrypoint.source_service, config),
                        routing_key=entrypoint.event_type,
                        durable=True,
                    )
                )
    return queues
