"""The load tier: ``make run``'s own stack (one process per service, SQLite files in a
directory of the test's own), then the same stack on PostgreSQL, each in a RabbitMQ vhost
of its own, under the mixed workload of ``tests/support/mixed_load.py``.

    PRM_LOAD_SECONDS  how long the team works on each stack (default 30)
    PRM_LOAD_THREADS  client threads: four HQ people and the rest partners' sales users,
                      two partners alike (default 8)

The latency figures of each run are printed at the end of the session (timing goals
belong to ``bench.mixed_load``; the tests assert none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from services.common.registry import NAMES as SERVICES
from tests.support import infra
from tests.support.mixed_load import REPORTS
from tests.support.stack import Stack


def pytest_terminal_summary(terminalreporter) -> None:
    for title, text in REPORTS:
        terminalreporter.section(title)
        for line in text.splitlines():
            terminalreporter.write_line(line)


@pytest.fixture
def load_stack(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[str], AbstractContextManager[Stack]]:
    """``with load_stack("sqlite" or "postgresql") as stack``: every service and the
    gateway as processes, on a vhost, state directory and databases of their own, removed
    afterwards."""
    run = getattr(request.config, "_prm_run", "local")

    @contextmanager
    def start(store: str) -> Iterator[Stack]:
        vhost = f"prm-test-{run}-load-{store}"
        var = tmp_path / store / "var"
        var.mkdir(parents=True)
        env = {
            "AMQP_URI": infra.create_vhost(vhost),
            "PRM_VAR_DIR": str(var),
            "PRM_ACCESS_TOKEN_TTL": "3600",
        }
        databases = []
        for service in SERVICES:
            if store == "sqlite":  # what ``make run`` uses when no URL is set
                url = f"sqlite:///{var / f'{service}.db'}"
            else:
                databases.append(f"prm_test_{run}_load_{service}")
                url = infra.create_database(databases[-1])
            env[f"{service.upper()}_DATABASE_URL"] = url
        log_dir = tmp_path / store / "logs"
        log_dir.mkdir()
        stack = Stack(SERVICES, log_dir, env=env)
        try:
            stack.start()
            yield stack
        finally:
            stack.stop()
            infra.delete_vhost(vhost)
            for name in databases:
                infra.drop_database(name)

    return start
