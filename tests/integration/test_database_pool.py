"""The pooled PostgreSQL connections of a service (``services.common.db.make_engine``): one
that rested in the pool is pinged before use and replaced if the server dropped it; one
back in the pool a moment ago is used without a ping, and if the server dropped it in that
moment, the statement fails as the database being away (503 to a caller) and the next one
works on a new connection."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg2
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from services.common.db import DATABASE_AWAY, make_engine
from tests.support import infra


@pytest.fixture
def database_url() -> Iterator[str]:
    with infra.fresh_database(f"prm_test_pool_{secrets.token_hex(4)}") as url:
        yield url


def _backend(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT pg_backend_pid()")))


def _terminate(pid: int) -> None:
    """The server ends the session ``pid``, as a restart or a proxy would."""
    admin = psycopg2.connect(infra.PG_ADMIN_DSN)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
            assert cursor.fetchone() == (True,)
    finally:
        admin.close()


def test_a_connection_that_rested_is_pinged_and_replaced_when_the_server_dropped_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRM_DB_PING_IDLE", "0")  # every checkout finds it rested
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        dropped = _backend(engine)
        _terminate(dropped)
        # No error reaches the caller: the ping found the connection dead and the pool
        # opened another.
        assert _backend(engine) != dropped
    finally:
        engine.dispose()


def test_a_connection_back_a_moment_ago_is_used_without_a_ping(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRM_DB_PING_IDLE", "3600")
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        dropped = _backend(engine)
        _terminate(dropped)
        # Not pinged: the statement itself meets the dropped connection, and fails as the
        # database being away (what the entry points answer 503 for, and events retry).
        with pytest.raises(DATABASE_AWAY), engine.connect() as connection:
            connection.scalar(text("SELECT 1"))
        # ... and SQLAlchemy renewed the pool: the next statement works.
        assert _backend(engine) != dropped
    finally:
        engine.dispose()
