"""End to end against in process: a read through gateway, RPC and database, and the same
domain function called in this process.

    python -m bench.end_to_end [--url URL] [--calls N] [--threads 1,8] [--repeat R]

Needs a running stack (``make run``, or the one ``bench.all`` starts) and its environment
in this shell: ``AMQP_URI``, the databases (``PRM_VAR_DIR`` or ``<SERVICE>_DATABASE_URL``),
the keys (``var/keys`` or ``PRM_JWT_SECRET``/``PRM_INTERNAL_KEY``) and ``PORT``. URL
defaults to $PRM_URL or http://127.0.0.1:8000 and must be a loopback address.

Two reads, as ``hz-sales`` (``--user``; a partner user):

- ``order``: ``GET /api/v1/orders/{id}`` of one of the user's orders in draft or in
  approval (an approved one would add a third RPC, to commission), against
  ``services.orders.ordering.get_order(uow, caller, id)``, what the ``orders.get_order``
  RPC method runs;
- ``partner``: ``GET /api/v1/partners/{id}`` of the user's own partner, against
  ``services.partners.partners.get_partner(uow, caller, id)``.

Each done three ways:

- ``HTTP (gateway + RPC + DB)``: one ``requests.Session`` per thread (keep-alive); the
  gateway verifies the JWT, resolves the caller (``partners.get_caller``, one RPC) and
  makes the read's RPC: two RPCs per request;
- ``RPC (+ DB)``: ``gateway.rpc.RpcClient`` in this process, the read's RPC alone with
  the user's signed caller, as the gateway sends it after resolving the caller;
- ``in-process (DB only)``: the domain function on a SQLAlchemy session of the same
  database, one session and one commit per call as in a service worker, with the caller
  the gateway would build (from ``caller_profile``, resolved once). No HTTP, broker,
  Nameko, serialisation or caller resolution.

If the user has no order yet, one is made through the gateway (a customer filed and
approved by ``channel``, an order for a product of the catalogue); it is reused on the
next run. Each run makes N timed calls in total after a warm-up of each thread;
``--repeat`` rounds are interleaved (HTTP, RPC, in-process, ...) and the table shows
medians. The ratios compare the same read at the same concurrency.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from bench._common import (
    STATS_HEADERS,
    Stats,
    Summary,
    add_figures_argument,
    aggregate,
    cpu_cells,
    cpu_seconds,
    drive,
    error_notes,
    figure,
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
from bench.orders_gateway import Api, check_loopback, protected_customers
from gateway.rpc import RpcClient
from services.common.config import get_settings
from services.common.context import Caller
from services.common.db import make_engine
from services.common.schemas import load_id
from services.common.unit_of_work import UnitOfWork
from services.orders import ordering
from services.partners import partners
from services.partners.models import User
from services.partners.signin import caller_profile

DEFAULT_URL = os.environ.get("PRM_URL", "http://127.0.0.1:8000")
HTTP = "HTTP (gateway + RPC + DB)"
RPC = "RPC (+ DB)"
INPROC = "in-process (DB only)"
PATHS = [HTTP, RPC, INPROC]
SHORT = {HTTP: "end-to-end", RPC: "RPC only", INPROC: "in-process"}
CPU_GROUPS = ["this bench", "gateway", "services", "rabbitmq"]
CPU_HEADERS = ["client cpu", "gateway cpu", "service cpu", "broker cpu", "other load"]
# Statuses whose GET /orders/{id} makes no commission call.
UNAPPROVED = ("draft", "submitted")


class HttpError(Exception):
    pass


def caller_of(profile: dict) -> Caller:
    """The caller the gateway builds from ``partners.get_caller`` (gateway.context)."""
    ids = profile.get("partner_ids")
    return Caller(
        user_id=profile["id"],
        partner_id=profile.get("partner_id"),
        partner_ids=None if ids is None else frozenset(ids),
        permissions=frozenset(profile.get("permissions") or ()),
    )


def find_or_make_order(seller: Api, approver: Api) -> int:
    """One of the seller's orders in draft or in approval; made if there is none."""
    for status in UNAPPROVED:
        page = seller("GET", "/api/v1/orders", params={"status": status, "per_page": 1})
        if page["items"]:
            return page["items"][0]["id"]
    products = seller("GET", "/api/v1/products", params={"active": "true", "per_page": 1})
    if not products["items"]:
        sys.exit("the catalogue has no active product: seed the stack (`manage.py seed`)")
    product = products["items"][0]
    customer = protected_customers(seller, [approver], 1)[0]
    body = {
        "customer_id": customer,
        "contract_no": f"BENCH-E2E-{uuid.uuid4().hex[:8]}",
        "lines": [
            {"product_id": product["id"], "quantity": 1, "unit_price": product["list_price"]}
        ],
    }
    return seller("POST", "/api/v1/orders", 201, json=body)["id"]


# -- the three ways ----------------------------------------------------------------------


def http_factory(url: str, token: str, timeout: float) -> Callable:
    @contextmanager
    def factory() -> Iterator[Callable[[], Any]]:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {token}"

            def call() -> None:
                response = session.get(url, timeout=timeout)
                if response.status_code != 200:
                    raise HttpError(f"{response.status_code} {response.text[:200]}")

            yield call

    return factory


def rpc_factory(client: RpcClient, service: str, method: str, arg: int, caller: Caller) -> Callable:
    @contextmanager
    def factory() -> Iterator[Callable[[], Any]]:
        # The client signs the caller for each call, as the gateway does.
        yield lambda: client.call(service, method, arg, caller=caller)

    return factory


def inprocess_factory(engine: Any, function: Callable, arg: int, caller: Caller) -> Callable:
    def call() -> None:
        with Session(engine, expire_on_commit=False) as session:
            # the RPC method's body: the use case on a unit of work of this session
            function(UnitOfWork(lambda: session, "bench"), caller, load_id(arg))

    @contextmanager
    def factory() -> Iterator[Callable[[], Any]]:
        yield call

    return factory


# -- output ------------------------------------------------------------------------------


def _row(rows: list[Summary], label: str, method: str, threads: int) -> Summary | None:
    for row in rows:
        if row.label == label and row.method == method and row.threads == threads:
            return row
    return None


def _ratio(slow: Summary | None, fast: Summary | None, what: str) -> float | None:
    if slow is None or fast is None:
        return None
    if what == "p50":
        a, b = slow.p50, fast.p50
    else:  # calls/s: how many times more the fast path does
        a, b = fast.rate, slow.rate
    if not a or not b or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def ratio_figures(rows: list[Summary], reads: list[tuple[str, str]], threads: list[int]) -> list:
    """p50 ratios at the lowest concurrency (on more threads the in-process p50 is mostly
    time spent waiting for the GIL), calls/s ratios at every concurrency."""
    figures = []
    for name, method in reads:
        low = threads[0]
        inproc = _row(rows, INPROC, method, low)
        for label in (HTTP, RPC):
            figures.append(
                figure(
                    f"{name} conc {low}: {SHORT[label]} / in-process p50",
                    _ratio(_row(rows, label, method, low), inproc, "p50"),
                    "x",
                )
            )
        for conc in threads:
            figures.append(
                figure(
                    f"{name} conc {conc}: in-process / end-to-end calls/s",
                    _ratio(
                        _row(rows, HTTP, method, conc), _row(rows, INPROC, method, conc), "rate"
                    ),
                    "x",
                )
            )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help=f"gateway base URL ({DEFAULT_URL})")
    parser.add_argument("--calls", type=int, default=1000, help="timed calls per run (1000)")
    parser.add_argument("--threads", default="1,8", help="concurrencies, comma list (1,8)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of every run, interleaved; medians shown (3)"
    )
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls per thread (10)")
    parser.add_argument("--user", default=os.environ.get("PRM_BENCH_USER", "hz-sales"))
    parser.add_argument("--approver", default="channel", help="approves a filing if needed")
    parser.add_argument(
        "--password",
        default=os.environ.get("PRM_BENCH_PASSWORD", "demo-pass-2026"),
        help="the users' password ($PRM_BENCH_PASSWORD; the demo password by default)",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="per call, s (30)")
    add_figures_argument(parser)
    args = parser.parse_args()
    threads = sorted({int(t) for t in args.threads.split(",") if t.strip()})
    if not threads or threads[0] < 1:
        sys.exit("--threads: positive integers, comma separated")

    base = args.url.rstrip("/")
    port = check_loopback(base)
    seller = Api(base, args.user, args.password, args.timeout)
    partner_id = seller.tokens["user"].get("partner_id")
    if partner_id is None:
        sys.exit(f"{args.user} is an HQ user: give a partner user (--user)")
    order_id = find_or_make_order(seller, Api(base, args.approver, args.password, args.timeout))
    user_id = seller.tokens["user"]["id"]

    settings = get_settings()
    partners_url = settings.database_url("partners")
    orders_url = settings.database_url("orders")
    partners_engine, orders_engine = make_engine(partners_url), make_engine(orders_url)
    with Session(partners_engine) as session:
        if session.scalar(select(User.id).where(User.id == user_id)) is None:
            sys.exit(
                f"user {user_id} is not in {redact_url(partners_url)}: this shell's environment "
                f"is not the stack's at {base} (AMQP_URI, PRM_VAR_DIR or *_DATABASE_URL)"
            )
        caller = caller_of(caller_profile(session, user_id))
    client = RpcClient(settings.amqp_uri, timeout=args.timeout)
    stack = find_stack(port)

    print_machine()
    print(f"target: {base} as {args.user} (user {user_id}, partner {partner_id}), order {order_id}")
    print(f"broker: {redact_url(settings.amqp_uri)}")
    print(f"databases: {redact_url(partners_url)}, {redact_url(orders_url)}")
    print(
        f"{args.calls} timed calls per run, warm-up {args.warmup} per thread, "
        f"{args.repeat} interleaved rounds (medians)"
    )
    if not stack["services"]:
        print(f"no stack found on port {port}: gateway and service CPU are not attributed")
    print()

    reads = [
        # (name, method, HTTP path, service, argument, in-process function, engine)
        ("GET /orders/{id}", "get_order", f"/api/v1/orders/{order_id}", "orders", order_id,
         ordering.get_order, orders_engine),
        ("GET /partners/{id}", "get_partner", f"/api/v1/partners/{partner_id}", "partners",
         partner_id, partners.get_partner, partners_engine),
    ]  # fmt: skip
    results: list[Stats] = []

    def run(factory: Callable, label: str, method: str, conc: int) -> None:
        results.append(
            drive(
                factory, label=label, method=method, threads=conc, calls=args.calls,
                warmup=args.warmup, cpu_probe=lambda: cpu_seconds(stack),
            )
        )  # fmt: skip

    try:
        for round_ in range(1, args.repeat + 1):
            if args.repeat > 1:
                print(f"round {round_}/{args.repeat} ...", file=sys.stderr)
            for _, method, path, service, arg, function, engine in reads:
                for conc in threads:
                    # A fresh access token per run, so that long runs never outlive its TTL.
                    token = Api(base, args.user, args.password, args.timeout).tokens
                    run(http_factory(f"{base}{path}", token["access_token"], args.timeout),
                        HTTP, method, conc)  # fmt: skip
                    run(rpc_factory(client, service, method, arg, caller), RPC, method, conc)
                    run(inprocess_factory(engine, function, arg, caller), INPROC, method, conc)
    finally:
        client.close()
        partners_engine.dispose()
        orders_engine.dispose()

    rows = aggregate(results)
    order = {label: index for index, label in enumerate(PATHS)}
    methods = [read[1] for read in reads]
    rows.sort(key=lambda r: (methods.index(r.method), order[r.label], r.threads))
    print_table(
        STATS_HEADERS + CPU_HEADERS,
        [
            stats_row(row) + cpu_cells(row, CPU_GROUPS) + [other_load(row, CPU_GROUPS)]
            for row in rows
        ],
    )
    print(
        "(calls/s, p50, p99: medians of the rounds; cpu: CPU ms per call of this process,\n"
        " the gunicorn processes, the services and the broker (shared with anything else on\n"
        " this machine); other load: cores kept busy by other processes during the run)"
    )
    for note in error_notes(rows):
        print(f"  {note}")

    print()
    named = [(read[0], read[1]) for read in reads]
    ratios = ratio_figures(rows, named, threads)
    print("end-to-end against in-process, same read:")
    print_table(["ratio", "value"], [[r["figure"], fmt(r["value"] or math.nan, 1)] for r in ratios])
    if len(threads) > 1:
        print(
            "(p50 ratios on one thread only: on more threads the in-process calls mostly wait\n"
            " for the GIL, so their latency says little; compare calls/s there)"
        )

    figures = []
    for row in rows:
        name = next(read[0] for read in reads if read[1] == row.method)
        figures += stats_figures(row, f"{name} {SHORT[row.label]} conc {row.threads}")
    figures += ratio_figures(rows, named, threads)
    write_figures(args.figures, figures, error_notes(rows))


if __name__ == "__main__":
    main()
