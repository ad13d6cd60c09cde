"""The services tier runs one service at a time on a real database and broker: each
module makes a database of its own (``tests.support.infra.fresh_database``); the run's
vhost is the broker's."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _infra(run_infra: object) -> None:
    """Every services test runs against this run's broker vhost."""
