"""The database engine of a service, with what each backend needs; column types and query
helpers shared by the services. Transactions are the unit of work's (``unit_of_work``).

On SQLite (the local default) a file has one writer at a time, and SQLite waits for the
write lock by sleeping inside C, where no other green thread of the process can run: had
the holder yielded (an RPC, a publish) in the middle of its transaction, it could never
resume to commit, and the whole service would freeze until the busy timeout. So within a
process the writers of a file queue on a cooperative lock (``SqliteWriteLock``), taken at a
transaction's first write (``BEGIN IMMEDIATE``) and let go when its connection goes back
to the pool; reads take no lock (WAL lets them run beside the writer). SQLite's own busy
timeout is left short: it only covers other processes (``manage.py`` commands), and what
runs out becomes 503 ``service_unavailable``. PostgreSQL takes none of this.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
import time
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    Numeric,
    Table,
    TypeDecorator,
    create_engine,
    event,
    insert,
    or_,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from services.common.timeutil import as_utc

log = logging.getLogger(__name__)

# Integer primary keys: BIGINT on PostgreSQL, INTEGER (rowid alias) on SQLite.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
#: The column type of an amount of money: yuan with two places (``money.MAX_MONEY`` fits).
MoneyNumeric = Numeric(14, 2)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use services.common.timeutil.utcnow()")
        return as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)


#: What the database driver raises when the server is away (refused, closed the connection,
#: shutting down) or gave up on the statement for a moment (deadlock, serialization failure,
#: statement timeout): nothing the caller did wrong, and worth trying again.
DATABASE_AWAY = (OperationalError, InterfaceError)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the settings this project relies on for each backend.

    A failed statement's error never quotes its parameters: they may be a customer's phone
    number or a channel's secret, and errors reach logs and parked events."""
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **kwargs)
    # A service runs at most PRM_MAX_WORKERS (10) workers at once, plus its relay: keep the
    # pool near that, so that five services and their replicas fit PostgreSQL's 100 (12 at
    # most per process). Kept open, not overflow: a connection past ``pool_size`` is closed
    # when it goes back, and the next busy moment opens a new one (a server process to
    # start, for one call).
    kwargs.setdefault("pool_size", int(os.environ.get("PRM_DB_POOL_SIZE", "10")))
    kwargs.setdefault("max_overflow", int(os.environ.get("PRM_DB_MAX_OVERFLOW", "2")))
    if kwargs.get("pool_pre_ping"):
        return create_engine(url, **kwargs)
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine, float(os.environ.get("PRM_DB_PING_IDLE") or PING_IDLE))
    return engine


#: Seconds a pooled connection may rest and still be used without a ping first
#: (``PRM_DB_PING_IDLE``).
PING_IDLE = 1.0
#: Where a pooled connection keeps when it last went back to the pool.
_RESTED_SINCE = "prm_rested_since"


def _ping_when_idle(engine: Engine, idle: float) -> None:
    """Ping a pooled connection before handing it out if it rested in the pool for more
    than ``idle`` seconds, as SQLAlchemy's ``pool_pre_ping`` pings every one: a dead one
    (the server restarted, a proxy cut it) is replaced then, unseen by the worker. One
    that went back less than ``idle`` seconds ago is handed out as it is: under load that
    is every checkout, and the ping was a round trip of its own on each call. Should the
    server go away within that second, the first statement fails as the server being
    away (503, try again; an event is retried) and SQLAlchemy renews the whole pool."""

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RESTED_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _rests(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_RESTED_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_rested(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_RESTED_SINCE)
        if since is not None and time.monotonic() - since <= idle:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_connection, None):
                # The pool throws this connection away and takes another (or a new one).
                raise DisconnectionError(str(exc)) from exc
            raise


# -- SQLite: one writer at a time, waiting cooperatively ------------------------------------

#: Seconds SQLite itself waits for a write lock held by another process
#: (``PRM_SQLITE_BUSY_TIMEOUT``): the whole service waits with it, so it is short.
SQLITE_BUSY_TIMEOUT = 2.0
#: Seconds a writer waits for its turn behind the writers of its own process
#: (``PRM_SQLITE_WRITE_WAIT``), then 503: well within the callers' RPC timeout.
SQLITE_WRITE_WAIT = 5.0

#: Statements that write (and so need the file's write lock). A savepoint opens the
#: transaction its writes will need; DDL is left to the driver (migrations run alone).
_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE|SAVEPOINT)\b", re.IGNORECASE)
_CTE_WRITES = re.compile(r"\s*WITH\b.*\b(INSERT|UPDATE|DELETE)\b", re.IGNORECASE | re.DOTALL)
#: Where a pooled connection keeps the write lock it holds.
_HOLDS = "prm_sqlite_write_lock"


class SqliteWriteLock:
    """The write lock of one SQLite file within this process.

    Under eventlet (the services) ``threading.Lock`` is the green lock, so a writer that
    waits lets every other green thread run, the holder included."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.holder: int | None = None

    def acquire(self, timeout: float) -> None:
        me = threading.get_ident()
        if self.holder == me:
            # A second connection of the same worker: it would wait for itself.
            raise sqlite3.OperationalError(
                f"database is locked: this thread writes to {self.path} on another connection"
            )
        if not self._lock.acquire(timeout=timeout):
            raise sqlite3.OperationalError(
                f"database is locked: no turn to write to {self.path} within {timeout:g} s"
            )
        self.holder = me

    def release(self) -> None:
        self.holder = None
        self._lock.release()


_write_locks: dict[str, SqliteWriteLock] = {}
_write_locks_guard = threading.Lock()


def sqlite_write_lock(path: str) -> SqliteWriteLock:
    """The process's one write lock for the SQLite file at ``path`` (shared by its engines)."""
    key = path if path in ("", ":memory:") else os.path.realpath(path)
    with _write_locks_guard:
        lock = _write_locks.get(key)
        if lock is None or key in ("", ":memory:"):
            lock = _write_locks[key] = SqliteWriteLock(key)
        return lock


def holds_sqlite_write_lock() -> bool:
    """Whether the running (green) thread is inside a write transaction on SQLite."""
    me = threading.get_ident()
    return any(lock.holder == me for lock in list(_write_locks.values()))


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    busy_timeout = float(os.environ.get("PRM_SQLITE_BUSY_TIMEOUT") or SQLITE_BUSY_TIMEOUT)
    write_wait = float(os.environ.get("PRM_SQLITE_WRITE_WAIT") or SQLITE_WRITE_WAIT)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": busy_timeout}, **kwargs
    )
    lock = sqlite_write_lock(engine.url.database or "")

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine, "before_cursor_execute")
    def _take_turn_to_write(
        conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        dbapi_connection = conn.connection.dbapi_connection
        info = conn.info
        if info.get(_HOLDS) is not None and not dbapi_connection.in_transaction:
            _let_go(info)  # committed without going back to the pool
        if info.get(_HOLDS) is not None:
            return
        if not (_WRITES.match(statement) or _CTE_WRITES.match(statement) or _locks_rows(_context)):
            return
        lock.acquire(write_wait)
        info[_HOLDS] = lock
        if not dbapi_connection.in_transaction:
            try:
                # The write lock now, before any read of this transaction: a snapshot read
                # first could not be turned into a write once another process wrote.
                dbapi_connection.execute("BEGIN IMMEDIATE")
            except BaseException:
                _let_go(info)
                raise

    @event.listens_for(engine, "checkin")
    def _released(_dbapi_connection: Any, record: Any) -> None:
        _let_go(record.info)

    @event.listens_for(engine, "invalidate")
    def _invalidated(_dbapi_connection: Any, record: Any, _exc: Any) -> None:
        _let_go(record.info)

    return engine


def _locks_rows(context: Any) -> bool:
    """Whether the statement is a read ``FOR UPDATE``: SQLite has no row locks (the dialect
    drops the clause), so such a read takes the file's write lock instead, as the rows it
    reads are about to be written on what they say (a claim and a decline of one lead)."""
    statement = getattr(getattr(context, "compiled", None), "statement", None)
    return getattr(statement, "_for_update_arg", None) is not None


def _let_go(info: dict) -> None:
    lock = info.pop(_HOLDS, None)
    if lock is not None:
        lock.release()


def is_postgres(session_or_engine: Session | Engine) -> bool:
    bind = (
        session_or_engine.get_bind()
        if isinstance(session_or_engine, Session)
        else session_or_engine
    )
    return bind.dialect.name == "postgresql"


def dependency_named(container: Any, name: str) -> Any:
    """The container's dependency provider declared on the service as ``name``."""
    for dependency in container.dependencies:
        if dependency.attr_name == name:
            return dependency
    raise LookupError(f"{container.service_name} declares no dependency named {name!r}")


def try_advisory_lock(session: Session, name: str) -> bool:
    """Take a transaction-scoped lock named ``name`` if nobody holds it.

    Timers call this first so that, with several replicas, one of them does the work of a
    tick. On SQLite (one local process) it always succeeds.
    """
    if not is_postgres(session):
        return True
    return bool(
        session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtext(:name))"), {"name": name})
    )


def advisory_lock(session: Session, name: str) -> None:
    """Wait for the transaction-scoped lock named ``name`` (held until the transaction
    ends): writers that decide on a count of rows no row lock covers (a partner's cap on
    the customers it holds) take turns on it. On SQLite the one writer needs none."""
    if not is_postgres(session):
        return
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})


def insert_unique(session: Session, conflict: Exception, *rows: Any) -> None:
    """Insert ``rows`` now; raise ``conflict`` if a unique constraint refuses any.

    A savepoint keeps the rest of the transaction usable; a concurrent twin waits for the
    first insert to commit and is then refused by the database.
    """
    from sqlalchemy.exc import IntegrityError

    try:
        with session.begin_nested():
            session.add_all(rows)
            session.flush()
    except IntegrityError as exc:
        raise conflict from exc


def contains_text(query: str, *columns: Any) -> ColumnElement[bool]:
    """Rows where any of ``columns`` contains ``query``, case-insensitively: what a list's
    ``q`` filter means. ``%`` and ``_`` are searched for, not wildcards."""
    return or_(*(column.icontains(query, autoescape=True) for column in columns))


def upsert_insert(session: Session) -> Any:
    """``insert`` of the session's dialect, which takes ``on_conflict_do_update``: the
    stores the project runs on, PostgreSQL and SQLite, both have one."""
    if is_postgres(session):
        return postgresql.insert
    return sqlite.insert


def insert_many(session: Session, table: Table, rows: list[dict], ids: bool = False) -> list[int]:
    """Insert ``rows`` (dicts of ``table``'s column keys, all the same keys) in one
    statement; with ``ids``, their new ids in the rows' order.

    On PostgreSQL the rows' values are bound as their columns' types bind them (a sealed
    column sealed), then composed into one multi-row INSERT by the driver
    (``execute_values``), the ids drawn from the table's sequence first: SQLAlchemy's
    execution of many rows costs several times more per row, which an import's thousands
    of rows feel. (``COPY`` cannot run on a connection that eventlet made green.)
    Elsewhere by SQLAlchemy's multi-row INSERT, ``RETURNING`` the ids. A unique or other
    constraint that refuses a row raises SQLAlchemy's error of its kind, as an INSERT's
    would. Rows give every column they need: a column's Python-side ``default`` is not
    applied on PostgreSQL."""
    if not rows:
        return []
    if any(row.keys() != rows[0].keys() for row in rows):
        raise ValueError(f"insert_many into {table.name}: the rows give different columns")
    if not is_postgres(session):
        statement = insert(table)
        if not ids:
            session.execute(statement, rows)
            return []
        returning = statement.returning(table.c.id, sort_by_parameter_order=True)
        return list(session.execute(returning, rows).scalars())
    new_ids: list[int] = []
    if ids:
        new_ids = sorted(
            session.execute(_RESERVE_IDS, {"table": table.name, "n": len(rows)}).scalars()
        )
        rows = [{**row, "id": new_id} for row, new_id in zip(rows, new_ids, strict=True)]
    _insert_values(session, table, rows)
    session.info[WROTE_UNSEEN] = True
    return new_ids


#: Set in a session's ``info`` by a write SQLAlchemy's events do not see (``insert_many``
#: on PostgreSQL), so that the unit of work counts it: a use case that writes without
#: committing is a fault it reports.
WROTE_UNSEEN = "prm.wrote_unseen"


#: Ids drawn from a table's sequence for rows about to be inserted with them.
_RESERVE_IDS = text(
    "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
)


def _insert_values(session: Session, table: Table, rows: list[dict]) -> None:
    """One ``INSERT INTO table (...) VALUES (...), ...`` of ``rows`` on PostgreSQL, each
    value bound as its column's type binds it (a sealed column sealed, a time in UTC)."""
    from psycopg2 import sql
    from psycopg2.extras import execute_values

    connection = session.connection()
    dialect = connection.dialect
    keys = list(rows[0])
    processors = [table.c[key].type.bind_processor(dialect) for key in keys]
    values = [
        tuple(
            value if process is None else process(value)
            for process, value in zip(processors, (row[key] for key in keys), strict=True)
        )
        for row in rows
    ]
    statement = sql.SQL("INSERT INTO {} ({}) VALUES %s").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, keys))
    )
    cursor = connection.connection.cursor()
    try:
        execute_values(cursor, statement, values, page_size=len(values))
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            f"INSERT INTO {table.name}", None, exc, dialect.loaded_dbapi.Error, dialect=dialect
        ) from exc
    finally:
        cursor.close()
