"""Test run set-up: a RabbitMQ vhost and PostgreSQL databases of this run's own.

Each run gets a fresh vhost (so a stack started with ``make run`` on the same broker is
never disturbed, nor disturbs us) and one database per service, dropped at the end.
"""

import warnings

warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()  # Nameko's pytest plugin no longer does it (2.14)

import os  # noqa: E402
import secrets  # noqa: E402
import tempfile  # noqa: E402

import pytest  # noqa: E402

from services.registry import NAMES as SERVICES  # noqa: E402
from tests.support import infra  # noqa: E402

pytest_plugins = ["tests.support.fixtures"]


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    run = secrets.token_hex(4)
    config._prm_run = run  # type: ignore[attr-defined]
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
    os.environ["AMQP_URI"] = infra.create_vhost(f"prm-test-{run}")
    for service in (*SERVICES, "kit"):
        os.environ[f"{service.upper()}_DATABASE_URL"] = infra.create_database(
            f"prm_test_{run}_{service}"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    run = getattr(config, "_prm_run", None)
    if run is None:
        return
    infra.delete_vhost(f"prm-test-{run}")
    for service in (*SERVICES, "kit"):
        infra.drop_database(f"prm_test_{run}_{service}")


@pytest.fixture(scope="session")
def amqp_uri() -> str:
    return os.environ["AMQP_URI"]


@pytest.fixture
def rabbit_config(amqp_uri: str) -> dict:
    """Nameko's config for containers in tests (overrides the plugin's, which needs the
    management API)."""
    return {"AMQP_URI": amqp_uri, "max_workers": 10, "serializer": "json"}
