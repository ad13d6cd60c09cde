"""Test run set-up shared by every tier: the environment the services read, and the
infrastructure of this run, made only for the tiers that ask for it.

Secrets, intervals and limits are set for every run (``pytest_configure``). The RabbitMQ
vhost and the PostgreSQL databases of the run (one per service, dropped at the end) are
made by the session fixture ``run_infra``, which the tiers that cross a broker or a
database use (their conftests, and the stack fixtures); ``tests/unit`` never does, so it
runs with neither server about.
"""

import warnings

warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()  # Nameko's pytest plugin no longer does it (2.14)

import os  # noqa: E402
import secrets  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import hypothesis  # noqa: E402
import pytest  # noqa: E402

from services.common.registry import NAMES as SERVICES  # noqa: E402
from tests.support import infra  # noqa: E402

pytest_plugins = ["tests.support.fixtures"]

# In CI (``CI`` set) property tests draw the same examples every run, so that a red build
# names a change, not a lucky draw; elsewhere they draw afresh and may find something new.
hypothesis.settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    run = secrets.token_hex(4)
    config._prm_run = run
    var = tempfile.mkdtemp(prefix=f"prm-test-{run}-")
    os.environ.update(
        PRM_VAR_DIR=var,
        PRM_ENV="test",
        PRM_JWT_SECRET=secrets.token_urlsafe(48),
        PRM_INTERNAL_KEY=secrets.token_urlsafe(48),
        PRM_SECRETS_KEY=secrets.token_urlsafe(48),
        PRM_ADMIN_PASSWORD="hq-test-pass-2026",
        RPC_TIMEOUT="10",
        PRM_OUTBOX_INTERVAL="0.2",
        PRM_TIMER_INTERVAL="0.5",
        LOG_LEVEL="WARNING",
        # Every test signs in from 127.0.0.1; the per-address limit is tested on its own.
        PRM_LOGIN_FAILURES_PER_ADDRESS="10000",
        # Notify: webhooks to local test servers, and a retry schedule of seconds, not hours.
        PRM_WEBHOOK_ALLOW_PRIVATE="true",
        PRM_SMTP_TLS="none",
        PRM_DELIVERY_INTERVAL="0.2",
        PRM_DELIVERY_TIMEOUT="3",
        PRM_DELIVERY_RETRY_BASE="0.2",
        PRM_DELIVERY_RETRY_MAX="1",
        PRM_DELIVERY_MAX_ATTEMPTS="5",
        PRM_CHANNEL_MAX_FAILURES="4",
        # Tokens some modules sign at collection must outlive a whole run (default 300 s).
        PRM_CALLER_TOKEN_TTL="3600",
    )


@pytest.fixture(scope="session")
def run_infra(request: pytest.FixtureRequest) -> Iterator[infra.RunInfra]:
    """This run's vhost and databases, made on first use and removed at the end; their
    addresses are in the environment (``AMQP_URI``, ``<SERVICE>_DATABASE_URL``) before
    any stack or container starts."""
    run = getattr(request.config, "_prm_run", None) or secrets.token_hex(4)
    made = infra.RunInfra.create(run, (*SERVICES, "kit"))
    try:
        yield made
    finally:
        made.remove()


@pytest.fixture(scope="session")
def amqp_uri(run_infra: infra.RunInfra) -> str:
    return run_infra.amqp_uri


@pytest.fixture
def rabbit_config(amqp_uri: str) -> dict:
    """Nameko's config for containers in tests (overrides the plugin's, which needs the
    management API)."""
    return {"AMQP_URI": amqp_uri, "max_workers": 10, "serializer": "json"}
