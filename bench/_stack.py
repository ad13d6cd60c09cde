"""A stack of the benchmark run's own, as ``make run`` starts it (used by ``bench.all``).

Isolated from any other stack on the machine: its own RabbitMQ vhost
(``prm-bench-<run>``), its own state directory (``PRM_VAR_DIR``: SQLite files, keys,
Prometheus files), its own free port, and, with ``database="postgresql"``, its own
PostgreSQL databases (``prm_bench_<run>_<service>``) instead of SQLite files.

The processes are started by the tests' launcher (``tests.support.stack.Stack``), as
``scripts/run.sh`` starts them: ``manage.py migrate``, ``manage.py seed``, ``manage.py
run SERVICE`` for every service of ``services.common.registry`` and gunicorn with
``gateway/gunicorn.conf.py`` (its own worker count and access log, as in ``make run``; no
metrics port). ``stop()`` stops the processes and removes the vhost, the databases and
the state directory; it is safe to call at any point of ``start()`` and more than once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg2
from psycopg2 import sql

from services.common.registry import NAMES
from tests.support.stack import Stack, free_port

AMQP_BASE = os.environ.get("PRM_BENCH_AMQP_BASE", "amqp://guest:guest@localhost:5672")
PG_ADMIN_DSN = os.environ.get(
    "PRM_BENCH_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
ADMIN_PASSWORD = os.environ.get("PRM_ADMIN_PASSWORD", "hq-bench-pass-2026")
# Settings of another stack that must not leak into this one.
FOREIGN = ("PRM_VAR_DIR", "PROMETHEUS_MULTIPROC_DIR", "PRM_URL", "PORT", "PRM_HTTP_PORT")


def rabbitmqctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=120, check=False
    )


def pg_admin() -> Any:
    connection = psycopg2.connect(PG_ADMIN_DSN)
    connection.autocommit = True
    return connection


def pg_url(name: str) -> str:
    params = dict(part.split("=", 1) for part in PG_ADMIN_DSN.split())
    password = f":{params['password']}" if "password" in params else ""
    return (
        f"postgresql+psycopg2://{params.get('user', 'postgres')}{password}@"
        f"{params.get('host', '127.0.0.1')}:{params.get('port', '5432')}/{name}"
    )


def drop_databases(prefix: str) -> list[str]:
    """Drop every database whose name starts with ``prefix`` (the run's own)."""
    connection = pg_admin()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (prefix,)
            )
            names = [row[0] for row in cursor.fetchall()]
            for name in names:
                cursor.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
    finally:
        connection.close()
    return names


class OwnStack:
    """Every service and the gateway, in a vhost, state directory and port of their own."""

    def __init__(self, run_id: str, log_dir: Path, database: str = "sqlite") -> None:
        if database not in ("sqlite", "postgresql"):
            raise ValueError(f"database: sqlite or postgresql, not {database!r}")
        self.run_id = run_id
        self.log_dir = log_dir
        self.database = database
        self.vhost = f"prm-bench-{run_id}"
        self.db_prefix = f"prm_bench_{run_id}_"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state_dir: Path | None = None
        self.stack: Stack | None = None
        self.env: dict[str, str] = {}
        self._vhost_made = False
        self._databases: list[str] = []

    # -- start ----------------------------------------------------------------------------

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = Path(tempfile.mkdtemp(prefix=f"prm-bench-{self.run_id}-"))
        env = {k: v for k, v in os.environ.items() if k not in FOREIGN}
        for name in NAMES:
            env.pop(f"{name.upper()}_DATABASE_URL", None)
        env |= {
            "AMQP_URI": self._make_vhost(),
            "PRM_VAR_DIR": str(self.state_dir / "var"),
            "PROMETHEUS_MULTIPROC_DIR": str(self.state_dir / "prometheus"),
            "PORT": str(self.port),
            "PRM_HTTP_PORT": str(self.port),
            "PRM_URL": self.url,
            "PRM_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "PYTHONUNBUFFERED": "1",
        }
        if self.database == "postgresql":
            for name in NAMES:
                env[f"{name.upper()}_DATABASE_URL"] = self._make_database(name)
        self.env = env
        self.stack = Stack(
            NAMES,
            self.log_dir,
            base=env,
            port=self.port,
            metrics=False,
            gateway_args=(),
            ready_timeout=180.0,
        )
        self.stack.start(seed=True)

    def _make_vhost(self) -> str:
        if shutil.which("rabbitmqctl") is None:
            raise RuntimeError("rabbitmqctl not found: cannot make a vhost (or give --url)")
        user = urlsplit(AMQP_BASE).username or "guest"
        made = rabbitmqctl("add_vhost", self.vhost)
        if made.returncode != 0:
            raise RuntimeError(f"rabbitmqctl add_vhost {self.vhost}: {made.stderr.strip()}")
        self._vhost_made = True
        allowed = rabbitmqctl("set_permissions", "-p", self.vhost, user, ".*", ".*", ".*")
        if allowed.returncode != 0:
            raise RuntimeError(f"rabbitmqctl set_permissions: {allowed.stderr.strip()}")
        return f"{AMQP_BASE.rstrip('/')}/{self.vhost}"

    def _make_database(self, service: str) -> str:
        name = f"{self.db_prefix}{service}"
        connection = pg_admin()
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        finally:
            connection.close()
        self._databases.append(name)
        return pg_url(name)

    def tail(self, name: str, lines: int = 30) -> str:
        """The last ``lines`` lines of process ``name``'s log."""
        return self.stack.tail(name, lines) if self.stack is not None else ""

    @property
    def processes(self) -> dict[str, subprocess.Popen]:
        """The stack's running processes, by name."""
        return self.stack.processes if self.stack is not None else {}

    # -- what it is -------------------------------------------------------------------------

    def describe(self) -> str:
        if self.database == "postgresql":
            database = f"PostgreSQL databases {self.db_prefix}<service>"
        else:
            database = "SQLite files in the state directory (the `make run` default)"
        return (
            f"own stack on {self.url}: RabbitMQ vhost `{self.vhost}`, {database}, "
            f"state directory {self.state_dir}, services {', '.join(NAMES)} "
            f"(`manage.py run`), gunicorn with gateway/gunicorn.conf.py"
        )

    # -- stop -------------------------------------------------------------------------------

    def stop(self) -> list[str]:
        """Stop the processes, remove the vhost, the databases and the state directory;
        what was removed (or could not be)."""
        done = []
        if self.stack is not None:
            self.stack.stop()
        if self._vhost_made:
            deleted = rabbitmqctl("delete_vhost", self.vhost)
            ok = deleted.returncode == 0
            done.append(f"vhost {self.vhost}" + ("" if ok else f" NOT deleted: {deleted.stderr}"))
            self._vhost_made = not ok
        if self._databases:
            try:
                done.extend(f"database {name}" for name in drop_databases(self.db_prefix))
                self._databases = []
            except psycopg2.Error as exc:
                done.append(f"databases {self.db_prefix}* NOT dropped: {exc}")
        if self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            done.append(f"state directory {self.state_dir}")
            self.state_dir = None
        return done
