"""A thread-safe RPC client speaking Nameko's wire protocol over kombu.

Each thread of the gateway has its own connection, reply queue and consumer, so threads
never share a channel and a call needs no locks: publish the request (with publisher
confirms and ``mandatory``), then drain the thread's own connection until the reply with
our correlation id arrives or the call's timeout passes.

- An unroutable call, or a service whose queue has no consumer, is "service unavailable"
  at once, not a timeout.
- A call that is not answered in time raises ``ServiceTimeout``; its late reply is dropped.
  Requests carry a TTL equal to the timeout so that a service coming back does not work
  through calls nobody waits for any more.
- A broken connection is dropped; the next call reconnects (and re-declares its queue).
- An ``AttributeError`` counts as a broken connection only when py-amqp or kombu raised it
  (py-amqp lets go of its socket when the connection drops, and the next use of it fails
  so); raised by our own code it is a bug, and goes up as it is (a 500, logged).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from types import TracebackType
from typing import Any

from amqp.exceptions import AMQPError, ChannelError, MessageNacked
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.exceptions import OperationalError

from services.common.config import amqp_ssl
from services.common.context import CALLER_HEADER, Caller, bind_call
from services.common.errors import ServiceTimeout, ServiceUnavailable, from_wire
from services.common.idempotency import HEADER as IDEMPOTENCY_HEADER

_CONNECTION_ERRORS = (OperationalError, OSError, ConnectionError, AMQPError, AttributeError)
#: Where an AttributeError means a dropped connection: the client libraries and the sockets
#: under them. Anywhere else (this module, the caller's code) it is a bug.
_BROKER_CLIENT_MODULES = frozenset({"amqp", "kombu", "vine", "socket", "ssl"})


def _raised_in(traceback: TracebackType | None) -> str:
    """The top-level package of the module whose code raised (the innermost frame)."""
    if traceback is None:
        return ""
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    return str(traceback.tb_frame.f_globals.get("__name__", "")).partition(".")[0]


def _is_connection_lost(exc: BaseException) -> bool:
    """Does ``exc`` (one of ``_CONNECTION_ERRORS``) say that the broker connection is gone,
    rather than that the gateway has a bug?"""
    if not isinstance(exc, AttributeError):
        return True
    return _raised_in(exc.__traceback__) in _BROKER_CLIENT_MODULES


class RemoteError(Exception):
    """The service failed with an error that is not one of our typed errors."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('exc_type')}: {error.get('value')}")
        self.error = error


class _ThreadLink:
    """One thread's connection, reply queue and producer."""

    def __init__(
        self,
        amqp_uri: str,
        exchange: Exchange,
        connect_timeout: float,
        client: str = "gateway",
        consumers_seen: dict[str, float] | None = None,
    ) -> None:
        #: When a consumer was last seen on each service's queue (``has_consumers``): the
        #: client's, shared by its threads.
        self.consumers_seen = {} if consumers_seen is None else consumers_seen
        self.connection = Connection(
            amqp_uri,
            transport_options={"confirm_publish": True},
            connect_timeout=connect_timeout,
            heartbeat=0,
            ssl=amqp_ssl(amqp_uri),
        )
        self.connection.ensure_connection(max_retries=1, timeout=connect_timeout)
        self.channel = self.connection.channel()
        # Bound to, never declared: manage.py migrate declares nameko-rpc, and the gateway's
        # login may not configure it (services/common/broker.py).
        exchange = Exchange(
            exchange.name, type=exchange.type, durable=exchange.durable, no_declare=True
        )
        # The broker lets each user bind only reply queues named after it
        # (services/common/broker.py).
        self.reply_to = f"rpc.reply-{client}-{uuid.uuid4()}"
        queue = Queue(
            self.reply_to,
            exchange=exchange,
            routing_key=self.reply_to,
            exclusive=True,
            auto_delete=True,
        )
        self.consumer = Consumer(
            self.channel, queues=[queue], callbacks=[self._on_reply], no_ack=True, accept=["json"]
        )
        self.consumer.consume()
        self.producer = Producer(self.channel, on_return=self._on_return)
        self.check_channel = self.connection.channel()
        self.waiting_for: str | None = None
        self.reply: dict | None = None
        self.returned = False

    def _on_reply(self, body: Any, message: Any) -> None:
        if message.properties.get("correlation_id") == self.waiting_for:
            self.reply = body

    def _on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        self.returned = True

    def has_consumers(self, service: str, ttl: float = 1.0) -> bool:
        """Is anything consuming the service's queue? A "yes" is kept for ``ttl`` seconds in
        ``consumers_seen``, shared by the client's threads: one of them asks the broker
        each second, not every thread."""
        seen = self.consumers_seen
        now = time.monotonic()
        if now - seen.get(service, -ttl - 1) < ttl:
            return True
        try:
            _, _, consumers = self.check_channel.queue_declare(f"rpc-{service}", passive=True)
        except ChannelError:
            self.check_channel = self.connection.channel()  # a 404 closes the channel
            return False
        if consumers:
            seen[service] = now
        else:
            seen.pop(service, None)
        return consumers > 0

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection may fail too
            self.connection.release()


class RpcClient:
    """Call ``service.method(*args, **kwargs)`` as the given caller, with a timeout."""

    def __init__(
        self,
        amqp_uri: str,
        timeout: float = 10.0,
        exchange_name: str = "nameko-rpc",
        connect_timeout: float = 3.0,
        client: str = "gateway",
    ) -> None:
        self.amqp_uri = amqp_uri
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        #: Names the reply queues: the broker user's own name (the gateway, or the service
        #: whose container pings it).
        self.client = client
        self.exchange = Exchange(exchange_name, type="topic", durable=True)
        self._local = threading.local()
        self._links: set[_ThreadLink] = set()
        self._links_lock = threading.Lock()
        #: When a thread last saw a consumer on each service's queue (``has_consumers``).
        self._consumers_seen: dict[str, float] = {}

    def _link(self) -> _ThreadLink:
        link = getattr(self._local, "link", None)
        if link is None:
            try:
                link = _ThreadLink(
                    self.amqp_uri,
                    self.exchange,
                    self.connect_timeout,
                    self.client,
                    self._consumers_seen,
                )
            except _CONNECTION_ERRORS as exc:
                if not _is_connection_lost(exc):
                    raise
                raise ServiceUnavailable("the message broker is not reachable") from exc
            self._local.link = link
            with self._links_lock:
                self._links.add(link)
        return link

    def _drop(self) -> None:
        link = getattr(self._local, "link", None)
        self._local.link = None
        if link is not None:
            with self._links_lock:
                self._links.discard(link)
            link.close()

    def close(self) -> None:
        """Close every thread's connection (at shutdown)."""
        with self._links_lock:
            links, self._links = self._links, set()
        for link in links:
            link.close()
        self._local = threading.local()

    def _publish(
        self,
        link: _ThreadLink,
        routing_key: str,
        body: dict,
        headers: dict,
        correlation_id: str,
        timeout: float,
    ) -> None:
        link.returned = False
        link.producer.publish(
            body,
            exchange=self.exchange,
            routing_key=routing_key,
            reply_to=link.reply_to,
            correlation_id=correlation_id,
            headers=headers,
            mandatory=True,
            serializer="json",
            expiration=timeout,
            retry=False,
            # A quorum queue confirms once a majority of its nodes hold the call; while it
            # has no leader (its node was just lost) the confirm waits. Bounded by the
            # call's own deadline.
            confirm_timeout=max(timeout, 0.1),
        )

    def call(
        self,
        service: str,
        method: str,
        *args: Any,
        caller: Caller | str,
        request_id: str | None = None,
        timeout: float | None = None,
        idempotency_key: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """What ``service.method`` answers to ``caller``: the service's typed error raised
        as itself, another error as ``RemoteError``; ServiceUnavailable when nothing
        consumes the service's calls or the broker is away, ServiceTimeout when no answer
        comes within ``timeout`` seconds.

        The caller is signed for this call only (``context.bind_call``: this method, these
        arguments, this correlation id, this timeout). A string is sent as it is: a token
        made elsewhere (tests of forged or replayed ones)."""
        timeout = timeout or self.timeout
        correlation_id = uuid.uuid4().hex
        if isinstance(caller, Caller):
            caller = bind_call(caller, service, method, correlation_id, args, kwargs, timeout)
        headers = {
            CALLER_HEADER: caller,
            "nameko.call_id_stack": [f"gateway.{service}.{method}.{correlation_id}"],
        }
        if request_id:
            headers["nameko.request_id"] = request_id
        if idempotency_key:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        body = {"args": list(args), "kwargs": kwargs}
        routing_key = f"{service}.{method}"

        began = time.monotonic()
        for attempt in (1, 2):
            link = self._link()
            try:
                if not link.has_consumers(service):
                    raise ServiceUnavailable(f"the {service} service is not available")
                link.waiting_for, link.reply = correlation_id, None
                remaining = timeout - (time.monotonic() - began)
                try:
                    self._publish(link, routing_key, body, headers, correlation_id, remaining)
                except MessageNacked as exc:
                    # The broker did not take the call (a quorum queue that lost its leader
                    # that instant): nothing reached the service, so it is safe to repeat.
                    link.waiting_for = None
                    raise ServiceUnavailable(
                        f"the {service} service did not take the call; try again"
                    ) from exc
                except TimeoutError as exc:
                    # No confirm in time: the call may or may not have been taken.
                    link.waiting_for = None
                    self._drop()
                    raise ServiceTimeout(f"the {service} service did not answer in time") from exc
                break
            except _CONNECTION_ERRORS as exc:
                if not _is_connection_lost(exc):
                    raise
                # Nothing was sent: reconnect once and try again.
                self._drop()
                if attempt == 2:
                    raise ServiceUnavailable("the message broker is not reachable") from exc
        if link.returned:
            raise ServiceUnavailable(f"the {service} service is not available")

        deadline = began + timeout
        try:
            while link.reply is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ServiceTimeout(f"the {service} service did not answer in time")
                try:
                    link.connection.drain_events(timeout=min(remaining, 1.0))
                except TimeoutError:
                    continue
        except _CONNECTION_ERRORS as exc:
            if not _is_connection_lost(exc):
                raise
            self._drop()
            raise ServiceTimeout(f"lost the connection waiting for {service}") from exc
        finally:
            link.waiting_for = None
        reply, link.reply = link.reply, None

        error = reply.get("error")
        if error:
            typed = from_wire(error)
            if typed is not None:
                raise typed
            raise RemoteError(error)
        return reply.get("result")


__all__ = ["RemoteError", "RpcClient"]
