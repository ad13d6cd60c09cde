"""Publishing that knows whether a message was stored and routed, and says who sent it.

Every publish waits for the broker's confirm (a batch for all of its confirms at once) and
is ``mandatory``: a message no queue
takes is reported back (``Unroutable``) instead of being dropped without a word. Every
message carries the AMQP ``user_id`` of the connection's user, which RabbitMQ checks (it
refuses a publish naming another user), so that consumers can trust it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from amqp.exceptions import AMQPError
from kombu import Connection, Exchange, Producer
from kombu.exceptions import OperationalError

from services.common.config import amqp_ssl, uri_user

PERSISTENT = 2
_BROKER_ERRORS = (OperationalError, OSError, ConnectionError, AMQPError)


class Unroutable(Exception):
    """The broker took the message but no queue was bound for its routing key."""


@dataclass(frozen=True)
class Outgoing:
    """One message of a batch: body (JSON), routing key, headers and AMQP properties."""

    body: Any
    routing_key: str
    headers: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)


class ConfirmingPublisher:
    """One connection, used under a lock, re-opened after any failure."""

    def __init__(
        self, amqp_uri: str, connect_timeout: float = 5.0, confirm_timeout: float = 30.0
    ) -> None:
        self.amqp_uri = amqp_uri
        #: How long a publish waits for the broker's confirm (a quorum queue that just lost
        #: its leader confirms once another leads): then it counts as a lost connection.
        self.confirm_timeout = confirm_timeout
        #: The connection's user: the ``user_id`` of every message published.
        self.user = uri_user(amqp_uri)
        self.connect_timeout = connect_timeout
        #: TLS options: for amqps://, the broker's certificate must name its host.
        self.ssl = amqp_ssl(amqp_uri)
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._returned: list[str | None] = []
        #: Delivery tags of the channel: messages published on it so far, and those the
        #: broker has not confirmed yet; whether it refused one of the current batch.
        self._published = 0
        self._unconfirmed: set[int] = set()
        self._nacked = False

    def _ensure(self) -> Producer:
        if self._producer is None:
            # Confirms are asked for here and waited for by ``publish_many``, once for a
            # whole batch (py-amqp's ``confirm_publish`` waits after every message).
            connection = Connection(
                self.amqp_uri,
                connect_timeout=self.connect_timeout,
                ssl=dict(self.ssl) if self.ssl else None,
            )
            connection.ensure_connection(max_retries=1)
            channel = connection.channel()
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_confirm)
            channel.events["basic_nack"].add(self._on_nack)
            self._published = 0
            self._unconfirmed = set()
            self._connection = connection
            self._producer = Producer(channel, on_return=self._on_return)
        return self._producer

    def _on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        self._returned.append((getattr(message, "properties", None) or {}).get("message_id"))

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail too
                self._connection.release()
        self._connection = None
        self._producer = None

    def _lost_or_bug(self, exc: AttributeError, what: str) -> None:
        """py-amqp raises ``AttributeError`` when its socket went away under it (its
        transport is ``None``): that is a lost broker. With the connection still up it is a
        bug in the caller's code, and must surface as one, not as "try again"."""
        connection = self._connection
        lost = connection is None or not connection.connected
        self._close()
        if lost:
            raise ConnectionError(f"{what} failed, the connection is gone: {exc}") from exc
        raise exc

    def declare(self, *entities: Exchange) -> None:
        with self._lock:
            try:
                producer = self._ensure()
                for entity in entities:
                    entity.declare(channel=producer.channel)
            except _BROKER_ERRORS as exc:
                self._close()
                raise ConnectionError(f"declare failed: {exc}") from exc
            except AttributeError as exc:
                self._lost_or_bug(exc, "declare")

    def publish(
        self,
        body: Any,
        *,
        exchange: Exchange | str = "",
        routing_key: str,
        headers: dict[str, Any] | None = None,
        mandatory: bool = True,
        **properties: Any,
    ) -> None:
        """Publish and wait for the confirm; raise ``Unroutable`` or a connection error."""
        message = Outgoing(body, routing_key, headers or {}, properties)
        if not self.publish_many([message], exchange=exchange, mandatory=mandatory)[0]:
            raise Unroutable(routing_key)

    def publish_many(
        self,
        messages: Sequence[Outgoing],
        *,
        exchange: Exchange | str = "",
        mandatory: bool = True,
    ) -> list[bool]:
        """Publish every message, then wait once for the broker's confirms of them all;
        for each message, whether a queue took it (``False``: unroutable). Raises a
        connection error when the connection is lost, a confirm does not come within
        ``confirm_timeout`` or the broker refuses any of them (``basic.nack``): then none
        counts as sent, and sending them again is safe for consumers that know an event
        by its id. Messages of a batch of more than one need distinct ``message_id``s,
        by which a returned message is known."""
        if len(messages) > 1 and len({m.properties.get("message_id") for m in messages}) < len(
            messages
        ):
            raise ValueError("each message of a batch needs its own message_id")
        with self._lock:
            try:
                producer = self._ensure()
                self._returned.clear()
                self._nacked = False
                for message in messages:
                    properties = dict(message.properties)
                    properties.setdefault("user_id", self.user)
                    producer.publish(
                        message.body,
                        exchange=exchange,
                        routing_key=message.routing_key,
                        headers=message.headers or {},
                        mandatory=mandatory,
                        serializer="json",
                        delivery_mode=PERSISTENT,
                        retry=False,
                        **properties,
                    )
                    self._published += 1
                    self._unconfirmed.add(self._published)
                self._wait_for_confirms()
            except _BROKER_ERRORS as exc:
                self._close()
                raise ConnectionError(f"publish failed: {exc}") from exc
            except AttributeError as exc:
                self._lost_or_bug(exc, "publish")
            except Exception:
                self._close()
                raise
            if self._nacked:
                # The broker did not take one (a queue without a leader that instant):
                # try again as after a lost connection.
                raise ConnectionError("the broker did not take a message (nack)")
            returned, self._returned = self._returned, []
            if len(messages) == 1:
                return [not returned]
            gone = set(returned)
            return [m.properties.get("message_id") not in gone for m in messages]

    def _wait_for_confirms(self) -> None:
        """Read the connection until every message published is confirmed (``basic.ack``
        or ``basic.nack``, each for one delivery tag or, ``multiple``, for every tag up to
        it); a timeout after ``confirm_timeout``."""
        deadline = time.monotonic() + self.confirm_timeout
        while self._unconfirmed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no confirm within {self.confirm_timeout} s")
            assert self._connection is not None
            self._connection.drain_events(timeout=remaining)

    def _on_confirm(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self._unconfirmed = {tag for tag in self._unconfirmed if tag > delivery_tag}
        else:
            self._unconfirmed.discard(delivery_tag)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._nacked = True
        self._on_confirm(delivery_tag, multiple)
