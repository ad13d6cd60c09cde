"""RabbitMQ vhosts and PostgreSQL databases for a test run."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from contextlib import contextmanager

import psycopg2
from kombu import Connection, Queue
from kombu.message import Message
from psycopg2 import sql

PG_ADMIN_DSN = os.environ.get(
    "PRM_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
AMQP_BASE = os.environ.get("PRM_TEST_AMQP_BASE", "amqp://guest:guest@localhost:5672")


def _rabbitmqctl(*args: str) -> bool:
    if shutil.which("rabbitmqctl") is None:
        return False
    result = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60
    )
    return result.returncode == 0


def create_vhost(name: str) -> str:
    """A vhost of the run's own; the default vhost when rabbitmqctl is not available."""
    if _rabbitmqctl("add_vhost", name) and _rabbitmqctl(
        "set_permissions", "-p", name, "guest", ".*", ".*", ".*"
    ):
        return f"{AMQP_BASE}/{name}"
    return f"{AMQP_BASE}/"


def delete_vhost(name: str) -> None:
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
    with _admin() as cursor:
        cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = dict(part.split("=", 1) for part in PG_ADMIN_DSN.split())
    return (
        f"postgresql+psycopg2://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:"
        f"{params.get('port', '5432')}/{name}"
    )


def drop_database(name: str) -> None:
    with _admin() as cursor:
        cursor.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def parked_message(amqp_uri: str, event_id: str, timeout: float = 15.0) -> Message:
    """The message of event ``event_id`` once it is in the parked queue (taken out of it,
    as are the others read on the way)."""
    from services.common.entrypoints import PARKED_QUEUE

    deadline = time.monotonic() + timeout
    while True:
        with Connection(amqp_uri) as connection:
            queue = Queue(PARKED_QUEUE, durable=True)(connection.channel())
            while (message := queue.get(no_ack=True)) is not None:
                if message.payload.get("id") == event_id:
                    return message
        if time.monotonic() > deadline:
            raise AssertionError(f"event {event_id} was not parked in {timeout} s")
        time.sleep(0.05)
