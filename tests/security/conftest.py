"""Attacks tried as a partner user (or a careless HQ user) would: each test here failed on
the code before its fix. The tier drives the running stack and some services directly, so
it needs this run's vhost and databases (stack fixtures: ``tests/support/fixtures.py``)."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _infra(run_infra: object) -> None:
    """Every security test runs against this run's broker vhost and databases."""
