"""The RPC entry point hands a call back to the queue when its container is going away."""

from __future__ import annotations

from typing import Any

from nameko.exceptions import ContainerBeingKilled

from services.common.context import Caller, sign_caller
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
        self.headers = {"nameko.caller": sign_caller(Caller.system_caller("test"))}


def test_a_call_reaching_a_container_being_killed_is_requeued_not_answered() -> None:
    entrypoint = Rpc()
    entrypoint.container = _Dying()
    entrypoint.rpc_consumer = _Consumer()
    entrypoint.check_signature = lambda args, kwargs: None
    message = _Message()
    entrypoint.handle_message({"args": [], "kwargs": {}}, message)
    assert entrypoint.rpc_consumer.requeued == [message]
