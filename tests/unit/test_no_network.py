"""A unit test that reaches for a server fails loudly, whether or not the server runs."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import create_engine, text

REFUSED = "a unit test opened a connection"


def test_a_unit_test_cannot_open_a_socket_even_to_loopback() -> None:
    with pytest.raises(RuntimeError, match=REFUSED):
        socket.create_connection(("127.0.0.1", 5672), timeout=1)


def test_a_unit_test_cannot_reach_postgresql() -> None:
    engine = create_engine("postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    with pytest.raises(RuntimeError, match=REFUSED), engine.connect() as connection:
        connection.execute(text("SELECT 1"))
