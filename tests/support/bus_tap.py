"""Reading the bus as an intruder with the broker's shared login would: a queue bound to
the RPC exchange with ``#`` gets a copy of every call and every reply; a call is replayed
with a reply queue of the intruder's own."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from kombu import Connection, Consumer, Exchange, Producer, Queue

RPC_EXCHANGE = "nameko-rpc"


@dataclass(frozen=True)
class Captured:
    """One message as it crossed the bus: its bytes and what they decode to."""

    routing_key: str
    headers: dict
    properties: dict
    raw: bytes
    payload: Any

    @property
    def correlation_id(self) -> str:
        return str(self.properties.get("correlation_id"))

    def exposes(self, secret: str) -> bool:
        """Whether ``secret`` can be read in the message (body or headers), as it is or
        escaped as JSON escapes non-ASCII text."""
        text = self.raw + repr(self.headers).encode()
        escaped = json.dumps(secret)[1:-1].encode()
        return secret.encode() in text or escaped in text


class BusTap:
    def __init__(self, amqp_uri: str) -> None:
        self.connection = Connection(amqp_uri)
        self.channel = self.connection.channel()
        self.exchange = Exchange(RPC_EXCHANGE, type="topic", durable=True)
        self.exchange(self.channel).declare()
        name = f"tap-{uuid.uuid4().hex}"
        # A reply key as Nameko's clients make them (a bare uuid): one a service may answer
        # to also when the broker limits where each service publishes.
        self.reply_to = str(uuid.uuid4())
        queues = [
            Queue(name, exchange=self.exchange, routing_key="#", exclusive=True),
            Queue(self.reply_to, exchange=self.exchange, routing_key=self.reply_to, exclusive=True),
        ]
        self.seen: list[Captured] = []
        self.consumer = Consumer(
            self.channel, queues=queues, callbacks=[self._keep], no_ack=True, accept=["json"]
        )
        self.consumer.consume()
        self.producer = Producer(self.channel)

    def __enter__(self) -> BusTap:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with contextlib.suppress(Exception):
            self.connection.release()

    def _keep(self, body: Any, message: Any) -> None:
        self.seen.append(
            Captured(
                routing_key=message.delivery_info["routing_key"],
                headers=dict(message.headers or {}),
                properties=dict(message.properties or {}),
                raw=message.body.encode() if isinstance(message.body, str) else message.body,
                payload=body,
            )
        )

    def wait_for(self, match: Any, timeout: float = 10.0) -> Captured:
        """The first message seen for which ``match`` is true."""
        deadline = time.monotonic() + timeout
        while True:
            for captured in self.seen:
                if match(captured):
                    return captured
            remaining = deadline - time.monotonic()
            assert remaining > 0, "the message never crossed the bus"
            with contextlib.suppress(TimeoutError):
                self.connection.drain_events(timeout=min(remaining, 0.5))

    def call(self, routing_key: str, timeout: float = 10.0) -> Captured:
        """The first call to ``routing_key`` (``service.method``) seen on the bus."""
        return self.wait_for(lambda seen: seen.routing_key == routing_key, timeout)

    def reply(self, call: Captured, timeout: float = 10.0) -> Captured:
        """The reply to ``call``, as it crossed the bus to its caller."""
        reply_to = call.properties.get("reply_to")
        return self.wait_for(
            lambda seen: (
                seen.routing_key == reply_to and seen.correlation_id == call.correlation_id
            ),
            timeout,
        )

    def replay(
        self,
        call: Captured,
        routing_key: str | None = None,
        body: dict | None = None,
        correlation_id: str | None = None,
        timeout: float = 10.0,
    ) -> dict:
        """Publish ``call``'s headers (its caller token) again, on ``routing_key``, with
        ``body`` and ``correlation_id`` when given, else the captured ones; the reply."""
        correlation_id = correlation_id or call.correlation_id
        self.send(call, routing_key, body, correlation_id, self.reply_to)
        answer = self.wait_for(
            lambda seen: (
                seen.routing_key == self.reply_to and seen.correlation_id == correlation_id
            ),
            timeout,
        )
        self.seen.remove(answer)
        return answer.payload

    def send(
        self,
        call: Captured,
        routing_key: str | None,
        body: dict | None,
        correlation_id: str,
        reply_to: str,
    ) -> None:
        """Publish ``call``'s headers again, with what is given instead of what it had."""
        self.producer.publish(
            call.payload if body is None else body,
            exchange=self.exchange,
            routing_key=routing_key or call.routing_key,
            headers=call.headers,
            correlation_id=correlation_id,
            reply_to=reply_to,
            serializer="json",
        )


def error_of(reply: dict) -> str | None:
    """The type of the error a reply carries (``None`` for a result)."""
    error = reply.get("error")
    return error.get("exc_type") if error else None
