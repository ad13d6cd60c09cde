"""The gateway's RPC client against real RabbitMQ and Nameko services."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from gateway.rpc import RpcClient
from services.common.context import Caller
from services.common.errors import ServiceTimeout, ServiceUnavailable
from tests.support.kit_services import KitService


@pytest.fixture
def client(amqp_uri: str) -> Iterator[RpcClient]:
    client = RpcClient(amqp_uri, timeout=30)
    yield client
    client.close()


@pytest.fixture
def kit(container_factory, rabbit_config):
    container = container_factory(KitService, rabbit_config)
    container.start()
    return container


def token() -> Caller:
    """The caller of the calls (the client signs it for each call)."""
    return Caller.system_caller("test")


def test_call_to_a_service_that_never_ran_is_unavailable_not_a_timeout(client) -> None:
    # timeout is 30 s: answering ServiceUnavailable rather than ServiceTimeout shows it
    # did not wait for the timeout.
    with pytest.raises(ServiceUnavailable):
        client.call("nosuchservice", "ping", caller=token())


def test_call_to_a_stopped_service_is_unavailable_not_a_timeout(
    client, container_factory, rabbit_config
) -> None:
    container = container_factory(KitService, rabbit_config)
    container.start()
    assert client.call("kit", "echo", 1, caller=token()) == 1
    container.stop()
    with pytest.raises(ServiceUnavailable):
        client.call("kit", "echo", 2, caller=token())


def test_slow_call_times_out_and_its_late_reply_is_not_taken_for_the_next(client, kit) -> None:
    with pytest.raises(ServiceTimeout):
        client.call("kit", "slow", 1.0, caller=token(), timeout=0.3)
    assert client.call("kit", "echo", "next", caller=token()) == "next"


def test_client_reconnects_after_its_connection_is_lost(client, kit) -> None:
    assert client.call("kit", "echo", "before", caller=token()) == "before"
    client._local.link.connection.collect()  # the socket is gone under it
    assert client.call("kit", "echo", "after", caller=token()) == "after"


def test_threads_sharing_one_client_each_get_their_own_answers(client, kit) -> None:
    results: dict[int, list] = {}
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            results[n] = [client.call("kit", "echo", [n, i], caller=token()) for i in range(20)]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert results == {n: [[n, i] for i in range(20)] for n in range(8)}
