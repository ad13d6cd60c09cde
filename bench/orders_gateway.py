"""Writes through the gateway as shares of the bare ceiling: orders created, orders
submitted and customers filed per second, with p50 and p99.

    python -m bench.orders_gateway [--url URL] [--seconds S] [--customers N]
                                   [--engine auto|wrk|python]

URL defaults to $PRM_URL or http://127.0.0.1:8000 and must be a loopback address (this is
a load generator; it only loads a stack on this machine). The stack must run the
partners, filing and orders services with the demo data (``make run`` does).

Set-up, untimed: signs in the demo users (``hz-sales`` orders and files, ``channel``
approves filings: ``--filing-approver`` names one user per step of the filing flow, since
nobody decides two; ``salesops`` adds a product; ``--password``, the demo password by
default), files ``--customers`` customers in the partner's territory and has them
approved, so they are protected, and adds a product at 1000.00.

Then, with the same load generator as the ceiling (wrk, 8 connections, for S seconds
after an untimed warm-up; the Python driver when wrk cannot be had: ``bench._wrk``):

1. the bare ceiling (``bench.ceiling``, ``GET /echo``);
2. ``POST /api/v1/orders``: one line at list price, a unique contract number, the
   customers in turn -> 201 ``draft``; behind it the caller is resolved and
   ``filing.owned_customer`` asked; goal 25 % of the ceiling;
3. the same with an ``Idempotency-Key`` on each POST (what a careful client sends; the
   service saves each answer);
4. ``POST /api/v1/orders/{id}/submit`` of the drafts made by 2 and 3, each once (the run
   ends early when they are used up) -> 200: ``filing.owned_customer`` again, the approval
   flow started, two events in the outbox; goal 25 %;
5. ``POST /api/v1/customers`` (filing a customer: a new name and phone each, in the
   partner's territory) -> 201: the duplicate check (查重) against every customer on
   file, the filing flow started; goal 30 %.

An answer other than the expected status counts as an error (the first one is printed).
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid

from bench._api import (
    DEFAULT_URL,
    DEMO_PASSWORD,
    Api,
    check_loopback,
    file_customer_body,
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
    "POST /orders": "≥ 25 %",
    "POST /orders/{id}/submit": "≥ 25 %",
    "POST /customers": "≥ 30 %",
}


def protected_customers(seller: Api, approvers: list[Api], how_many: int) -> list[int]:
    """File ``how_many`` customers in the seller's territory and approve their filings, the
    n-th step by the n-th of ``approvers``."""
    partner = seller("GET", f"/api/v1/partners/{seller.partner_id}")
    if not partner["territory"]:
        sys.exit(f"partner {partner['code']} has no territory to file customers in")
    ids = []
    for _ in range(how_many):
        body = file_customer_body(partner["territory"][0])
        customer = seller("POST", "/api/v1/customers", 201, json=body)
        filing = customer["filing"]
        while filing["status"] == "pending":
            step = next(i for i, s in enumerate(filing["steps"]) if s["status"] == "pending")
            if step >= len(approvers):
                sys.exit(
                    f"the filing flow has {len(filing['steps'])} steps and nobody decides two:"
                    " name one approver per step (--filing-approver a,b)"
                )
            filing = approvers[step](
                "POST", f"/api/v1/filings/{filing['id']}/approve", json={"comment": "bench"}
            )
        if filing["status"] != "approved":
            sys.exit(f"customer {customer['id']} did not become protected")
        ids.append(customer["id"])
    return ids


def bench_product(catalogue: Api) -> dict:
    """A product at 1000.00 for the benchmark's orders."""
    return catalogue(
        "POST",
        "/api/v1/products",
        201,
        json={
            "sku": f"BENCH-{uuid.uuid4().hex[:8]}",
            "name": "压测产品",
            "unit": "台",
            "list_price": "1000.00",
        },
    )


def order_load(label: str, seller: Api, customers: list[int], product_id: int, keyed: bool) -> Load:
    body = json.dumps(
        {
            "customer_id": 0,
            "contract_no": "BENCH-{seq}",
            "lines": [{"product_id": product_id, "quantity": 1, "unit_price": "1000.00"}],
        }
    ).replace('"customer_id": 0', '"customer_id": {item}')
    headers = seller.headers | {"Content-Type": "application/json"}
    if keyed:
        headers["Idempotency-Key"] = "{uuid}"
    return Load(
        label, "POST", "/api/v1/orders", 201, body, headers,
        items=[str(c) for c in customers], collect_ids=True,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help=f"gateway base URL ({DEFAULT_URL})")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run (10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="untimed seconds per run (2)")
    parser.add_argument("--customers", type=int, default=10, help="protected customers (10)")
    parser.add_argument("--engine", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--partner-user", default="hz-sales")
    parser.add_argument(
        "--filing-approver", default="channel", help="one user per filing step, comma list"
    )
    parser.add_argument("--catalogue-user", default="salesops")
    parser.add_argument(
        "--password",
        default=DEMO_PASSWORD,
        help="the users' password ($PRM_BENCH_PASSWORD; the demo password by default)",
    )
    add_figures_argument(parser)
    args = parser.parse_args()

    base = args.url.rstrip("/")
    port = check_loopback(base)
    engine = choose_engine(args.engine)
    seller = Api(base, args.partner_user, args.password)
    approvers = [
        Api(base, name.strip(), args.password)
        for name in args.filing_approver.split(",")
        if name.strip()
    ]
    customers = protected_customers(seller, approvers, args.customers)
    product = bench_product(Api(base, args.catalogue_user, args.password))
    partner = seller("GET", f"/api/v1/partners/{seller.partner_id}")
    stack = find_stack(port)
    attributed = bool(stack["gateway master"] and stack["services"])

    def probe() -> dict[str, float]:
        return cpu_seconds(stack)

    print_machine()
    print(
        f"target: {base} as {args.partner_user} (partner {seller.partner_id}),"
        f" {len(customers)} protected customers, product {product['sku']}; {engine} x"
        f"{CONNECTIONS}, {fmt(args.seconds, 0)} s per run after {fmt(args.warmup, 0)} s warm-up"
    )
    create = order_load("POST /orders", seller, customers, product["id"], keyed=False)
    keyed = order_load("POST /orders keyed", seller, customers, product["id"], keyed=True)
    filing_body = {
        "name": "压测客户{hex}有限公司",
        "contact_name": "压测",
        "phone": "{phone}",
        "region_code": partner["territory"][0],
    }
    filing = Load(
        "POST /customers", "POST", "/api/v1/customers", 201,
        json.dumps(filing_body, ensure_ascii=False),
        seller.headers | {"Content-Type": "application/json"},
    )  # fmt: skip

    results: dict[str, LoadResult] = {}
    drafts: list[int] = []
    with ceiling_url() as url:
        ceiling = measure(url, args.seconds, engine, args.warmup)
        for load in (create, keyed):
            warm = run_load(base, load, args.warmup, engine=engine)
            drafts += warm.ids
            results[load.label] = run_load(base, load, args.seconds, engine=engine,
                                           cpu_probe=probe)  # fmt: skip
            drafts += results[load.label].ids
        submit = Load(
            "POST /orders/{id}/submit", "POST", "/api/v1/orders/{id}/submit", 200,
            headers=seller.headers, ids=drafts,
        )  # fmt: skip
        results[submit.label] = run_load(base, submit, args.seconds, engine=engine,
                                         cpu_probe=probe)  # fmt: skip
        run_load(base, filing, args.warmup, engine=engine)
        results[filing.label] = run_load(base, filing, args.seconds, engine=engine,
                                         cpu_probe=probe)  # fmt: skip

    def cpu(result: LoadResult) -> float | None:
        parts = [result.cpu.get(group) for group in ("gateway", "services", "rabbitmq")]
        if not attributed or None in parts or not result.requests:
            return None
        return sum(p for p in parts if p is not None) / result.requests * 1000

    def share(result: LoadResult) -> str:
        return f"{100 * result.rate / ceiling.rate:.0f} %" if ceiling.rate else "-"

    table = [
        [
            "ceiling GET /echo",
            str(ceiling.requests),
            str(ceiling.errors),
            fmt(ceiling.rate, 0),
            "100 %",
            "",
            fmt(ceiling.p50),
            fmt(ceiling.p99),
            "-",
        ]
    ]
    for label, r in results.items():
        table.append(
            [
                label,
                str(r.requests),
                str(r.errors),
                fmt(r.rate, 0),
                share(r),
                GOALS.get(label, ""),
                fmt(r.p50),
                fmt(r.p99),
                fmt(cpu(r) or float("nan")),
            ]
        )
    print()
    print_table(["request", "requests", "errors", "req/s", "share", "goal", "p50 ms", "p99 ms",
                 "stack CPU ms/req"], table)  # fmt: skip
    print(
        f"({engine}, {CONNECTIONS} connections; share: of the ceiling's req/s in this run;"
        f" submit: the {len(drafts)} drafts made by the two POST /orders runs, each once;"
        " stack CPU: gateway + services + broker per request)"
    )
    notes = []
    for label, r in [("ceiling", ceiling), *results.items()]:
        if r.errors:
            print(f"  errors in {label}: {r.first_error}")
            notes.append(f"{r.errors} errors in {label}: {r.first_error}")
    if engine != "wrk":
        notes.append("measured with the Python driver: wrk could not be had")
    figures = ceiling_figures(ceiling)
    for label, r in results.items():
        figures += share_figures(f"{label} conc {CONNECTIONS}", r, ceiling, GOALS.get(label))
    for label, r in results.items():
        figures.append(figure(f"{label} conc {CONNECTIONS} CPU in the stack", cpu(r), "CPU ms/req"))
    write_figures(args.figures, figures, notes)


if __name__ == "__main__":
    main()
