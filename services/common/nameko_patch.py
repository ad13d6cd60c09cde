"""The one change this project makes to Nameko itself, made on import, for the version
it was written against only.

Nameko 2.14's ``QueueConsumer`` acknowledges and requeues messages catching only amqp's
``ConnectionError``; a reset socket raises ``OSError`` instead, which kills the whole
container (and every worker it runs) at the first broker restart. Every consumer of a
service (RPC, events, the replies of its calls to other services) settles its messages
through ``QueueConsumer``, so settling there tolerates a lost connection: the broker has
taken the message back and delivers it again.

A newer Nameko may settle differently: the import fails then, so that whoever upgrades
reads this and checks the patch is still needed and still right.
"""

from __future__ import annotations

import logging
from importlib.metadata import version
from typing import Any

from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu.exceptions import OperationalError
from nameko.messaging import QueueConsumer

log = logging.getLogger(__name__)

PATCHED_VERSION = "2.14.1"

#: What a lost broker connection raises, depending on where it is noticed: amqp's own
#: error, kombu's wrapper of it, or the socket's (reset, broken pipe, refused).
BROKER_LOST = (AmqpConnectionError, OperationalError, OSError)

if version("nameko") != PATCHED_VERSION:
    raise ImportError(
        f"services.common.nameko_patch was written for nameko {PATCHED_VERSION}, not"
        f" {version('nameko')}: check QueueConsumer.ack_message/requeue_message first"
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


QueueConsumer.ack_message = _ack
QueueConsumer.requeue_message = _requeue
