"""The lag from an order's approval to its commission entry, at fixed approval rates.

    python -m bench.commission_lag [--url URL] [--rates 20,100] [--seconds S] [--threads T]

URL defaults to $PRM_URL or http://127.0.0.1:8000 and must be a loopback address. The
stack must run every service with the demo data (``make run`` does).

What is timed, per order: from the order's ``approved_at`` (set by the orders service in
the transaction that approves it, carried by the ``order_approved`` event and stored on
the entry) to the entry's ``created_at`` (set by the commission service when its handler
of that event inserts the entry, just before it commits). Both are read from the
entries' API answers (``GET /api/v1/commissions``), both come from the clock of this one
machine, so the lag is: the orders service's commit, the outbox relay publishing the
event, the broker, the commission service's consumer, and its use case up to the insert.
Nothing of the polling that finds the entries is in it.

Set-up, untimed: the order flow is set to one step (``sales``, ``order.approve.sales``,
``director`` as the flow's manager) and put back as it was at the end; three protected
customers are filed for ``hz-sales`` (approved by ``channel``) and a product added
(``salesops``); then R x S orders per rate R are created and submitted through the
gateway (they take that one-step flow).

Timed: for each rate R (``--rates``, approvals per second), ``salesops`` approves the
R x S orders of that rate through the gateway (``POST /api/v1/orders/{id}/approve``), the
i-th sent at t0 + i/R by a pool of T client threads (open loop: a slow answer does not
delay the next one unless all T threads are waiting; the rate achieved is printed). Then
the partner's entries are read until every approved order has one (or 60 s passed).

Printed per rate: approvals/s achieved, the approve request's p50 and p99, the lag's
p50, p99 and max, and the entries missing. Goal (issue 15): p99 < 200 ms at 100/s.
"""

from __future__ import annotations

import argparse
import math
import signal
import threading
import time
from datetime import datetime

import requests

from bench._api import DEFAULT_URL, DEMO_PASSWORD, Api, check_loopback
from bench._common import (
    add_figures_argument,
    figure,
    fmt,
    print_machine,
    print_table,
    write_figures,
)
from bench._wrk import Load, choose_engine, run_load
from bench.orders_gateway import bench_product, order_load, protected_customers

ONE_STEP = [{"name": "sales", "permission": "order.approve.sales", "mode": "any"}]
GOAL_RATE, GOAL = 100, "< 200 ms"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def prepare(base: str, seller: Api, customers: list[int], product_id: int, n: int, engine: str
            ) -> list[int]:  # fmt: skip
    """``n`` orders created and submitted (in approval), by the load generator."""
    create = order_load("create", seller, customers, product_id, keyed=False)
    drafts: list[int] = []
    while len(drafts) < n:
        drafts += run_load(base, create, max(1.0, (n - len(drafts)) / 40), engine=engine).ids
        if not drafts:
            raise SystemExit("no order could be created (see POST /api/v1/orders)")
    drafts = drafts[:n]
    submit = Load(
        "submit", "POST", "/api/v1/orders/{id}/submit", 200, headers=seller.headers, ids=drafts
    )
    done = run_load(base, submit, 3600, engine=engine)
    if done.errors:
        print(f"  {done.errors} submissions failed: {done.first_error}")
    still = set(drafts) & still_drafts(seller)
    if still:
        print(f"  left out, still drafts after their submission: {sorted(still)}")
    return [order for order in drafts if order not in still]


def still_drafts(seller: Api) -> set[int]:
    """The ids of the seller's orders in draft."""
    found: set[int] = set()
    page = 1
    while True:
        answer = seller(
            "GET", "/api/v1/orders", params={"status": "draft", "per_page": 100, "page": page}
        )
        found |= {order["id"] for order in answer["items"]}
        if page * 100 >= answer["total"]:
            return found
        page += 1


def approve_at_rate(
    base: str, token: str, orders: list[int], rate: float, threads: int, timeout: float
) -> dict:
    """Approve ``orders``, the i-th at t0 + i/rate; what happened."""
    lock = threading.Lock()
    next_index = iter(range(len(orders)))
    latencies: list[float] = []
    approved: list[int] = []
    errors: list[str] = []
    late = 0
    answered_at: list[float] = []
    t0 = time.perf_counter() + 0.5

    def worker() -> None:
        nonlocal late
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {token}"
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                due = t0 + index / rate
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                elif wait < -0.05:
                    with lock:
                        late += 1
                started = time.perf_counter()
                try:
                    answer = session.post(
                        f"{base}/api/v1/orders/{orders[index]}/approve",
                        json={"comment": "bench"},
                        timeout=timeout,
                    )
                    ok, error = (
                        answer.status_code == 200,
                        f"{answer.status_code} {answer.text[:200]}",
                    )
                except requests.RequestException as exc:
                    ok, error = False, f"{type(exc).__name__}: {exc}"
                ended = time.perf_counter()
                with lock:
                    answered_at.append(ended)
                    if ok:
                        latencies.append((ended - started) * 1000)
                        approved.append(orders[index])
                    else:
                        errors.append(error)

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = max(answered_at) - t0 if answered_at else math.nan
    return {
        "approved": approved,
        "errors": errors,
        "late": late,
        "achieved": len(approved) / elapsed if elapsed and elapsed > 0 else math.nan,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
    }


def entry_lags(seller: Api, order_ids: list[int], wait: float) -> tuple[list[float], int]:
    """The lag (ms) of each approved order's commission entry; how many were not found."""
    wanted = set(order_ids)
    lags: dict[int, float] = {}
    deadline = time.monotonic() + wait
    while True:
        page = 1
        while True:
            answer = seller(
                "GET",
                "/api/v1/commissions",
                params={"partner_id": seller.partner_id, "per_page": 100, "page": page},
            )
            for entry in answer["items"]:
                if entry["order_id"] in wanted and entry["kind"] == "commission":
                    created = datetime.fromisoformat(entry["created_at"].replace("Z", "+00:00"))
                    approved = datetime.fromisoformat(entry["approved_at"].replace("Z", "+00:00"))
                    lags[entry["order_id"]] = (created - approved).total_seconds() * 1000
            if page * 100 >= answer["total"]:
                break
            page += 1
        if len(lags) == len(wanted) or time.monotonic() > deadline:
            return list(lags.values()), len(wanted) - len(lags)
        time.sleep(1.0)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help=f"gateway base URL ({DEFAULT_URL})")
    parser.add_argument("--rates", default="20,100", help="approvals per second (20,100)")
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="seconds of approvals per rate (5)"
    )
    parser.add_argument("--threads", type=int, default=32, help="client threads approving (32)")
    parser.add_argument("--engine", choices=("auto", "wrk", "python"), default="auto",
                        help="load generator of the set-up")  # fmt: skip
    parser.add_argument("--password", default=DEMO_PASSWORD, help="the demo users' password")
    parser.add_argument("--timeout", type=float, default=30.0, help="per request, s (30)")
    add_figures_argument(parser)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupt)  # the flow is put back on SIGTERM too
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    if not rates or min(rates) < 1:
        raise SystemExit("--rates: positive integers, comma separated")

    base = args.url.rstrip("/")
    check_loopback(base)
    engine = choose_engine(args.engine)
    seller = Api(base, "hz-sales", args.password)
    approver = Api(base, "salesops", args.password)
    manager = Api(base, "director", args.password)
    customers = protected_customers(seller, [Api(base, "channel", args.password)], 3)
    product = bench_product(approver)
    before = manager("GET", "/api/v1/approval-flows/order")
    counts = {rate: round(rate * args.seconds) for rate in rates}
    print_machine()
    rows, figures, notes = [], [], []
    try:
        manager("PUT", "/api/v1/approval-flows/order", json={"steps": ONE_STEP})
        started = time.perf_counter()
        prepared = prepare(base, seller, customers, product["id"], sum(counts.values()), engine)
        print(
            f"prepared {len(prepared)} orders in approval (one step) in "
            f"{time.perf_counter() - started:.0f} s; approving with {args.threads} threads"
        )
    finally:
        manager("PUT", "/api/v1/approval-flows/order", json={"steps": before["steps"]})
    offset = 0
    for rate in rates:
        orders, offset = prepared[offset : offset + counts[rate]], offset + counts[rate]
        # A fresh token per rate: a long set-up must not outlive the approver's.
        token = Api(base, "salesops", args.password).token
        done = approve_at_rate(base, token, orders, rate, args.threads, args.timeout)
        lags, missing = entry_lags(seller, done["approved"], wait=60.0)
        name = f"@{rate}/s"
        rows.append([
            f"{rate}/s", str(len(orders)), str(len(done["approved"])), fmt(done["achieved"], 1),
            str(done["late"]), fmt(done["p50"]), fmt(done["p99"]),
            fmt(percentile(lags, 50)), fmt(percentile(lags, 99)), fmt(max(lags, default=math.nan)),
            str(missing),
        ])  # fmt: skip
        figures += [
            figure(f"approvals {name}: achieved", done["achieved"], "approvals/s"),
            figure(f"approve request {name} p50", done["p50"], "ms"),
            figure(f"approve request {name} p99", done["p99"], "ms"),
            figure(f"approval -> commission entry {name} p50", percentile(lags, 50), "ms"),
            figure(f"approval -> commission entry {name} p99", percentile(lags, 99), "ms")
            | ({"goal": GOAL} if rate == GOAL_RATE else {}),
            figure(f"approval -> commission entry {name} max", max(lags, default=None), "ms"),
            figure(f"entries missing {name}", missing, "entries"),
        ]
        if done["errors"]:
            notes.append(f"{len(done['errors'])} approvals failed at {rate}/s: {done['errors'][0]}")
        if missing:
            notes.append(
                f"{missing} commission entries not found 60 s after the approvals at {rate}/s"
            )
    print()
    print_table(
        ["rate", "orders", "approved", "achieved/s", "late", "approve p50 ms", "approve p99 ms",
         "lag p50 ms", "lag p99 ms", "lag max ms", "missing"],
        rows,
    )  # fmt: skip
    print(
        "(lag: entry created_at - order approved_at; late: approvals sent more than 50 ms"
        f" after their slot; goal: lag p99 {GOAL} at {GOAL_RATE}/s)"
    )
    for note in notes:
        print(f"  {note}")
    write_figures(args.figures, figures, notes)


if __name__ == "__main__":
    main()
