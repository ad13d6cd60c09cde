"""The stack over HTTP: every service and the gateway as real processes.

Shared by the tiers that drive the running stack (e2e/, security/): one stack per run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.client import SECRETS_SEEN, Client
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
    leaks = secrets_in_logs(stack, SECRETS_SEEN | stack_keys(stack))
    assert not leaks, f"credentials written to the stack's logs: {leaks}"


def stack_keys(stack: Stack) -> set[str]:
    """The keys and passwords the stack's processes were given: signing and sealing keys
    (each of a comma-separated ring), passwords, those inside broker URIs, and the broker
    passwords the stack made for each process (kept after it stopped)."""
    from urllib.parse import urlsplit

    keys: set[str] = stack.secrets()
    for name, value in stack.env.items():
        if name.endswith(("_KEY", "_PASSWORD", "_SECRET")):
            keys |= {part.strip() for part in value.split(",")}
        elif name.endswith("_URI") and "@" in value:
            keys.add(urlsplit(value).password or "")
    return {key for key in keys if len(key) >= 12}


def secrets_in_logs(stack: Stack, secrets: set[str]) -> dict[str, list[str]]:
    """Which log files hold which secrets (each shown by its first characters only)."""
    found: dict[str, list[str]] = {}
    for name, text in stack.logs().items():
        hits = [f"{secret[:6]}..." for secret in secrets if secret in text]
        if hits:
            found[name] = hits
    return found


@pytest.fixture(scope="session")
def anonymous(stack: Stack) -> Client:
    return Client(stack.url)


@pytest.fixture(scope="session")
def admin(anonymous: Client) -> Client:
    return anonymous.login("admin", ADMIN_PASSWORD)


@pytest.fixture
def world(admin: Client, anonymous: Client) -> World:
    return World(admin, anonymous)
