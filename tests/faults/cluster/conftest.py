"""The cluster fault suite's own stack: a three-node RabbitMQ cluster of its own
(``tests/support/cluster.py``), a PostgreSQL server of its own (``tests/support/postgres.py``,
never crashed here), and two processes of every service besides the gateway's two workers.

Its fixtures have names of their own (``cluster_stack``, ``cluster_world``,
``cluster_ledger``): the package fixtures of ``tests/faults/conftest.py`` are visible here
too, and none of them is meant. Sizes: ``PRM_CLUSTER_ORDERS`` (``test_cluster.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.registry import NAMES as SERVICES
from tests.support import broker as private_broker
from tests.support import postgres as private_postgres
from tests.support import scenario
from tests.support.client import SECRETS_SEEN, Client
from tests.support.cluster import PrivateCluster
from tests.support.fixtures import secrets_in_logs, stack_keys
from tests.support.ledger import Ledger
from tests.support.stack import Stack
from tests.support.workload import OrderWorld
from tests.support.world import ADMIN_PASSWORD

#: Processes of each service.
REPLICAS = 2


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateCluster]:
    if not private_broker.available():
        pytest.skip("RabbitMQ is not installed here: the cluster suite needs nodes of its own")
    nodes = PrivateCluster(tmp_path_factory.mktemp("rabbitmq-cluster"))
    try:
        nodes.create()
        yield nodes
    finally:
        nodes.remove()


@pytest.fixture(scope="package")
def cluster_databases() -> Iterator[dict[str, str]]:
    """A database per service on a PostgreSQL server of the suite's own: ten service
    processes and the run's checks need more connections than a shared server has free."""
    if not private_postgres.available():
        pytest.skip("PostgreSQL is not installed here: the cluster suite needs a server of its own")
    server = private_postgres.PrivatePostgres()
    try:
        server.start()
        yield {service: server.create_database(f"prm_{service}") for service in SERVICES}
    finally:
        server.remove()


@pytest.fixture(scope="package")
def cluster_stack(
    cluster: PrivateCluster,
    cluster_databases: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    env = {
        "AMQP_URI": cluster.uri,
        "PRM_VAR_DIR": str(tmp_path_factory.mktemp("cluster-var")),
        # A long run outlasts the default 15 minutes of an access token.
        "PRM_ACCESS_TOKEN_TTL": "14400",
        # Filing's timer ticks every second on both replicas: each tick is one replica's.
        "PRM_TIMER_INTERVAL": "1",
        # A delivery claimed by a notify replica that is then killed is sent again this
        # soon (the shortest lease allowed with the tests' 3 s delivery timeout).
        "PRM_DELIVERY_LEASE": "15",
        **{f"{service.upper()}_DATABASE_URL": url for service, url in cluster_databases.items()},
    }
    stack = Stack(
        SERVICES,
        Path(tmp_path_factory.mktemp("cluster-logs")),
        env=env,
        replicas=REPLICAS,
        broker_admin=cluster,
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
    leaks = secrets_in_logs(stack, SECRETS_SEEN | stack_keys(stack))
    assert not leaks, f"credentials written to the stack's logs: {leaks}"


@pytest.fixture(scope="package")
def cluster_admin(cluster_stack: Stack) -> Client:
    return Client(cluster_stack.url).login("admin", ADMIN_PASSWORD)


@pytest.fixture(scope="package")
def cluster_world(cluster_admin: Client, cluster_stack: Stack) -> OrderWorld:
    return scenario.order_world(cluster_admin, cluster_stack.url)


@pytest.fixture(scope="package")
def cluster_ledger(
    cluster_world: OrderWorld, cluster_databases: dict[str, str]
) -> Iterator[Ledger]:
    books = Ledger(cluster_databases, cluster_world.partner_id)
    try:
        yield books
    finally:
        books.close()
