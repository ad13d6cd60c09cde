"""The unit tier: rules and helpers without I/O. It uses no broker and no database (it
never asks for ``run_infra``), and a test that opens a network connection fails at once,
whatever the address, loopback included."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import eventlet.patcher
import psycopg2
import pytest


class NetworkInUnitTest(RuntimeError):
    """A unit test tried to open a connection; such a test belongs to another tier."""


def _refuse(*args: object, **kwargs: object) -> None:
    address = next((arg for arg in args if not isinstance(arg, socket.socket)), None)
    raise NetworkInUnitTest(
        f"a unit test opened a connection (to {address!r}): tests/unit runs without any "
        "server; use a fake, or move the test to tests/services, tests/integration or "
        "tests/e2e"
    )


def _socket_classes() -> set[type]:
    # eventlet.monkey_patch() replaced socket.socket with its green class; code that kept
    # the original (or the hub's own) must be stopped too.
    original = eventlet.patcher.original("socket")
    return {socket.socket, original.socket}


@pytest.fixture(autouse=True)
def no_network() -> Iterator[None]:
    """Every connect, connect_ex and create_connection raises NetworkInUnitTest."""
    original = eventlet.patcher.original("socket")
    with pytest.MonkeyPatch.context() as patch:
        for cls in _socket_classes():
            patch.setattr(cls, "connect", _refuse)
            patch.setattr(cls, "connect_ex", _refuse)
        patch.setattr(socket, "create_connection", _refuse)
        patch.setattr(original, "create_connection", _refuse)
        # The PostgreSQL driver connects in C, past Python's sockets.
        patch.setattr(psycopg2, "connect", _refuse)
        yield
