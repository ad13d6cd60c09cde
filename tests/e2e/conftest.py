"""The e2e tier drives the running stack over HTTP: it needs this run's vhost and
databases (the stack fixtures themselves are in ``tests/support/fixtures.py``)."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _infra(run_infra: object) -> None:
    """Every e2e test runs against this run's broker vhost and databases."""
