"""A RabbitMQ node of a test's own, on its own ports and data directory.

Fault tests stop and start the broker; doing that to the machine's shared node would
break every other stack using it. This node runs from the installed RabbitMQ, with its
own Erlang node name, cookie, configuration, plugins file (none) and Mnesia directory,
so a restart keeps durable queues and persistent messages exactly as a real restart
would, and nothing else on the machine notices.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.support.stack import free_port

RABBITMQ_BIN = Path(os.environ.get("PRM_TEST_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))


def _running(pid: int) -> bool:
    """Whether ``pid`` is alive (a zombie nobody reaped yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False
    return state != "Z"


def available() -> bool:
    return (RABBITMQ_BIN / "rabbitmq-server").exists() and (RABBITMQ_BIN / "rabbitmqctl").exists()


class PrivateBroker:
    """One node; ``name`` and ``cookie`` given when it is to join others (``join_cluster``:
    the nodes of a cluster share one Erlang cookie), else a name and cookie of its own."""

    def __init__(self, base: Path, *, name: str | None = None, cookie: str | None = None) -> None:
        self.base = base
        self.name = name or f"prm-fault-{secrets.token_hex(3)}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.uri = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        home = base / "home"
        for folder in (home, base / "mnesia", base / "log"):
            folder.mkdir(parents=True, exist_ok=True)
        cookie_file = home / ".erlang.cookie"
        cookie_file.write_text(cookie or secrets.token_hex(16))
        cookie_file.chmod(0o400)
        (base / "plugins").write_text("[].\n")
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        (base / "rabbitmq-env.conf").write_text("")
        self.env = os.environ | {
            "HOME": str(home),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "plugins"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(base / "node.pid"),
        }

    def ctl(
        self, *args: str, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess:
        """``rabbitmqctl -q ARGS`` against this node (never the machine's own), given
        ``input`` on its standard input."""
        return subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-q", "-n", self.name, *args],
            env=self.env,
            cwd=self.base,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, timeout: float = 90) -> None:
        subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmq-server"), "-detached"],
            env=self.env,
            cwd=self.base,
            check=True,
            timeout=30,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # await_startup fails at once until the node has registered with epmd.
            if self.ctl("await_startup", "--timeout", "30").returncode == 0:
                return
            time.sleep(0.3)
        raise RuntimeError(f"RabbitMQ node {self.name} did not start: {self.log_tail()}")

    def join_cluster(self, seed: str) -> None:
        """Join the cluster of node ``seed`` (a running node with the same cookie): the
        application stops, the node forgets its own data and joins, then starts again."""
        for args in (("stop_app",), ("join_cluster", seed), ("start_app",)):
            done = self.ctl(*args, timeout=120)
            if done.returncode != 0:
                raise RuntimeError(
                    f"rabbitmqctl -n {self.name} {' '.join(args)} failed:"
                    f" {(done.stderr or done.stdout).strip()}"
                )

    def stop(self) -> None:
        """Shut the whole node down (the Erlang VM too) and wait until it is gone."""
        self.ctl("shutdown", timeout=120)

    def kill(self) -> None:
        """SIGKILL the node's Erlang VM: no shutdown at all, as when the process is lost."""
        answer = self.ctl("eval", "list_to_integer(os:getpid()).")
        pid = int(answer.stdout.strip())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _running(pid):
            time.sleep(0.1)

    def restart(self, kill: bool = False) -> float:
        """Stop (or kill) and start the node; the seconds it was unreachable."""
        began = time.monotonic()
        if kill:
            self.kill()
        else:
            self.stop()
        self.start()
        return time.monotonic() - began

    def unacknowledged(self) -> dict[str, int]:
        """Messages delivered to a consumer and not yet acknowledged, by queue."""
        listed = self.ctl("list_queues", "name", "messages_unacknowledged", "--no-table-headers")
        counts = {}
        for line in listed.stdout.splitlines():
            name, _, count = line.rpartition("\t")
            if name and count.isdigit():
                counts[name] = int(count)
        return counts

    def log_tail(self, lines: int = 20) -> str:
        log = self.base / "log" / f"{self.name}.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
