"""The one launcher of the whole stack as real processes, for the tests and the benchmarks
(``bench/_stack.py`` provisions its environment and starts it with this): ``manage.py
migrate`` (and ``seed`` when asked), ``manage.py run SERVICE`` for each service, gunicorn
with ``gateway/gunicorn.conf.py`` for the gateway, each process with a broker user of its
own (``provision_broker_users``); readiness, logs, stopping."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import requests

ROOT = Path(__file__).resolve().parents[2]
#: What the tests give gunicorn besides its config: two workers, the access log in the
#: gateway's log file (where a run looks for secrets and personal data that leaked).
TEST_GATEWAY_ARGS = ("--workers", "2", "--access-logfile", "-")


#: (AMQP_URI, process) -> that process's login, for every stack running with broker users:
#: what lets a test publish a service's events as that service (``producer_login``).
_LOGINS: dict[tuple[str, str], str] = {}


def producer_login(process: str, amqp_uri: str) -> str:
    """The login of ``process`` on the broker of ``amqp_uri`` if a stack made one there,
    else ``amqp_uri``: a test plays a producer with that producer's own user, as the
    consumers accept its events from no other."""
    return _LOGINS.get((amqp_uri, process), amqp_uri)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 at the time of asking."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BrokerAdmin(Protocol):
    """Makes and deletes users on a broker the machine's ``rabbitmqctl`` does not reach (a
    node or cluster of a test's own, ``tests/support/cluster.py``)."""

    def apply(self, document: dict[str, Any]) -> str: ...

    def remove_users(self, users: list[str]) -> None: ...


class Stack:
    """Starts ``manage.py run`` for each service and gunicorn for the gateway.

    The processes get ``base`` (the current environment unless given) updated with
    ``env``; with ``metrics`` the gateway's metrics listen on a port of their own, never
    the public one. Each process has a log file in ``log_dir`` and a process group of its
    own, so that a signal reaches gunicorn's workers too. With ``replicas`` above one,
    each service runs as that many processes: ``orders``, ``orders-2``, ..., each with the
    broker login of its service. Broker users are made through ``broker_admin`` when
    given, else as ``services.common.broker`` makes them (management API, else the
    machine's ``rabbitmqctl``).
    """

    def __init__(
        self,
        services: tuple[str, ...],
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        *,
        base: Mapping[str, str] | None = None,
        port: int | None = None,
        metrics: bool = True,
        gateway_args: tuple[str, ...] = TEST_GATEWAY_ARGS,
        ready_timeout: float = 90.0,
        broker_users: bool = True,
        replicas: int = 1,
        broker_admin: BrokerAdmin | None = None,
    ) -> None:
        self.services = services
        #: Every service process by name -> the service it runs: ``orders``, then its
        #: other replicas ``orders-2``, ``orders-3``, ...
        self.service_processes = {
            name if index == 1 else f"{name}-{index}": name
            for name in services
            for index in range(1, replicas + 1)
        }
        self.broker_admin = broker_admin
        #: Whether ``start`` gives each process a broker user of its own.
        self.broker_users = broker_users
        self.log_dir = log_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.gateway_args = gateway_args
        self.ready_timeout = ready_timeout
        extra: dict[str, str] = {}
        self.metrics_port: int | None = None
        self.metrics_url: str | None = None
        if metrics:
            self.metrics_port = free_port()
            self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
            extra = {"PRM_METRICS_PORT": str(self.metrics_port), "PRM_METRICS_HOST": "127.0.0.1"}
        self.env = dict(os.environ if base is None else base) | extra | dict(env or {})
        self.processes: dict[str, subprocess.Popen] = {}
        #: Each process's own broker login (``provision_broker_users``), on top of ``env``.
        self.broker_logins: dict[str, dict[str, str]] = {}
        self.broker_prefix: str | None = None
        self.broker_warning: str | None = None
        #: Every password the stack made for its processes (``secrets``); kept after
        #: ``stop`` forgets the logins, so that the logs can still be searched for them.
        self._provisioned: set[str] = set()

    def _spawn(self, name: str, args: list[str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{name}.log", "ab") as log:  # the child keeps its own copy
            self.processes[name] = subprocess.Popen(
                args,
                cwd=ROOT,
                env=self.env | self.broker_logins.get(self.service_processes.get(name, name), {}),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def manage(self, command: str, timeout: float = 600) -> None:
        """Run ``manage.py COMMAND`` to its end (log: ``manage-COMMAND.log``); raises
        RuntimeError with the log's tail if it fails."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"manage-{command}.log", "wb") as log:
            done = subprocess.run(
                [sys.executable, "manage.py", command],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                timeout=timeout, check=False,
            )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {command} failed: {self.tail(f'manage-{command}')}")

    def migrate(self) -> None:
        """Migrations, reference data and event queues (``manage.py migrate``)."""
        self.manage("migrate", timeout=300)

    def start_service(self, name: str) -> None:
        """Start service process ``name`` (``manage.py run``; a replica's name is its
        service's with ``-2``, ``-3``, ...), whether or not it ran before."""
        service = self.service_processes.get(name, name)
        self._spawn(name, [sys.executable, "manage.py", "run", service])

    def stop_service(self, name: str, sig: int = signal.SIGTERM) -> None:
        """Send ``sig`` to the process (group) of ``name`` (a service, or one replica of
        it) and wait for it; killed after 20 s. Nothing happens if it is not running."""
        process = self.processes.pop(name, None)
        if process is None:
            return
        self._signal(process, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._signal(process, signal.SIGKILL)
            process.wait(timeout=10)

    def start_gateway(self) -> None:
        """Start gunicorn with the gateway's config on ``self.port``."""
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        args = [gunicorn, "-c", "gateway/gunicorn.conf.py", "--bind", f"127.0.0.1:{self.port}"]
        self._spawn("gateway", [*args, *self.gateway_args, "gateway.wsgi:app"])

    def wait_ready(self, timeout: float | None = None) -> None:
        """Return once /readyz answers 200; raise if a process exits or time runs out."""
        timeout = timeout or self.ready_timeout
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
            time.sleep(0.3)
        raise RuntimeError(f"stack not ready after {timeout:.0f} s: {last}; gateway log: "
                           f"{self.tail('gateway')}")  # fmt: skip

    def logs(self) -> dict[str, str]:
        """Every log file of the stack (processes and manage.py commands) by file name."""
        if not self.log_dir.exists():
            return {}
        paths = sorted(self.log_dir.glob("*.log"))
        return {path.name: path.read_text(errors="replace") for path in paths}

    def log(self, name: str) -> str:
        """Everything process ``name`` wrote so far."""
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def tail(self, name: str, lines: int = 40) -> str:
        """The last ``lines`` lines of process ``name``'s log."""
        return "\n".join(self.log(name).splitlines()[-lines:])

    def provision_broker_users(self) -> bool:
        """One broker user per process (services/common/broker.py), under a prefix of this
        stack's own, so that every run exercises the permissions; the processes started
        afterwards connect with their own. Where the users cannot be made (no management
        API and no rabbitmqctl, access refused, or a broker that rabbitmqctl does not
        manage), it says so and the stack shares AMQP_URI's login. Whether they were made."""
        from kombu import Connection

        from services.common import broker
        from services.common.config import DEFAULT_AMQP_URI, with_login

        base = self.env.get("AMQP_URI") or DEFAULT_AMQP_URI
        prefix = f"prm-s{secrets.token_hex(4)}-"
        passwords = {name: secrets.token_urlsafe(24) for name in broker.process_names()}
        self._provisioned |= set(passwords.values())
        users = [broker.user_name(name, prefix) for name in passwords]
        document = broker.definitions(passwords, broker.uri_vhost(base), prefix)
        try:
            if self.broker_admin is not None:
                self.broker_admin.apply(document)
            else:
                broker.apply(document, base)
            probe = with_login(base, users[0], passwords[broker.process_names()[0]])
            with Connection(probe, connect_timeout=5) as connection:
                connection.ensure_connection(max_retries=1)
        except Exception as exc:
            self._remove_users(users, base)
            self.broker_warning = (
                f"WARNING: broker users not created ({exc}); the stack shares the login of"
                " AMQP_URI, and the broker's permissions go untested"
            )
            print(self.broker_warning, file=sys.stderr)
            return False
        self.broker_prefix = prefix
        self.env["PRM_BROKER_USER_PREFIX"] = prefix
        for name, password in passwords.items():
            login = with_login(base, broker.user_name(name, prefix), password)
            _LOGINS[(base, name)] = login
        self.broker_logins = {
            name: {"PRM_BROKER_USER": broker.user_name(name, prefix), "PRM_BROKER_PASSWORD": pw}
            for name, pw in passwords.items()
        }
        return True

    def secrets(self) -> set[str]:
        """The secrets the stack made and gave its processes (each process's broker
        password), also after ``stop``: what its logs must never show."""
        return set(self._provisioned)

    def remove_broker_users(self) -> None:
        """Delete the users ``provision_broker_users`` made."""
        if not self.broker_logins:
            return
        from services.common.config import DEFAULT_AMQP_URI

        base = self.env.get("AMQP_URI") or DEFAULT_AMQP_URI
        users = [login["PRM_BROKER_USER"] for login in self.broker_logins.values()]
        self._remove_users(users, base)
        for name in self.broker_logins:
            _LOGINS.pop((base, name), None)
        self.broker_logins = {}

    def _remove_users(self, users: list[str], base: str) -> None:
        if self.broker_admin is not None:
            self.broker_admin.remove_users(users)
        else:
            from services.common import broker

            broker.remove_users(users, base)

    def start(self, seed: bool = False) -> None:
        """Migrate (and seed the demo data), start every service and the gateway, and wait
        until the gateway is ready."""
        self.migrate()
        if seed:
            self.manage("seed")
        if self.broker_users and not self.broker_logins:
            self.provision_broker_users()
        for name in self.service_processes:
            self.start_service(name)
        self.start_gateway()
        self.wait_ready()

    def stop(self) -> None:
        """Stop every process: SIGTERM to all first, so that they wind down together."""
        for process in self.processes.values():
            self._signal(process, signal.SIGTERM)
        for name in list(self.processes):
            self.stop_service(name)
        self.remove_broker_users()

    @staticmethod
    def _signal(process: subprocess.Popen, signum: int) -> None:
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
