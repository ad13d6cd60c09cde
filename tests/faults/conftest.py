"""A stack of the fault suites' own: its own RabbitMQ node and PostgreSQL server (to
restart at will), its own state directory; and the world the workload runs in.

Sizes come from the environment (``tests/support/workload.py``: PRM_FAULT_ORDERS,
PRM_FAULT_THREADS), so the same tests are the CI's quick run and the long run of the
README ("Reliability").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.registry import NAMES as SERVICES
from tests.support import broker as private_broker
from tests.support import postgres as private_postgres
from tests.support import scenario
from tests.support.client import Client
from tests.support.ledger import REPORTS, Ledger
from tests.support.stack import Stack
from tests.support.workload import OrderWorld
from tests.support.world import ADMIN_PASSWORD


def pytest_terminal_summary(terminalreporter) -> None:
    if not REPORTS:
        return
    terminalreporter.section("fault suites: lost / duplicated / unexpected")
    for report in REPORTS:
        for line in report.lines():
            terminalreporter.write_line(line)


@pytest.fixture(scope="package")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[private_broker.PrivateBroker]:
    if not private_broker.available():
        pytest.skip("RabbitMQ is not installed here: the fault suites need a node of their own")
    node = private_broker.PrivateBroker(tmp_path_factory.mktemp("rabbitmq"))
    node.start()
    try:
        yield node
    finally:
        node.remove()


@pytest.fixture(scope="package")
def postgres() -> Iterator[private_postgres.PrivatePostgres]:
    if not private_postgres.available():
        pytest.skip("PostgreSQL is not installed here: the fault suites need a server of their own")
    server = private_postgres.PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="package")
def database_urls(postgres: private_postgres.PrivatePostgres) -> dict[str, str]:
    return {service: postgres.create_database(f"prm_{service}") for service in SERVICES}


@pytest.fixture(scope="package")
def fault_stack(
    broker: private_broker.PrivateBroker,
    database_urls: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    env = {
        "AMQP_URI": broker.uri,
        "PRM_VAR_DIR": str(tmp_path_factory.mktemp("fault-var")),
        # A long run outlasts the default 15 minutes of an access token.
        "PRM_ACCESS_TOKEN_TTL": "14400",
        **{f"{service.upper()}_DATABASE_URL": url for service, url in database_urls.items()},
    }
    stack = Stack(SERVICES, Path(tmp_path_factory.mktemp("fault-logs")), env=env)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="package")
def admin(fault_stack: Stack) -> Client:
    return Client(fault_stack.url).login("admin", ADMIN_PASSWORD)


@pytest.fixture(scope="package")
def order_world(admin: Client, fault_stack: Stack) -> OrderWorld:
    """The world of the scenarios (``tests/support/scenario.py`` ``order_world``)."""
    return scenario.order_world(admin, fault_stack.url)


@pytest.fixture(scope="package")
def ledger(order_world: OrderWorld, database_urls: dict[str, str]) -> Iterator[Ledger]:
    books = Ledger(database_urls, order_world.partner_id)
    try:
        yield books
    finally:
        books.close()
