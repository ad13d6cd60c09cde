"""Publishing that knows whether a message was stored and routed, and says who sent it.

Every publish waits for the broker's confirm and is ``mandatory``: a message no queue
takes is reported back (``Unroutable``) instead of being dropped without a word. Every
message carries the AMQP ``user_id`` of the connection's user, which RabbitMQ checks (it
refuses a publish naming another user), so that consumers can trust it.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from amqp.exceptions import AMQPError, MessageNacked
from kombu import Connection, Exchange, Producer
from kombu.exceptions import OperationalError

from services.common.config import amqp_ssl, uri_user

PERSISTENT = 2
_BROKER_ERRORS = (OperationalError, OSError, ConnectionError, AMQPError)


class Unroutable(Exception):
    """The broker took the message but no queue was bound for its routing key."""


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
        self._returned: list[str] = []

    def _ensure(self) -> Producer:
        if self._producer is None:
            connection = Connection(
                self.amqp_uri,
                transport_options={"confirm_publish": True},
                connect_timeout=self.connect_timeout,
                ssl=dict(self.ssl) if self.ssl else None,
            )
            connection.ensure_connection(max_retries=1)
            channel = connection.channel()
            self._connection = connection
            self._producer = Producer(channel, on_return=self._on_return)
        return self._producer

    def _on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        self._returned.append(routing_key)

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
        properties.setdefault("user_id", self.user)
        with self._lock:
            try:
                producer = self._ensure()
                self._returned.clear()
                producer.publish(
                    body,
                    exchange=exchange,
                    routing_key=routing_key,
                    headers=headers or {},
                    mandatory=mandatory,
                    serializer="json",
                    delivery_mode=PERSISTENT,
                    retry=False,
                    confirm_timeout=self.confirm_timeout,
                    **properties,
                )
            except MessageNacked as exc:
                # The broker did not take it (a queue without a leader that instant):
                # nothing was stored, try again as after a lost connection.
                raise ConnectionError(f"the broker did not take the message: {exc!r}") from exc
            except _BROKER_ERRORS as exc:
                self._close()
                raise ConnectionError(f"publish failed: {exc}") from exc
            except AttributeError as exc:
                self._lost_or_bug(exc, "publish")
            except Exception:
                self._close()
                raise
            if self._returned:
                self._returned.clear()
                raise Unroutable(routing_key)
