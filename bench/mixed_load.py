"""A small team's mixed work through the gateway, on SQLite and on PostgreSQL: requests/s,
p50/p99/max latency, 5xx answers and requests over the 2 s goal.

    python -m bench.mixed_load [--stores sqlite,postgresql] [--seconds 30] [--threads 8]
    python -m bench.mixed_load --url URL [--admin-password PW] [--seconds 30] [--threads 8]

The workload is the load test's (``tests/support/mixed_load.py``, ``tests/load``): two
city partners' sales users file customers (twins among them: 409 ``filing_conflict``),
claim and decline leads, create and submit orders and read; at HQ a channel manager
approves filings, marketing enters leads, sales ops and finance approve orders, each
person one client thread as busy as it can be (four HQ threads, the rest sales users).
Every POST carries an ``Idempotency-Key`` and is sent again with the same key after a
502/503/504. The set-up (partners, users, a product, made by the HQ admin) is untimed.

By default, for each store, it starts a stack of its own as ``make run`` does
(``bench._stack.OwnStack``: migrate, seed, every service, gunicorn with
``gateway/gunicorn.conf.py``; its own vhost, state directory, port and, on PostgreSQL,
databases ``prm_bench_<run>_mixed_pg_<service>``), lets the team work for S seconds,
checks afterwards that the stack holds what the clients were told, and removes the stack.
``--url`` drives a running stack on this machine instead (``make run``: the admin's
password is read from ``--admin-password``, ``$PRM_ADMIN_PASSWORD`` or
``var/keys/admin-password``); its partners are suspended afterwards, so that a later
run's leads are not routed to them.

The goal of issue 19: no 5xx and no request over 2 s. A 5xx or an answer the workload does
not provoke on purpose is counted; the table of every operation is printed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
from pathlib import Path

from bench._common import add_figures_argument, figure, print_machine, write_figures
from bench._stack import ADMIN_PASSWORD, OwnStack
from bench.orders_gateway import check_loopback
from tests.support.client import Client
from tests.support.mixed_load import (
    LATENCY_GOAL,
    Recorder,
    Workload,
    check_consistency,
    figures,
    make_team,
    retire_team,
    stalled,
    summary,
    table,
    unexpected,
)

STORES = ("sqlite", "postgresql")


def run_id() -> str:
    """The run of ``bench.all`` (from ``$PRM_BENCH_DB_PREFIX``, so that its clean-up
    finds the databases), or a new one."""
    prefix = os.environ.get("PRM_BENCH_DB_PREFIX", "")
    if prefix.startswith("prm_bench_") and len(prefix) > len("prm_bench_"):
        return prefix[len("prm_bench_") :].rstrip("_")
    return secrets.token_hex(4)


def admin_password(given: str | None) -> str:
    if given:
        return given
    if os.environ.get("PRM_ADMIN_PASSWORD"):
        return os.environ["PRM_ADMIN_PASSWORD"]
    from services.common.config import var_dir

    path = var_dir() / "keys" / "admin-password"
    if not path.exists():
        sys.exit("no admin password: give --admin-password or set PRM_ADMIN_PASSWORD")
    return path.read_text().strip()


def measure(url: str, password: str, store: str, seconds: float, threads: int) -> tuple:
    """Set up the team, let it work, check the data: (figures, notes)."""
    recorder = Recorder()
    admin = Client(url).login("admin", password)
    team = make_team(admin, recorder, sellers_per_partner=max(1, (threads - 4) // 2))
    workload = Workload(team, seconds)
    try:
        workload.run()
        calls = list(recorder.calls)
        checked = not stalled(calls)
        problems = check_consistency(team, workload.ledger) if checked else []
    finally:
        retire_team(team)
    rows = figures(calls)
    overall = rows[-1]
    faults = unexpected(calls)
    clients = len(team.sellers) + 4
    print(f"\n{store}: {summary(workload, calls)}")
    print(table(rows))
    for line in problems[:20]:
        print(f"  inconsistent: {line}")
    name = f"x{clients} {store}"
    server_errors = overall.server_errors
    result = [
        figure(f"{name} requests/s", overall.requests / workload.elapsed, "req/s"),
        figure(f"{name} p50", overall.p50 * 1000, "ms"),
        figure(f"{name} p99", overall.p99 * 1000, "ms"),
        figure(f"{name} max", overall.max * 1000, "ms"),
        figure(f"{name} 5xx", server_errors, "answers"),
        figure(f"{name} over {LATENCY_GOAL:.0f} s", overall.over_goal, "requests"),
        figure(f"{name} other unexpected answers", sum(faults.values()) - server_errors, "answers"),
        figure(
            f"{name} inconsistencies afterwards", len(problems) if checked else None, "problems"
        ),
    ]
    slowest = max(rows[:-1], key=lambda row: row.p99)
    met = not server_errors and not overall.over_goal
    notes = [
        f"{store}: goal (no 5xx, none over {LATENCY_GOAL:.0f} s) {'met' if met else 'MISSED'}; "
        f"slowest operation {slowest.operation} p99 {slowest.p99 * 1000:.0f} ms"
    ]
    notes += [f"{store}: {what} x{n}" for what, n in faults.most_common(8)]
    if not checked:
        notes.append(f"{store}: data not checked afterwards (the stack did not answer)")
    notes += [f"{store}: inconsistent: {line}" for line in problems[:5]]
    return result, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="drive the running stack at URL instead of own stacks")
    parser.add_argument("--admin-password", help="the HQ admin's password (with --url)")
    parser.add_argument(
        "--stores", default=",".join(STORES), help="own stacks on: sqlite,postgresql (both)"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="of work per store (30)")
    parser.add_argument("--threads", type=int, default=8, help="client threads, 6 or more (8)")
    parser.add_argument("--log-dir", type=Path, help="the own stacks' logs (next to --figures)")
    add_figures_argument(parser)
    args = parser.parse_args()
    if args.threads < 6:
        parser.error("--threads: 6 or more (four HQ people and a sales user per partner)")
    stores = [store.strip() for store in args.stores.split(",") if store.strip()]
    if not stores or set(stores) - set(STORES):
        parser.error(f"--stores: some of {','.join(STORES)}")

    print_machine()
    all_figures: list[dict] = []
    all_notes: list[str] = []
    if args.url:
        check_loopback(args.url)
        url = args.url.rstrip("/")
        database = os.environ.get("PARTNERS_DATABASE_URL", "")
        store = "postgresql" if database.startswith("postgres") else "sqlite"
        found, notes = measure(
            url, admin_password(args.admin_password), store, args.seconds, args.threads
        )
        all_figures += found
        all_notes += notes
    else:
        run = run_id()
        if args.log_dir:
            log_root = args.log_dir
        elif args.figures:
            log_root = Path(args.figures).with_suffix("")
        else:
            log_root = Path(tempfile.mkdtemp(prefix="prm-bench-mixed-"))
        for store in stores:
            short = "pg" if store == "postgresql" else "sqlite"
            stack = OwnStack(f"{run}_mixed_{short}", log_root / f"stack-{store}", database=store)
            print(f"\nstarting a stack on {store} ...", flush=True)
            try:
                stack.start()
                found, notes = measure(stack.url, ADMIN_PASSWORD, store, args.seconds, args.threads)
            finally:
                for removed in stack.stop():
                    print(f"  removed {removed}", flush=True)
            all_figures += found
            all_notes += notes
    print()
    for note in all_notes:
        print(note)
    write_figures(args.figures, all_figures, all_notes)


if __name__ == "__main__":
    main()
