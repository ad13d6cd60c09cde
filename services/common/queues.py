"""The project's durable queues are quorum queues, and how an installation's older queues
are moved to them.

A classic queue lives on one RabbitMQ node: when that node is down nobody consumes it,
and when its disk is lost its messages are gone. A quorum queue is replicated over the
cluster's nodes (Raft) and goes on while a majority of them runs. So every durable queue
the project declares is one:

- an event handler's queue ``evt-<source>-<event>--<service>.<method>``: a message that
  keeps coming back without being settled is dead-lettered after ``DELIVERY_LIMIT``
  deliveries into ``prm.parked``, where the operator sees it (``manage.py parked``). That
  limit catches what the handlers' own count of attempts (``EVENT_MAX_ATTEMPTS``) cannot:
  a handler that raises hands the event back itself and counts the tries in the message,
  but a process that dies on the event, again and again, never gets to. The broker counts
  every return, also those of a connection lost or a process stopped while it held the
  message, so the limit is high;
- a service's RPC queue ``rpc-<service>``: a call delivered ``DELIVERY_LIMIT`` times
  without an answer is dropped (its caller timed out long ago);
- ``prm.parked``: no limit (listing it hands every message back).

The reply queues of calls and the gateway's listeners are exclusive or auto-deleted,
which quorum queues cannot be: they stay classic, and each is declared again by its
process when it reconnects.

A queue's type and arguments are fixed when it is declared: declaring it again with
others is refused (``PRECONDITION_FAILED``). An installation that ran with classic
queues has them moved (``ensure``, run by ``manage.py migrate``; ``manage.py broker
move-queues`` alone): a queue of the new kind is declared under a temporary name and
bound like the old one, the old one is drained into it and deleted, declared again
under its own name as it must be, and the temporary one drained back and deleted. Every
message is published again with the broker's confirm before the old copy is
acknowledged: none is lost; a move cut short is finished by the next run (``ensure``
finds the temporary queue). An event published while both an old and a new queue are
bound reaches both; handlers apply an event once (by its id), so the copy is skipped. The
old RPC queue is unbound before the new one is bound, so that a call is not in two queues
(a call in that instant is unroutable and refused at once as "service unavailable"); only
while a move cut short is being finished may one be. A queue that still has consumers is
not moved (their unacknowledged messages would go with it): the old processes must be
stopped first.

The copies are published by the operator's login, which the broker names as their
``user_id``: for an event it vouches for the sender the broker had checked on the
original (``moved_sender``), for a parked message it records who had parked it
(``PARKED_BY_HEADER``), so that a replay later believes no more than it would have
before the move.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import amqp
from amqp.exceptions import NotFound, PreconditionFailed
from kombu import Connection, Queue, binding

log = logging.getLogger(__name__)

#: How many times the broker delivers a message that comes back unsettled before it gives
#: up on it (dead-letters or drops it). Every return counts: a process that died on the
#: message, but also one that lost its connection, was stopped or restarted while it held
#: the message (up to its prefetch, 10 per queue), so the limit leaves room for many such
#: ordinary returns.
DELIVERY_LIMIT = 50
#: Where an event handler sends a failing event back to its own queue (routing key: the
#: queue's name), or parks it (``prm.parked``); where a handler's queue dead-letters.
RETRY_EXCHANGE = "prm.retry"
PARKED_QUEUE = "prm.parked"
#: The sender of an event as its handler verified it (``user_id``) when it first came: set
#: by the handler itself on the copies it sends back to its queue or parks, never believed
#: from anyone else (``entrypoints.EventHandler.sender_refused``); and by the operator's
#: commands that publish an event again (``moved_sender``).
SENDER_HEADER = "x-prm-sender"
#: Who put a message into ``prm.parked`` (its ``user_id`` then), written by the operator's
#: login when it moves the parked queue and publishes each message again under its own
#: user; believed only on a message whose ``user_id`` is the operator's (``parked_by``).
PARKED_BY_HEADER = "x-prm-parked-by"
#: A temporary queue's name during a move.
MOVING_SUFFIX = ".moving"

QUORUM = {"x-queue-type": "quorum"}
#: An event handler's queue.
HANDLER_ARGUMENTS = {
    **QUORUM,
    "x-delivery-limit": DELIVERY_LIMIT,
    "x-dead-letter-exchange": RETRY_EXCHANGE,
    "x-dead-letter-routing-key": PARKED_QUEUE,
    # Dead-lettered only once prm.parked has confirmed it (at-least-once needs
    # reject-publish; no length limit is set, so nothing is ever rejected for it).
    "x-dead-letter-strategy": "at-least-once",
    "x-overflow": "reject-publish",
}
#: A service's RPC queue.
RPC_ARGUMENTS = {**QUORUM, "x-delivery-limit": DELIVERY_LIMIT}
#: ``prm.parked``.
PARKED_ARGUMENTS = dict(QUORUM)


def is_handler_queue(name: str) -> bool:
    return name.startswith("evt-") and "--" in name


def dead_lettered_from(headers: dict[str, Any] | None) -> str | None:
    """The queue a message was dead-lettered from by the broker (its first ``x-death``
    entry); None for a message nobody dead-lettered."""
    deaths = (headers or {}).get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        queue = deaths[0].get("queue")
        return queue if isinstance(queue, str) else None
    return None


def parked_by(user_id: str | None, headers: dict[str, Any], operator: str | None) -> str | None:
    """Who put a message into ``prm.parked``: its ``user_id``, which the broker checked;
    for a copy the operator's login made when it moved the queue, the user the original
    had (``PARKED_BY_HEADER``, believed from the operator only)."""
    recorded = headers.get(PARKED_BY_HEADER)
    if operator and user_id == operator and isinstance(recorded, str) and recorded:
        return recorded
    return user_id


class QueueInUse(RuntimeError):
    """A queue to move still has consumers; the message says whose."""


class WrongLogin(RuntimeError):
    """The queues would be moved by a login whose copies the services do not accept."""


@dataclass
class Moved:
    queue: str
    messages: int


def _bindings(queue: Queue) -> list[Any]:
    if queue.bindings:
        return list(queue.bindings)
    return [binding(queue.exchange, routing_key=queue.routing_key)]


def _renamed(queue: Queue, name: str) -> Queue:
    """``queue``'s definition under ``name``: the same arguments, bound as it is (with
    the same keys, also its own name on the retry exchange, where a handler sends its
    retries)."""
    return Queue(
        name,
        bindings=_bindings(queue),
        durable=True,
        queue_arguments=dict(queue.queue_arguments or {}),
    )


def moved_sender(
    queue: str, user_id: str | None, headers: dict[str, Any], prefix: str | None, mover: str
) -> str | None:
    """The sender a message of handler queue ``queue`` is vouched for with when the
    operator's login ``mover`` publishes it again (its consumers accept the operator's
    copies with that sender, ``entrypoints.EventHandler.sender_refused``): the one its
    consumer recorded when the consumer itself sent it back for a retry, or the one the
    operator vouched for before; else the user that published it, which the broker
    checked. Never a header anyone else wrote."""
    from services.common.broker import parked_by_its_consumer

    recorded = headers.get(SENDER_HEADER)
    if parked_by_its_consumer(queue, user_id, prefix) or (user_id == mover and recorded):
        return recorded if isinstance(recorded, str) else None
    return user_id


class QueueMover:
    """Declares the project's queues as they must be on ``connection``, whose login may
    configure every queue (the operator's), moving any that exists in another shape.
    ``prefix``: the processes' user prefix (``PRM_BROKER_USER_PREFIX``), by which the
    senders of moved events are told (``moved_sender``); ``operator``: the login whose
    copies the handlers accept (``PRM_BROKER_OPERATOR_USER``), which must be this one."""

    def __init__(
        self, connection: Connection, prefix: str | None, operator: str | None = None
    ) -> None:
        self.connection = connection
        self.prefix = prefix
        self.user = connection.userid or "guest"
        self.operator = operator

    @contextlib.contextmanager
    def _channel(self) -> Iterator[Any]:
        channel = self.connection.channel()
        try:
            yield channel
        finally:
            with contextlib.suppress(Exception):  # a refused declare closed it already
                channel.close()

    def ensure(self, queue: Queue) -> Moved | None:
        """Declare ``queue``; when it exists with another type or other arguments, move it
        first; when a move of it was cut short (its temporary queue is still there),
        finish it. What was moved (None: nothing)."""
        try:
            with self._channel() as channel:
                queue(channel).declare()
        except PreconditionFailed as exc:
            log.warning("queue %s exists in another shape (%s): moving it", queue.name, exc)
            return self.move(queue)
        temporary = _renamed(queue, queue.name + MOVING_SUFFIX)
        if not self._exists(temporary.name):
            return None
        log.warning("queue %s: finishing a move that was cut short", queue.name)
        self._check_login(queue.name)
        self._switch(temporary, queue, is_handler_queue(queue.name))
        count = self._drain(temporary.name, queue.name)
        self._delete(temporary.name)
        return Moved(queue.name, count)

    def move(self, queue: Queue) -> Moved:
        """Move ``queue`` to the shape it is given (see the module's docstring)."""
        with self._channel() as channel:
            _, _, consumers = channel.queue_declare(queue.name, passive=True)
        if consumers:
            raise QueueInUse(
                f"queue {queue.name} has {consumers} consumer(s): stop the processes that"
                " consume it (and the old version's) before its type is changed"
            )
        self._check_login(queue.name)
        temporary = _renamed(queue, queue.name + MOVING_SUFFIX)
        overlap = is_handler_queue(queue.name)
        # Each step may be repeated after a crash: declaring and unbinding again change
        # nothing, and ``ensure`` finishes a move whose old queue is already gone.
        self._switch(queue, temporary, overlap)
        count = self._drain(queue.name, temporary.name)
        self._delete(queue.name)
        self._switch(temporary, queue, overlap)
        self._drain(temporary.name, queue.name)
        self._delete(temporary.name)
        log.warning("moved queue %s (%d message(s))", queue.name, count)
        return Moved(queue.name, count)

    def _check_login(self, name: str) -> None:
        if self.operator and self.operator != self.user:
            raise WrongLogin(
                f"queue {name} would be moved by {self.user}, whose copies of events the"
                f" services do not accept (PRM_BROKER_OPERATOR_USER is {self.operator}):"
                " run this as that login"
            )

    def _exists(self, name: str) -> bool:
        try:
            with self._channel() as channel:
                channel.queue_declare(name, passive=True)
        except NotFound:
            return False
        return True

    def _switch(self, old: Queue, new: Queue, overlap: bool) -> None:
        """Messages go to ``new`` instead of ``old``: with ``overlap`` to both for an
        instant (never to neither), else to neither for an instant (never to both)."""
        with self._channel() as channel:
            if overlap:
                new(channel).declare()
            for bound in _bindings(old):
                channel.queue_unbind(old.name, bound.exchange.name, bound.routing_key or "")
            if not overlap:
                new(channel).declare()

    def _delete(self, name: str) -> None:
        with self._channel() as channel:
            channel.queue_delete(name)

    def _drain(self, source: str, target: str) -> int:
        """Every message of ``source`` published into ``target`` (default exchange) with
        the broker's confirm, then acknowledged in ``source``."""
        moved = 0
        with self._channel() as channel:
            channel.confirm_select()
            while (message := channel.basic_get(source, no_ack=False)) is not None:
                self._copy(channel, message, source, target)
                moved += 1
        return moved

    def _copy(self, channel: Any, message: Any, source: str, target: str) -> None:
        properties = dict(message.properties)
        headers = dict(properties.pop("application_headers", None) or {})
        # Published again as this login (the broker refuses another user's user_id); the
        # sender is vouched for on the way out of the old queue (the temporary one holds
        # the operator's copies already).
        user_id = properties.pop("user_id", None)
        properties["user_id"] = self.user
        if is_handler_queue(source):
            sender = moved_sender(source, user_id, headers, self.prefix, self.user)
            headers.pop(SENDER_HEADER, None)
            headers.pop(PARKED_BY_HEADER, None)
            if sender:
                headers[SENDER_HEADER] = sender
        elif source.removesuffix(MOVING_SUFFIX) == PARKED_QUEUE:
            # Who parked it decides what a replay may vouch for: kept, as the broker had
            # checked it, for the copy this login publishes (``parked_by``).
            original = parked_by(user_id, headers, self.user)
            headers.pop(PARKED_BY_HEADER, None)
            if original:
                headers[PARKED_BY_HEADER] = original
        properties["application_headers"] = headers
        properties.setdefault("delivery_mode", 2)
        channel.basic_publish_confirm(
            amqp.Message(message.body, **properties), exchange="", routing_key=target
        )
        channel.basic_ack(message.delivery_tag)
