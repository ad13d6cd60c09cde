"""The whole stack as real processes: migrations, every service, the gateway."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    """Starts ``manage.py run`` for each service and gunicorn for the gateway."""

    def __init__(self, services: tuple[str, ...], log_dir: Path, env: dict | None = None) -> None:
        self.services = services
        self.log_dir = log_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The gateway's metrics listen on a port of their own, never the public one.
        self.metrics_port = free_port()
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        metrics = {"PRM_METRICS_PORT": str(self.metrics_port), "PRM_METRICS_HOST": "127.0.0.1"}
        self.env = os.environ | metrics | (env or {})
        self.processes: dict[str, subprocess.Popen] = {}

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.processes[name] = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "manage.py", "migrate"],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            timeout=300,
        )

    def start_service(self, name: str) -> None:
        self._spawn(name, [sys.executable, "manage.py", "run", name])

    def stop_service(self, name: str, sig: int = 15) -> None:
        process = self.processes.pop(name, None)
        if process is None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def start_gateway(self) -> None:
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        self._spawn(
            "gateway",
            [
                gunicorn,
                "-c",
                "gateway/gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--access-logfile",
                "/dev/null",
                "gateway.wsgi:app",
            ],
        )

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited: {self.tail(name)}")
            try:
                last = requests.get(f"{self.url}/readyz", timeout=5)
                if last.status_code == 200:
                    return
            except requests.RequestException as exc:
                last = exc
            time.sleep(0.3)
        raise RuntimeError(f"stack not ready: {last}; gateway log: {self.tail('gateway')}")

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def tail(self, name: str, lines: int = 40) -> str:
        return "\n".join(self.log(name).splitlines()[-lines:])

    def start(self) -> None:
        self.migrate()
        for name in self.services:
            self.start_service(name)
        self.start_gateway()
        self.wait_ready()

    def stop(self) -> None:
        for name in list(self.processes):
            self.stop_service(name)
