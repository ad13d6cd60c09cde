"""The changes this project makes to Nameko itself, made on import, for the version it
was written against only.

Nameko 2.14's ``QueueConsumer`` acknowledges and requeues messages catching only amqp's
``ConnectionError``; a reset socket raises ``OSError`` instead, which kills the whole
container (and every worker it runs) at the first broker restart. Every consumer of a
service (RPC, events, the replies of its calls to other services) settles its messages
through ``QueueConsumer``, so settling there tolerates a lost connection: the broker has
taken the message back and delivers it again.

Nameko's ``RpcConsumer`` answers every call, refused ones too (a caller context that does
not verify, an unknown method, a malformed body), and acknowledges it after the reply is
sent. When the broker refuses the reply (a reply key this service's login may not publish
to: one the sender made up), the error killed the container, and the call, never
acknowledged, came back to kill it again: one message stopped a service for good. A reply
the broker refuses is now logged and the call settled unanswered; a reply lost with the
connection is logged, and the broker delivers the call again.

A newer Nameko may settle differently: the import fails then, so that whoever upgrades
reads this and checks the patch is still needed and still right.
"""

from __future__ import annotations

import logging
from importlib.metadata import version
from typing import Any

from amqp.exceptions import ChannelError, MessageNacked
from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu.exceptions import OperationalError
from nameko.messaging import QueueConsumer
from nameko.rpc import RpcConsumer

log = logging.getLogger(__name__)

PATCHED_VERSION = "2.14.1"

#: What a lost broker connection raises, depending on where it is noticed: amqp's own
#: error, kombu's wrapper of it, or the socket's (reset, broken pipe, refused).
BROKER_LOST = (AmqpConnectionError, OperationalError, OSError)

if version("nameko") != PATCHED_VERSION:
    raise ImportError(
        f"services.common.nameko_patch was written for nameko {PATCHED_VERSION}, not"
        f" {version('nameko')}: check QueueConsumer.ack_message/requeue_message and"
        " RpcConsumer.handle_result first"
    )


def _settle(message: Any, settle: Any) -> None:
    """Ack or requeue ``message`` if its connection still stands."""
    if message.channel.connection:
        try:
            settle()
        except BROKER_LOST:
            log.info("broker connection lost before a message was settled; it is redelivered")


def _ack(self: QueueConsumer, message: Any) -> None:
    _settle(message, message.ack)


def _requeue(self: QueueConsumer, message: Any) -> None:
    _settle(message, message.requeue)


_answer_and_settle = RpcConsumer.handle_result


def _handle_result(self: RpcConsumer, message: Any, result: Any, exc_info: Any) -> Any:
    try:
        return _answer_and_settle(self, message, result, exc_info)
    except BROKER_LOST as exc:
        log.warning("reply to a call lost with the broker connection (%s); it comes back", exc)
    except (ChannelError, MessageNacked) as exc:
        # Refused (a reply key this service may not use) or not taken (the caller's reply
        # queue without its node that instant): the work is done, the caller times out.
        log.warning("the broker refused the reply to a call (%r); settled unanswered", exc)
        self.queue_consumer.ack_message(message)
    return result, exc_info


QueueConsumer.ack_message = _ack
QueueConsumer.requeue_message = _requeue
RpcConsumer.handle_result = _handle_result
