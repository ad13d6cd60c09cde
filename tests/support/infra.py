"""RabbitMQ vhosts and PostgreSQL databases for a test run."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
from kombu import Connection
from kombu.message import Message
from psycopg2 import sql

from services.common.config import get_settings
from services.common.migrations import upgrade

PG_ADMIN_DSN = os.environ.get(
    "PRM_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
AMQP_BASE = os.environ.get("PRM_TEST_AMQP_BASE", "amqp://guest:guest@localhost:5672")


class InfraError(RuntimeError):
    """The run's broker or database server cannot be prepared; the message says what to do."""


def _rabbitmqctl(*args: str) -> None:
    if shutil.which("rabbitmqctl") is None:
        raise InfraError(
            "rabbitmqctl is not on PATH: each test run needs a RabbitMQ vhost of its own "
            "(the shared '/' vhost is never used). Install rabbitmq-server on this machine, "
            "or run only tests/unit, which needs no broker."
        )
    result = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        raise InfraError(
            f"rabbitmqctl {' '.join(args)} failed ({result.returncode}): "
            f"{(result.stderr or result.stdout).strip()}"
        )


def create_vhost(name: str) -> str:
    """The AMQP URI of a new vhost ``name`` that guest may use fully; raises InfraError
    (never falls back to the shared default vhost) when it cannot be made."""
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    uri = f"{AMQP_BASE}/{name}"
    # The exchanges and the parked queue, as ``manage.py migrate`` declares them before any
    # process starts (the processes only refer to them).
    from services.common.broker import declare_shared

    with Connection(uri, connect_timeout=10) as connection:
        declare_shared(connection.channel())
    return uri


def delete_vhost(name: str) -> None:
    """Remove vhost ``name``; a vhost already gone, or no rabbitmqctl, is not an error."""
    with suppress(InfraError):
        _rabbitmqctl("delete_vhost", name)


@contextmanager
def _admin():
    connection = psycopg2.connect(PG_ADMIN_DSN)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()


def create_database(name: str) -> str:
    """The SQLAlchemy URL of an empty database ``name`` (dropped first if it exists)."""
    with _admin() as cursor:
        cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = dict(part.split("=", 1) for part in PG_ADMIN_DSN.split())
    return (
        f"postgresql+psycopg2://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:"
        f"{params.get('port', '5432')}/{name}"
    )


def drop_database(name: str) -> None:
    """Drop database ``name`` and end its sessions; a missing one is not an error."""
    with _admin() as cursor:
        cursor.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextmanager
def fresh_database(name: str) -> Iterator[str]:
    """An empty database of a module's or test's own, dropped afterwards: its URL."""
    url = create_database(name)
    try:
        yield url
    finally:
        drop_database(name)


@contextmanager
def migrated_database(service: str) -> Iterator[str]:
    """A database of the caller's own for ``service`` (never the run's, which the e2e
    stack's processes work on), migrated to the newest revision; its URL. Dropped after."""
    root = Path(__file__).resolve().parents[2]
    with fresh_database(f"prm_test_{service}_{secrets.token_hex(4)}") as url:
        upgrade(service, root / "services" / service / "migrations", url)
        yield url


@dataclass
class RunInfra:
    """A test run's vhost and its databases (one per name), published in the environment
    (``AMQP_URI``, ``<NAME>_DATABASE_URL``) where the services and the stack read them."""

    run: str
    amqp_uri: str = ""
    databases: dict[str, str] = field(default_factory=dict)

    @property
    def vhost(self) -> str:
        return f"prm-test-{self.run}"

    @classmethod
    def create(cls, run: str, names: Iterable[str]) -> RunInfra:
        """Make the vhost and the databases and set the environment; what was made is
        removed again if a later step fails."""
        made = cls(run)
        try:
            made.amqp_uri = create_vhost(made.vhost)
            for name in names:
                made.databases[name] = create_database(f"prm_test_{run}_{name}")
        except BaseException:
            made.remove()
            raise
        os.environ["AMQP_URI"] = made.amqp_uri
        for name, url in made.databases.items():
            os.environ[f"{name.upper()}_DATABASE_URL"] = url
        # A module may have read the settings at collection, before the vhost existed.
        get_settings.cache_clear()
        return made

    def remove(self) -> None:
        """Delete the vhost and drop the databases."""
        delete_vhost(self.vhost)
        for name in self.databases:
            drop_database(f"prm_test_{self.run}_{name}")


def parked_message(amqp_uri: str, event_id: str, timeout: float = 15.0) -> Message:
    """The message of event ``event_id`` once it is in the parked queue (taken out of it,
    as are the others read on the way)."""
    from services.common.broker import parked_queue

    deadline = time.monotonic() + timeout
    while True:
        with Connection(amqp_uri) as connection:
            queue = parked_queue()(connection.channel())
            while (message := queue.get(no_ack=True)) is not None:
                if message.payload.get("id") == event_id:
                    return message
        if time.monotonic() > deadline:
            raise AssertionError(f"event {event_id} was not parked in {timeout} s")
        time.sleep(0.05)
