"""Entrypoints that keep our promises on top of Nameko's.

Each worker's transaction is its unit of work's (``unit_of_work``): the use case commits
it, so it is committed before the reply is sent or the event acknowledged. At that commit
the unit of work asks the entry point what to save with the effect (``save_with_effect``).

- ``rpc``: refuses a call whose caller context is missing, forged, expired or bound to
  another call (``context.verify_call``) before any worker runs; a database that cannot
  be reached answers ``service_unavailable`` (503: try again), not an internal error.
  ``@rpc(idempotent=True)`` honours the caller's idempotency key (``idempotency``): the
  answer is saved with the effect.
- ``event_handler``: accepts an event only from its source service's broker user (the
  AMQP ``user_id``, which RabbitMQ checks), and parks anything else at once with the
  reason, writing nothing; acts as the system; skips an event it has already applied; records
  the event id in the transaction of the effect; acknowledges after the commit; and when
  the handler fails, retries with back-off and after N tries parks the message in
  ``prm.parked`` where an operator sees it and can replay it (``manage.py parked``);
  a failure of another service, the database or the broker is retried until it passes.
- ``timer``: acts as the system.
"""

from __future__ import annotations

import inspect
import logging
import sys
import time
from functools import partial
from typing import Any

import eventlet
from amqp.exceptions import ConnectionError as AmqpConnectionError
from amqp.exceptions import MessageNacked
from kombu import Exchange, Queue, binding
from kombu.exceptions import OperationalError
from nameko.events import SERVICE_POOL
from nameko.events import EventHandler as NamekoEventHandler
from nameko.exceptions import ContainerBeingKilled, IncorrectSignature, MalformedRequest
from nameko.rpc import Rpc as NamekoRpc
from nameko.rpc import RpcConsumer as NamekoRpcConsumer
from nameko.standalone.events import get_event_exchange
from nameko.timer import Timer as NamekoTimer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.amqp import ConfirmingPublisher, Unroutable
from services.common.broker import RETRY_EXCHANGE, expected_sender, referred
from services.common.config import broker_settings
from services.common.context import CALLER_KEY, CallBinding, received_digest, verify_call
from services.common.db import DATABASE_AWAY, dependency_named
from services.common.errors import AppError, ServiceTimeout, ServiceUnavailable
from services.common.idempotency import key_of, remember, replay
from services.common.models import ProcessedEvent
from services.common.nameko_patch import BROKER_LOST
from services.common.queues import HANDLER_ARGUMENTS, PARKED_QUEUE, RPC_ARGUMENTS, SENDER_HEADER
from services.common.sealing import SealedValueUnreadable
from services.common.timeutil import iso, utcnow

log = logging.getLogger(__name__)

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
    MessageNacked,
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


class RpcConsumer(NamekoRpcConsumer):
    """Nameko's, binding the service's queue to ``nameko-rpc`` without declaring the
    exchange: ``manage.py migrate`` declared it, and a service may not (services/common/
    broker.py)."""

    def setup(self) -> None:
        super().setup()
        self.queue = Queue(
            self.queue.name,
            exchange=referred(self.queue.exchange),
            routing_key=self.queue.routing_key,
            durable=True,
            queue_arguments=RPC_ARGUMENTS,
        )


class Rpc(NamekoRpc):
    rpc_consumer = RpcConsumer()

    def __init__(
        self, expected_exceptions: Any = AppError, idempotent: bool = False, **kwargs: Any
    ) -> None:
        self.idempotent = idempotent
        self._signature: inspect.Signature | None = None
        super().__init__(expected_exceptions=expected_exceptions, **kwargs)

    def handle_message(self, body: Any, message: Any) -> None:
        # Raising here makes Nameko's consumer answer with the error; no worker runs.
        context_data = self.unpack_message_headers(message)
        verify_call(context_data.get(CALLER_KEY), self.binding_of(body, message))
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

    def check_signature(self, args: Any, kwargs: Any) -> None:
        """Nameko's check that the arguments fit the method (IncorrectSignature), with the
        method's signature read once, not inspected anew on every call."""
        if self._signature is None:
            method = getattr(self.container.service_cls, self.method_name)
            self._signature = inspect.signature(method)
        try:
            self._signature.bind(None, *args, **kwargs)  # None: the unbound method's self
        except TypeError as exc:
            raise IncorrectSignature(str(exc)) from None

    def binding_of(self, body: Any, message: Any) -> CallBinding:
        """The call this message is: the caller's token must be bound to it (the method
        that would run, the message's correlation id, the digest of its arguments)."""
        args, kwargs = (
            (body.get("args"), body.get("kwargs")) if isinstance(body, dict) else (None, None)
        )
        return CallBinding(
            self.container.service_name,
            self.method_name,
            str(message.properties.get("correlation_id") or ""),
            received_digest(args, kwargs),
        )

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


def retry_exchange() -> Exchange:
    """Where a handler sends a failing event back to its own queue (routing key: the
    queue's name) or parks it (``prm.parked``): a topic exchange, so that the broker lets
    each service reach its own queues only (services/common/broker.py)."""
    return Exchange(RETRY_EXCHANGE, type="topic", durable=True)


def handler_queue(
    name: str,
    source_exchange: Exchange,
    event_type: str,
    retry: Exchange | None = None,
    **options: Any,
) -> Queue:
    """A handler's queue, a quorum queue (services/common/queues.py), bound to its
    source's event exchange and, by its own name, to the retry exchange (``retry``:
    ``retry_exchange()`` when not given)."""
    return Queue(
        name,
        bindings=[
            binding(source_exchange, routing_key=event_type),
            binding(retry or retry_exchange(), routing_key=name),
        ],
        durable=True,
        queue_arguments=HANDLER_ARGUMENTS,
        **options,
    )


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
        broker = broker_settings()
        prefix = config.get("BROKER_USER_PREFIX", broker.user_prefix)
        #: Whose events these are (``user_id``); and who may send them back to the queue
        #: with the sender they had (this handler's own user: its retries; the operator's:
        #: ``manage.py parked replay``).
        self.expected_sender = expected_sender(self.source_service, prefix, self.publisher.user)
        self.relayers = {self.publisher.user}
        operator = config.get("BROKER_OPERATOR_USER", broker.operator_user)
        if operator:
            self.relayers.add(operator)
        # Bound to exchanges that ``manage.py migrate`` declared: referred to, not declared
        # (the service's login may not configure them).
        self.queue = handler_queue(
            self.queue.name,
            referred(self.queue.exchange),
            self.event_type,
            retry=referred(retry_exchange()),
            auto_delete=self.queue.auto_delete,
            exclusive=self.queue.exclusive,
        )

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

    def sender_refused(self, message: Any) -> str | None:
        """Why the event's sender is not its source service (None: it is). The ``user_id``
        is the broker's word (it refuses a publish naming another user); the sender header
        counts only on a copy this handler (or the operator) sent back."""
        properties = message.properties or {}
        user_id = properties.get("user_id")
        headers = message.headers or {}
        if user_id == self.expected_sender:
            return None
        if user_id in self.relayers and headers.get(SENDER_HEADER) == self.expected_sender:
            return None
        return (
            f"sender refused: {self.source_service} events come from {self.expected_sender},"
            f" this one from {user_id or 'no user_id'}"
        )

    def handle_message(self, body: Any, message: Any) -> None:
        refused = self.sender_refused(message)
        if refused is not None:
            log.error("%s: %s", self.handler_key, refused)
            try:
                self._park(message, refused, attempts=0, sender=False)
            except Exception as exc:
                log.error("%s: parking failed (%s); requeueing", self.handler_key, exc)
                self.queue_consumer.requeue_message(message)
                return
            self.queue_consumer.ack_message(message)
            return
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
                        SENDER_HEADER: self.expected_sender,
                    }
                )
                self.publisher.publish(
                    message.payload,
                    exchange=retry_exchange(),
                    routing_key=self.queue.name,
                    headers=headers,
                )
        except Exception as publish_exc:
            # Could not re-publish: give the message back to the broker rather than lose it.
            log.error("%s: retry publish failed (%s); requeueing", self.handler_key, publish_exc)
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)

    def _park(self, message: Any, error: str, attempts: int, sender: bool = True) -> None:
        """Park ``message``; with ``sender`` False its sender was refused, and the copy says
        so (no sender header; the ``user_id`` it came with is shown either way)."""
        headers = dict(message.headers or {})
        headers.pop(SENDER_HEADER, None)
        headers.update(
            {
                ATTEMPTS_HEADER: attempts,
                "x-prm-last-error": error,
                "x-prm-queue": self.queue.name,
                "x-prm-parked-at": iso(utcnow()),
                "x-prm-user-id": (message.properties or {}).get("user_id") or "",
            }
        )
        if sender:
            headers[SENDER_HEADER] = self.expected_sender
        # Published only: ``manage.py migrate`` declared prm.parked and bound it to prm.retry
        # (a service may neither, nor read it).
        try:
            self.publisher.publish(
                message.payload,
                exchange=referred(retry_exchange()),
                routing_key=PARKED_QUEUE,
                headers=headers,
            )
        except Unroutable as exc:
            raise Unroutable(f"{PARKED_QUEUE} is missing (declared by manage.py migrate)") from exc
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
                    handler_queue(
                        handler_queue_name(
                            entrypoint.source_service,
                            entrypoint.event_type,
                            service_cls.name,
                            name,
                        ),
                        get_event_exchange(entrypoint.source_service, config),
                        entrypoint.event_type,
                    )
                )
    return queues
