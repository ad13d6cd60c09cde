"""The integration tier runs services on real RabbitMQ and PostgreSQL: it needs this run's
vhost and databases."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _infra(run_infra: object) -> None:
    """Every integration test runs against this run's broker vhost and databases."""
