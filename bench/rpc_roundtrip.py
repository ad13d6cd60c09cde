"""RPC round trip: the same call done three ways, with calls/s, p50 and p99.

    python -m bench.rpc_roundtrip [--calls N] [--threads T] [--user USERNAME]

Needs the stack running (``make run``) with the same environment (``AMQP_URI``,
``PRM_VAR_DIR`` or ``PARTNERS_DATABASE_URL``, keys under ``var/keys``).

The calls are ``partners.get_caller(user_id)`` (what the gateway does on every
authenticated request: a DB-backed read of the user, their partner, roles and scope) and
``partners.ping`` (``SELECT 1``: the floor of a DB-backed call), done:

(a) through ``gateway.rpc.RpcClient``, in this process, which is *not* monkey-patched:
    real OS threads sharing one client, as in a gunicorn gthread worker;
(b) through Nameko's standalone ``ClusterRpcProxy`` in a subprocess that calls
    ``eventlet.monkey_patch()`` first (``bench._eventlet_part``): one proxy per green
    thread. The same subprocess also runs ``RpcClient`` on green threads, so that the
    proxy is compared with our client under equal conditions;
(c) in process, without any broker: ``services.partners.signin.caller_profile(session,
    user_id)`` (and ``SELECT 1``) on a SQLAlchemy session of the partners database, one
    session (one transaction) per call as in a service worker.

Each run makes N timed calls in total (split among the threads) after a warm-up of each
thread; ``conc`` is the number of threads. Every run is repeated ``--repeat`` times, the
rounds interleaved (a, b, c, a, b, c, ...) so that a busy moment of the machine does not
land on one path only; the table shows medians and the spread of the rounds. Figures
only: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bench._common import (
    CLIENT,
    GREEN_CLIENT,
    INPROC,
    NAMEKO,
    STATS_HEADERS,
    Stats,
    Summary,
    add_figures_argument,
    aggregate,
    cpu_cells,
    cpu_figure,
    cpu_seconds,
    drive,
    error_notes,
    find_stack,
    fmt,
    other_load,
    print_machine,
    print_table,
    redact_url,
    stats_figures,
    stats_row,
    write_figures,
)
from gateway.rpc import RpcClient
from services.common.config import get_settings
from services.common.context import Caller
from services.common.db import make_engine
from services.partners.models import User
from services.partners.signin import caller_profile


def _rpc_factory(client: RpcClient, method: str, args: tuple) -> Callable:
    bench = Caller.system_caller("bench")

    @contextmanager
    def factory() -> Iterator[Callable[[], Any]]:
        yield lambda: client.call("partners", method, *args, caller=bench)

    return factory


def _inprocess_factory(engine: Any, method: str, user_id: int) -> Callable:
    def get_caller() -> None:
        with Session(engine, expire_on_commit=False) as session:
            caller_profile(session, user_id)
            session.commit()

    def ping() -> None:
        with Session(engine, expire_on_commit=False) as session:
            session.execute(text("SELECT 1"))
            session.commit()

    call = {"get_caller": get_caller, "ping": ping}[method]

    @contextmanager
    def factory() -> Iterator[Callable[[], Any]]:
        yield call

    return factory


def _user_id(engine: Any, username: str) -> int:
    with Session(engine) as session:
        user_id = session.scalar(select(User.id).where(User.username == username))
    if user_id is None:
        sys.exit(f"no user {username!r} in the partners database: run `make run` (it seeds)")
    return user_id


CPU_GROUPS = ["this bench", "services", "rabbitmq"]
CPU_HEADERS = ["client cpu", "service cpu", "broker cpu", "other load"]


def _eventlet_part(calls: int, threads: int, user_id: int, warmup: int, port: int) -> list[Summary]:
    command = [
        sys.executable, "-m", "bench._eventlet_part",
        "--calls", str(calls), "--threads", str(threads),
        "--user-id", str(user_id), "--warmup", str(warmup), "--port", str(port),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    if result.returncode != 0:
        print(result.stderr, file=sys.stderr)
        sys.exit(f"the monkey-patched part failed (exit {result.returncode})")
    return [Summary(**row) for row in json.loads(result.stdout.strip().splitlines()[-1])]


def _ratio(rows: list[Summary], a: str, b: str, method: str, threads: int) -> str:
    def rate(label: str) -> float | None:
        for row in rows:
            if row.label == label and row.method == method and row.threads == threads:
                return row.rate
        return None

    ra, rb = rate(a), rate(b)
    return fmt(ra / rb) if ra and rb else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="timed calls per run (1000)")
    parser.add_argument("--threads", type=int, default=8, help="threads of the concurrent runs (8)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of every run, interleaved; medians shown (3)"
    )
    parser.add_argument("--user", default="hz-sales", help="whose caller profile (hz-sales)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls per thread (20)")
    parser.add_argument("--timeout", type=float, default=10.0, help="RPC timeout, s (10)")
    parser.add_argument("--no-eventlet", action="store_true", help="skip part (b)")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", "8000")),
        help="the stack's gateway port, to find its processes for CPU figures ($PORT or 8000)",
    )
    add_figures_argument(parser)
    args = parser.parse_args()

    settings = get_settings()
    database_url = settings.database_url("partners")
    engine = make_engine(database_url)
    user_id = _user_id(engine, args.user)

    client = RpcClient(settings.amqp_uri, timeout=args.timeout)
    try:
        client.call("partners", "ping", caller=Caller.system_caller("bench"))
    except Exception as exc:
        client.close()
        sys.exit(f"partners does not answer ({exc}): start the stack with `make run` first")

    print_machine()
    print(f"broker: {redact_url(settings.amqp_uri)}")
    print(f"database: {redact_url(database_url)}")
    print(
        f"call: partners.get_caller({user_id}) ({args.user}) and partners.ping; "
        f"{args.calls} timed calls per run, warm-up {args.warmup} per thread, "
        f"{args.repeat} interleaved rounds (medians)"
    )
    stack = find_stack(args.port)
    if stack["services"]:
        print(
            f"CPU from /proc: services {stack['services']} of the stack on port "
            f"{args.port}, RabbitMQ {stack['rabbitmq']} (shared), the bench process itself"
        )
    else:
        print(f"no `make run` stack found on port {args.port}: service CPU is not attributed")
    print()

    def probe() -> dict[str, float]:
        return cpu_seconds(stack)

    methods = [("get_caller", (user_id,)), ("ping", ())]
    concurrencies = sorted({1, args.threads})
    results: list[Stats | Summary] = []
    try:
        for round_ in range(1, args.repeat + 1):
            print(f"round {round_}/{args.repeat} ...", file=sys.stderr)
            # (a) our client on OS threads, this process not monkey-patched
            for method, call_args in methods:
                for threads in concurrencies:
                    results.append(
                        drive(
                            _rpc_factory(client, method, call_args),
                            label=CLIENT, method=method, threads=threads,
                            calls=args.calls, warmup=args.warmup, cpu_probe=probe,
                        )
                    )  # fmt: skip
            # (b) Nameko's proxy (and our client) on green threads, in a patched subprocess
            if not args.no_eventlet:
                results.extend(
                    _eventlet_part(args.calls, args.threads, user_id, args.warmup, args.port)
                )
            # (c) the domain function in process, no RPC
            for method, _ in methods:
                for threads in concurrencies:
                    results.append(
                        drive(
                            _inprocess_factory(engine, method, user_id),
                            label=INPROC, method=method, threads=threads,
                            calls=args.calls, warmup=args.warmup, cpu_probe=probe,
                        )
                    )  # fmt: skip
    finally:
        client.close()
        engine.dispose()

    rows = aggregate(results)
    order = {label: index for index, label in enumerate([CLIENT, NAMEKO, GREEN_CLIENT, INPROC])}
    rows.sort(key=lambda r: (r.method, order[r.label], r.threads))
    print_table(
        STATS_HEADERS + CPU_HEADERS,
        [
            stats_row(row) + cpu_cells(row, CPU_GROUPS) + [other_load(row, CPU_GROUPS)]
            for row in rows
        ],
    )
    print(
        "(calls/s, p50, p99: medians of the rounds; runs min-max: the rounds' calls/s;\n"
        " cpu: CPU ms per call of the bench process, the service and the broker, which is\n"
        " shared with anything else on this machine; other load: cores kept busy by other\n"
        " processes during the runs)"
    )
    for row in rows:
        if row.errors:
            print(f"  errors in {row.label} {row.method} x{row.threads}: {row.first_error}")

    print()
    print("calls/s ratios (medians; same call, same concurrency):")
    for method, _ in methods:
        for threads in concurrencies:
            print(
                f"  {method:<10} conc {threads:>2}: "
                f"RpcClient/ClusterRpcProxy, both eventlet = "
                f"{_ratio(rows, GREEN_CLIENT, NAMEKO, method, threads)}; "
                f"RpcClient OS threads/ClusterRpcProxy = "
                f"{_ratio(rows, CLIENT, NAMEKO, method, threads)}; "
                f"in-process/RpcClient OS threads = "
                f"{_ratio(rows, INPROC, CLIENT, method, threads)}"
            )
    write_figures(args.figures, _figures(rows, bool(stack["services"])), error_notes(rows))


def _figures(rows: list[Summary], attributed: bool) -> list[dict]:
    """calls/s and p50 of every row; the CPU of one call of our client, one thread
    (the service's only if the stack's processes were found)."""
    figures = []
    for row in rows:
        figures += stats_figures(row, f"{row.label} {row.method} conc {row.threads}", p99=False)
    for row in rows:
        if row.label == CLIENT and row.threads == 1:
            for group, part in (("this bench", "client"), ("services", "service"),
                                ("rabbitmq", "broker")):  # fmt: skip
                item = cpu_figure(row, group, f"{CLIENT} {row.method} CPU, {part}")
                if group == "services" and not attributed:
                    item["value"] = None
                figures.append(item)
    return figures


if __name__ == "__main__":
    main()
