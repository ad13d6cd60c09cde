"""The bare ceiling: what this machine's HTTP + RPC path answers with no work behind it.

    python -m bench.ceiling [--seconds S] [--engine auto|wrk|python]

gunicorn with ``gateway/gunicorn.conf.py`` (the gateway's workers, threads and access
log) serving a minimal Flask app (``bench._ceiling_app``) whose one route, ``GET /echo``,
calls a Nameko service that returns its argument (``bench._ceiling_echo``) through the
gateway's own RPC client (``gateway.rpc.RpcClient``). No token, no caller, no database:
every other HTTP figure of the benchmarks is given as a share of this one, measured in
the same run with the same load generator (wrk, 8 connections), so that figures taken on
a busy shared machine still compare.

``Ceiling`` starts it beside a stack: a RabbitMQ vhost of its own (``prm-bench-<id>-
ceiling``, the login of ``PRM_BENCH_AMQP_BASE``, guest by default), a free port, and
removes the vhost when it stops. ``bench.all`` starts one for the whole run and gives
its URL to the modules as ``PRM_BENCH_CEILING_URL``; a module run by hand without it
starts its own (``ceiling_url``).

This module measures it alone (``GET /echo`` for S seconds after a warm-up) and prints
req/s, p50 and p99.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import requests

from bench._common import add_figures_argument, figure, fmt, print_machine, write_figures
from bench._stack import AMQP_BASE, rabbitmqctl
from bench._wrk import CONNECTIONS, Load, LoadResult, choose_engine, run_load
from tests.support.stack import free_port

ROOT = Path(__file__).resolve().parent.parent
ENV_URL = "PRM_BENCH_CEILING_URL"
ECHO = Load("ceiling GET /echo", "GET", "/echo")
#: Settings of the stack's gateway the ceiling's gunicorn must not take: its metrics
#: (``on_starting`` empties PROMETHEUS_MULTIPROC_DIR: the stack's gateway's files).
FOREIGN = ("PROMETHEUS_MULTIPROC_DIR", "PRM_METRICS_PORT", "PRM_METRICS_HOST", "PORT")


class Ceiling:
    """The echo service and its gunicorn, in a vhost and port of their own."""

    def __init__(self, log_dir: Path, run_id: str | None = None) -> None:
        self.log_dir = log_dir
        self.vhost = f"prm-bench-{run_id or secrets.token_hex(4)}-ceiling"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen] = {}
        self.vhost_made = False

    def start(self, timeout: float = 60.0) -> str:
        """Start both processes and wait until ``GET /echo`` answers; the URL."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        made = rabbitmqctl("add_vhost", self.vhost)
        if made.returncode != 0:
            raise RuntimeError(f"rabbitmqctl add_vhost {self.vhost}: {made.stderr.strip()}")
        self.vhost_made = True
        user = AMQP_BASE.split("://", 1)[1].split(":", 1)[0] or "guest"
        allowed = rabbitmqctl("set_permissions", "-p", self.vhost, user, ".*", ".*", ".*")
        if allowed.returncode != 0:
            raise RuntimeError(f"rabbitmqctl set_permissions: {allowed.stderr.strip()}")
        amqp = f"{AMQP_BASE.rstrip('/')}/{self.vhost}"
        env = {k: v for k, v in os.environ.items() if k not in FOREIGN}
        env |= {"AMQP_URI": amqp, "PRM_CEILING_AMQP_URI": amqp, "PYTHONUNBUFFERED": "1"}
        self._spawn("ceiling-echo", [sys.executable, "-m", "bench._ceiling_echo"], env)
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        self._spawn(
            "ceiling-gateway",
            [gunicorn, "-c", "gateway/gunicorn.conf.py", "--bind", f"127.0.0.1:{self.port}",
             "bench._ceiling_app:app"],
            env,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited ({process.returncode}): {self.tail(name)}")
            with contextlib.suppress(requests.RequestException):
                last = requests.get(f"{self.url}/echo", timeout=5)
                if last.status_code == 200:
                    return self.url
            time.sleep(0.3)
        raise RuntimeError(f"the ceiling did not answer in {timeout:.0f} s: {last}")

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        with open(self.log_dir / f"{name}.log", "ab") as log:
            self.processes[name] = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def tail(self, name: str, lines: int = 20) -> str:
        path = self.log_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def pids(self) -> list[int]:
        return [process.pid for process in self.processes.values() if process.poll() is None]

    def stop(self) -> list[str]:
        """Stop the processes (their process groups) and delete the vhost; what was done."""
        done = []
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            done.append(f"ceiling process {name}")
        self.processes = {}
        if self.vhost_made:
            deleted = rabbitmqctl("delete_vhost", self.vhost)
            ok = deleted.returncode == 0
            done.append(f"vhost {self.vhost}" + ("" if ok else f" NOT deleted: {deleted.stderr}"))
            self.vhost_made = not ok
        return done


@contextlib.contextmanager
def ceiling_url(log_dir: Path | None = None) -> Iterator[str]:
    """The ceiling's URL: ``$PRM_BENCH_CEILING_URL`` (``bench.all``'s), or one started
    for the duration of the block and removed after it."""
    given = os.environ.get(ENV_URL)
    if given:
        yield given.rstrip("/")
        return
    scratch = None
    if log_dir is None:
        scratch = tempfile.mkdtemp(prefix="prm-bench-ceiling-")
        log_dir = Path(scratch)
    ceiling = Ceiling(log_dir)
    try:
        print(f"starting a bare ceiling (logs in {log_dir}) ...", file=sys.stderr, flush=True)
        yield ceiling.start()
    finally:
        ceiling.stop()
        if scratch:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)


def measure(
    url: str,
    seconds: float,
    engine: str,
    warmup: float = 2.0,
    cpu_probe: Callable[[], dict[str, float]] | None = None,
) -> LoadResult:
    """``GET /echo`` for ``seconds`` after an untimed warm-up (connections, reply queues)."""
    run_load(url, ECHO, warmup, engine=engine)
    return run_load(url, ECHO, seconds, engine=engine, cpu_probe=cpu_probe)


def share(value: float | None, ceiling: LoadResult | None) -> float | None:
    """``value`` (req/s) in per cent of the ceiling's req/s."""
    if value is None or ceiling is None or not ceiling.rate:
        return None
    return 100.0 * value / ceiling.rate


def ceiling_figures(result: LoadResult) -> list[dict]:
    name = f"{result.label} conc {result.connections}"
    return [
        figure(f"{name} req/s", result.rate, "req/s") | {"share": 100.0},
        figure(f"{name} p50", result.p50, "ms"),
        figure(f"{name} p99", result.p99, "ms"),
    ]


def describe(result: LoadResult) -> str:
    return (
        f"ceiling: GET /echo, {result.engine} x{result.connections}: {fmt(result.rate, 0)} req/s,"
        f" p50 {fmt(result.p50)} ms, p99 {fmt(result.p99)} ms, {result.errors} errors"
        + (f" (first: {result.first_error})" if result.first_error else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the run (10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="untimed seconds first (2)")
    parser.add_argument("--engine", choices=("auto", "wrk", "python"), default="auto")
    add_figures_argument(parser)
    args = parser.parse_args()
    engine = choose_engine(args.engine)
    print_machine()
    with ceiling_url() as url:
        result = measure(url, args.seconds, engine, args.warmup)
    print(describe(result))
    print(f"({CONNECTIONS} connections; gunicorn with gateway/gunicorn.conf.py)")
    notes = [f"ceiling: {result.errors} errors: {result.first_error}"] if result.errors else []
    write_figures(args.figures, ceiling_figures(result), notes)


if __name__ == "__main__":
    main()
