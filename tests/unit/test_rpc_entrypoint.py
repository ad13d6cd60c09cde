"""The RPC entry point hands a call back to the queue when its container is going away, and
a reply the broker refuses does not stop the container."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from amqp.exceptions import AccessRefused
from nameko import rpc as nameko_rpc
from nameko.exceptions import ContainerBeingKilled
from nameko.rpc import RpcConsumer

from services.common.context import Caller, bind_call
from services.common.entrypoints import Rpc


class _Dying:
    service_name = "kit"

    def spawn_worker(self, *args: Any, **kwargs: Any) -> None:
        raise ContainerBeingKilled()


class _Consumer:
    def __init__(self) -> None:
        self.requeued: list[Any] = []

    def requeue_message(self, message: Any) -> None:
        self.requeued.append(message)


class _Message:
    def __init__(self) -> None:
        caller = Caller.system_caller("test")
        self.headers = {"nameko.caller": bind_call(caller, "kit", "ping", "c1", [], {}, 10)}
        self.properties = {"correlation_id": "c1"}


def test_a_call_reaching_a_container_being_killed_is_requeued_not_answered() -> None:
    entrypoint = Rpc()
    entrypoint.container = _Dying()
    entrypoint.method_name = "ping"
    entrypoint.rpc_consumer = _Consumer()
    entrypoint.check_signature = lambda args, kwargs: None
    message = _Message()
    entrypoint.handle_message({"args": [], "kwargs": {}}, message)
    assert entrypoint.rpc_consumer.requeued == [message]


class _Settled:
    def __init__(self) -> None:
        self.acked: list[Any] = []

    def ack_message(self, message: Any) -> None:
        self.acked.append(message)


class _RefusedResponder:
    """A reply the broker refuses: a reply key this service's login may not publish to."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send_response(self, result: Any, exc_info: Any) -> Any:
        raise AccessRefused("access to topic 'made-up' refused")


def test_a_call_whose_reply_the_broker_refuses_is_settled_and_the_container_lives(
    monkeypatch,
) -> None:
    # Before, the error killed the container and the unsettled call came back to kill it
    # again (services.common.nameko_patch).
    monkeypatch.setattr(nameko_rpc, "Responder", _RefusedResponder)
    consumer = RpcConsumer.__new__(RpcConsumer)
    consumer.container = SimpleNamespace(config={"AMQP_URI": "memory://"})
    consumer.queue_consumer = _Settled()
    message = _Message()
    consumer.handle_result(message, None, None)
    assert consumer.queue_consumer.acked == [message]
