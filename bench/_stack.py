"""A stack of the benchmark run's own, as ``make run`` starts it (used by ``bench.all``).

Isolated from any other stack on the machine: its own RabbitMQ vhost
(``prm-bench-<run>``), its own state directory (``PRM_VAR_DIR``: SQLite files, keys,
Prometheus files), its own free port, and, with ``database="postgresql"``, its own
PostgreSQL databases (``prm_bench_<run>_<service>``) instead of SQLite files.

The same machinery as ``scripts/run.sh``: ``manage.py migrate``, ``manage.py seed``,
``manage.py run SERVICE`` for every service of ``services.registry`` and gunicorn with
``gateway/gunicorn.conf.py`` (access log on, as in ``make run``). ``stop()`` stops the
processes and removes the vhost, the databases and the state directory; it is safe to
call at any point of ``start()`` and more than once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import requests
from psycopg2 import sql

from services.registry import NAMES

ROOT = Path(__file__).resolve().parent.parent
AMQP_BASE = os.environ.get("PRM_BENCH_AMQP_BASE", "amqp://guest:guest@localhost:5672")
PG_ADMIN_DSN = os.environ.get(
    "PRM_BENCH_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
ADMIN_PASSWORD = os.environ.get("PRM_ADMIN_PASSWORD", "hq-bench-pass-2026")
# Settings of another stack that must not leak into this one.
FOREIGN = ("PRM_VAR_DIR", "PROMETHEUS_MULTIPROC_DIR", "PRM_URL", "PORT", "PRM_HTTP_PORT")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
        self.processes: dict[str, subprocess.Popen] = {}
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
        self._manage("migrate")
        self._manage("seed")
        for name in NAMES:
            self._spawn(name, [sys.executable, "manage.py", "run", name])
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        self._spawn(
            "gateway",
            [gunicorn, "-c", "gateway/gunicorn.conf.py", "--bind", f"127.0.0.1:{self.port}",
             "gateway.wsgi:app"],
        )  # fmt: skip
        self._wait_ready()

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

    def _manage(self, command: str) -> None:
        with open(self.log_dir / f"manage-{command}.log", "wb") as log:
            result = subprocess.run(
                [sys.executable, "manage.py", command],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                timeout=600, check=False,
            )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {command} failed: {self.tail(f'manage-{command}')}")

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - as long as the process
        try:
            self.processes[name] = subprocess.Popen(
                args,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the bench, which stops the stack
            )
        finally:
            log.close()

    def _wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited ({process.returncode}): {self.tail(name)}")
            try:
                last = requests.get(f"{self.url}/readyz", timeout=5)
                if last.status_code == 200:
                    return
            except requests.RequestException as exc:
                last = exc
            time.sleep(0.5)
        raise RuntimeError(f"the stack is not ready after {timeout:.0f} s: {last}")

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

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
        for process in self.processes.values():
            self._signal(process, signal.SIGTERM)
        for name, process in list(self.processes.items()):
            try:
                process.wait(timeout=25)
            except subprocess.TimeoutExpired:
                self._signal(process, signal.SIGKILL)
                process.wait(timeout=10)
            self.processes.pop(name)
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

    @staticmethod
    def _signal(process: subprocess.Popen, signum: int) -> None:
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):  # the group: gunicorn's workers too
            os.killpg(process.pid, signum)
