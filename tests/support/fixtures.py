"""The stack over HTTP: every service and the gateway as real processes.

Shared by the tiers that drive the running stack (e2e/, security/): one stack per run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.client import Client
from tests.support.infra import RunInfra
from tests.support.stack import Stack
from tests.support.world import ADMIN_PASSWORD, World


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, run_infra: RunInfra) -> Iterator[Stack]:
    """Every service and the gateway as processes on this run's vhost and databases."""
    from services.common.registry import NAMES as SERVICES

    # ``admin`` and the module fixtures sign in once and never refresh; a run that picks
    # e2e modules late (or a long fuzz run) outlasts the default 15 minutes of a token.
    env = {"PRM_ACCESS_TOKEN_TTL": "14400"}
    stack = Stack(SERVICES, Path(tmp_path_factory.mktemp("stack-logs")), env=env)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def anonymous(stack: Stack) -> Client:
    return Client(stack.url)


@pytest.fixture(scope="session")
def admin(anonymous: Client) -> Client:
    return anonymous.login("admin", ADMIN_PASSWORD)


@pytest.fixture
def world(admin: Client, anonymous: Client) -> World:
    return World(admin, anonymous)
