"""Reads through the gateway as shares of the bare ceiling: req/s, p50, p99 per route.

    python -m bench.gateway_load [--url URL] [--seconds S] [--repeat R] [--engine auto|wrk|python]

URL defaults to $PRM_URL or http://127.0.0.1:8000 and must be a loopback address: this
is a load generator, and it only loads a stack on this machine.

First the bare ceiling (``bench.ceiling``: gunicorn with the gateway's config + Flask + the
gateway's RPC client + a Nameko service that returns its argument; ``$PRM_BENCH_CEILING_URL``
or one started for this run), then each route, all with the same load generator: wrk
with 8 connections for S seconds after an untimed warm-up (the Python driver when wrk
cannot be had: ``bench._wrk``). Each route's req/s is printed as a share of the ceiling's,
next to the goal issue 15 sets:

- ``GET /api/v1/me`` as a partner user (``hz-sales``): the JWT checked, the caller
  resolved; goal 90 %;
- ``GET /api/v1/partners/{id}`` as the HQ admin (one object by id; the first partner
  listed): goal 60 %;
- ``GET /api/v1/customers?per_page=20`` as the partner user (a list of 20: customers are
  filed for it first when it has fewer): goal 50 %.

``--repeat R``: R rounds (ceiling, then each route), medians. A response other than 200
counts as an error (the first is printed). CPU per request of the gateway, the services
and the broker is read from /proc around each run.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from bench._api import (
    DEFAULT_URL,
    DEMO_PASSWORD,
    Api,
    check_loopback,
    file_customer_body,
    hq_admin,
    share_figures,
)
from bench._common import (
    add_figures_argument,
    cpu_seconds,
    figure,
    find_stack,
    fmt,
    print_machine,
    print_table,
    write_figures,
)
from bench._wrk import CONNECTIONS, Load, LoadResult, choose_engine, run_load
from bench.ceiling import ceiling_figures, ceiling_url, measure

GOALS = {
    "GET /me": "≥ 90 %",
    "GET /partners/{id}": "≥ 60 %",
    "GET /customers?per_page=20": "≥ 50 %",
}


def median_result(runs: list[LoadResult]) -> LoadResult:
    """One result of repeated runs: the median rate, p50 and p99; counts and CPU summed."""
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    rate = statistics.median(run.rate for run in runs)
    cpu: dict[str, float] = {}
    for run in runs:
        for name, used in run.cpu.items():
            cpu[name] = cpu.get(name, 0.0) + used
    requests = sum(run.requests for run in runs)
    return LoadResult(
        first.label, first.engine, first.connections,
        requests=requests,
        errors=sum(run.errors for run in runs),
        seconds=requests / rate if rate else 0.0,
        p50=statistics.median(run.p50 for run in runs),
        p99=statistics.median(run.p99 for run in runs),
        first_error=next((run.first_error for run in runs if run.first_error), None),
        cpu=cpu,
    )  # fmt: skip


def stack_cpu(result: LoadResult, attributed: bool) -> float | None:
    """CPU ms per request of the gateway, the services and the broker."""
    parts = [result.cpu.get(group) for group in ("gateway", "services", "rabbitmq")]
    if not attributed or None in parts or not result.requests:
        return None
    return sum(p for p in parts if p is not None) / result.requests * 1000


def ensure_customers(seller: Api, how_many: int) -> int:
    """At least ``how_many`` customers in the seller's list (filed now if fewer)."""
    total = seller("GET", "/api/v1/customers", params={"per_page": 1})["total"]
    if total >= how_many:
        return total
    partner = seller("GET", f"/api/v1/partners/{seller.partner_id}")
    if not partner["territory"]:
        sys.exit(f"partner {partner['code']} has no territory to file customers in")
    for _ in range(how_many - total):
        seller("POST", "/api/v1/customers", 201, json=file_customer_body(partner["territory"][0]))
    return how_many


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help=f"gateway base URL ({DEFAULT_URL})")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run (10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="untimed seconds per run (2)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds, medians shown (1)")
    parser.add_argument("--engine", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--user", default="hz-sales", help="the partner user (hz-sales)")
    parser.add_argument("--password", default=DEMO_PASSWORD, help="its password (the demo's)")
    parser.add_argument("--hq-user", help="the HQ admin (admin)")
    parser.add_argument("--hq-password", help="its password ($PRM_ADMIN_PASSWORD)")
    add_figures_argument(parser)
    args = parser.parse_args()

    base = args.url.rstrip("/")
    port = check_loopback(base)
    engine = choose_engine(args.engine)
    seller = Api(base, args.user, args.password)
    admin = hq_admin(base, args.hq_user, args.hq_password)
    partner_id = admin("GET", "/api/v1/partners", params={"per_page": 1})["items"][0]["id"]
    customers = ensure_customers(seller, 20)
    stack = find_stack(port)
    attributed = bool(stack["gateway master"] and stack["services"])

    def probe() -> dict[str, float]:
        return cpu_seconds(stack)

    loads = [
        ("GET /me", Load("GET /me", "GET", "/api/v1/me", headers=seller.headers)),
        (
            "GET /partners/{id}",
            Load("GET /partners/{id}", "GET", f"/api/v1/partners/{partner_id}",
                 headers=admin.headers),
        ),
        (
            "GET /customers?per_page=20",
            Load("GET /customers?per_page=20", "GET", "/api/v1/customers?per_page=20",
                 headers=seller.headers),
        ),
    ]  # fmt: skip

    print_machine()
    print(
        f"target: {base}; partner user {args.user} (partner {seller.partner_id}, {customers} "
        f"customers), HQ user {admin.username} reading partner {partner_id}; {engine} x"
        f"{CONNECTIONS}, {fmt(args.seconds, 0)} s per run after {fmt(args.warmup, 0)} s warm-up"
    )
    ceilings: list[LoadResult] = []
    runs: dict[str, list[LoadResult]] = {name: [] for name, _ in loads}
    with ceiling_url() as url:
        for round_ in range(1, args.repeat + 1):
            if args.repeat > 1:
                print(f"round {round_}/{args.repeat} ...", file=sys.stderr)
            ceilings.append(measure(url, args.seconds, engine, args.warmup))
            for name, load in loads:
                run_load(base, load, args.warmup, engine=engine)
                runs[name].append(run_load(base, load, args.seconds, engine=engine,
                                           cpu_probe=probe))  # fmt: skip
    ceiling = median_result(ceilings)
    results = {name: median_result(found) for name, found in runs.items()}

    def share(result: LoadResult) -> str:
        return f"{100 * result.rate / ceiling.rate:.0f} %" if ceiling.rate else "-"

    table = [
        ["ceiling GET /echo", str(ceiling.requests), str(ceiling.errors), fmt(ceiling.rate, 0),
         "100 %", "", fmt(ceiling.p50), fmt(ceiling.p99), "-"],
    ] + [
        [name, str(r.requests), str(r.errors), fmt(r.rate, 0), share(r), GOALS[name],
         fmt(r.p50), fmt(r.p99), fmt(stack_cpu(r, attributed) or float("nan"))]
        for name, r in results.items()
    ]  # fmt: skip
    print()
    print_table(
        ["route", "requests", "errors", "req/s", "share", "goal", "p50 ms", "p99 ms",
         "stack CPU ms/req"],
        table,
    )  # fmt: skip
    print(
        f"({engine}, {CONNECTIONS} connections; share: of the ceiling's req/s in this run;"
        " stack CPU: gateway + services + broker per request)"
    )
    notes = []
    for name, r in [("ceiling", ceiling), *results.items()]:
        if r.errors:
            print(f"  errors in {name}: {r.first_error}")
            notes.append(f"{r.errors} errors in {name}: {r.first_error}")
    if engine != "wrk":
        notes.append("measured with the Python driver: wrk could not be had")
    figures = ceiling_figures(ceiling)
    for name, r in results.items():
        label = f"{name} conc {CONNECTIONS}"
        figures += share_figures(label, r, ceiling, GOALS[name])
    for name, r in results.items():
        figures.append(
            figure(f"{name} conc {CONNECTIONS} CPU in the stack", stack_cpu(r, attributed),
                   "CPU ms/req")
        )  # fmt: skip
    write_figures(args.figures, figures, notes)


if __name__ == "__main__":
    main()
