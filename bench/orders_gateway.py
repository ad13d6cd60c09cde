"""Orders created and submitted per second through the gateway, with p50 and p99.

    python -m bench.orders_gateway [--url URL] [--seconds S] [--concurrency C[,C...]]

URL defaults to $PRM_URL or http://127.0.0.1:8000 and must be a loopback address (this is
a load generator; it only loads a stack on this machine). The stack must run the
partners, filing and orders services with the demo data (``make run`` does).

Set-up, untimed: signs in the demo users (``hz-sales`` orders, ``channel`` approves
filings: ``--filing-approver`` names one user per step of the filing flow, since nobody
decides two; ``salesops`` adds a product; ``--password``, the demo password by default),
files ``--customers`` customers in the partner's territory and has them approved, so they
are protected, and adds a product at 1000.00.

Then, for each concurrency C, C client threads (one ``requests.Session`` each) repeat for
S seconds: ``POST /api/v1/orders`` (one line at list price, a unique contract number, the
customers in turn) and ``POST /api/v1/orders/{id}/submit``. One operation is both
requests: the order is a draft, then in approval. Behind them: the gateway resolves the
caller (``partners.get_caller``) for each request; creation and submission each ask
``filing.owned_customer``; submission starts the approval flow and writes two events to
the outbox. An answer other than 201/200 counts as an error (the first one is printed).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import random
import socket
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import count
from typing import Any
from urllib.parse import urlsplit

import requests

from bench._common import (
    STATS_HEADERS,
    Stats,
    add_figures_argument,
    cpu_cells,
    cpu_seconds,
    drive,
    error_notes,
    figure,
    find_stack,
    fmt,
    print_machine,
    print_table,
    stats_figures,
    stats_row,
    write_figures,
)

DEFAULT_URL = os.environ.get("PRM_URL", "http://127.0.0.1:8000")
CPU_GROUPS = ["this bench", "gateway", "services", "rabbitmq"]
CPU_HEADERS = ["client cpu", "gateway cpu", "service cpu", "broker cpu"]


class HttpError(Exception):
    pass


def check_loopback(url: str) -> int:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        sys.exit(f"not an http(s) URL: {url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        sys.exit(f"cannot resolve {parts.hostname}: {exc}")
    if not all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos):
        sys.exit(f"{url} is not a loopback address: refused")
    return port


class Api:
    """One signed-in user of the gateway (set-up calls; fails loudly)."""

    def __init__(self, base: str, username: str, password: str, timeout: float) -> None:
        self.base, self.timeout = base, timeout
        try:
            response = requests.post(
                f"{base}/api/v1/auth/login",
                json={"username": username, "password": password},
                timeout=timeout,
            )
        except requests.RequestException as exc:
            sys.exit(f"the gateway at {base} does not answer ({exc}): start it with `make run`")
        if response.status_code != 200:
            sys.exit(f"sign-in as {username} failed: {response.status_code} {response.text[:300]}")
        self.tokens = response.json()
        self.headers = {"Authorization": f"Bearer {self.tokens['access_token']}"}

    def __call__(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = requests.request(
            method, f"{self.base}{path}", headers=self.headers, timeout=self.timeout, **kwargs
        )
        if response.status_code != expect:
            sys.exit(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()


def protected_customers(seller: Api, approvers: list[Api], how_many: int) -> list[int]:
    """File ``how_many`` customers in the seller's territory and approve their filings, the
    n-th step by the n-th of ``approvers``."""
    partner = seller("GET", f"/api/v1/partners/{seller.tokens['user']['partner_id']}")
    if not partner["territory"]:
        sys.exit(f"partner {partner['code']} has no territory to file customers in")
    ids = []
    for _ in range(how_many):
        body = {
            "name": f"压测客户{uuid.uuid4().hex[:10]}有限公司",
            "contact_name": "压测",
            "phone": f"139{random.randint(0, 99_999_999):08d}",
            "region_code": partner["territory"][0],
        }
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


def order_factory(
    base: str, token: str, customers: list[int], product_id: int, timeout: float, keyed: bool
) -> Callable:
    """Create-and-submit operations; ``keyed``: each POST with an ``Idempotency-Key`` of
    its own (what a careful client sends; the service saves each answer)."""
    numbers = count()  # next() is atomic: unique contract numbers across threads
    run = uuid.uuid4().hex[:6]

    @contextmanager
    def factory() -> Iterator[Callable[[], Any]]:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {token}"

            def key() -> dict[str, str]:
                return {"Idempotency-Key": uuid.uuid4().hex} if keyed else {}

            def create_and_submit() -> None:
                number = next(numbers)
                body = {
                    "customer_id": customers[number % len(customers)],
                    "contract_no": f"BENCH-{run}-{number}",
                    "lines": [{"product_id": product_id, "quantity": 1, "unit_price": "1000.00"}],
                }
                created = session.post(
                    f"{base}/api/v1/orders", json=body, timeout=timeout, headers=key()
                )
                if created.status_code != 201:
                    raise HttpError(f"create: {created.status_code} {created.text[:200]}")
                order_id = created.json()["id"]
                submitted = session.post(
                    f"{base}/api/v1/orders/{order_id}/submit", timeout=timeout, headers=key()
                )
                if submitted.status_code != 200:
                    raise HttpError(f"submit: {submitted.status_code} {submitted.text[:200]}")

            yield create_and_submit

    return factory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help=f"gateway base URL ({DEFAULT_URL})")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run (10)")
    parser.add_argument("--concurrency", default="1,4", help="client threads, comma list (1,4)")
    parser.add_argument("--customers", type=int, default=10, help="protected customers (10)")
    parser.add_argument("--partner-user", default="hz-sales")
    parser.add_argument(
        "--filing-approver", default="channel", help="one user per filing step, comma list"
    )
    parser.add_argument("--catalogue-user", default="salesops")
    parser.add_argument(
        "--password",
        default=os.environ.get("PRM_BENCH_PASSWORD", "demo-pass-2026"),
        help="the users' password ($PRM_BENCH_PASSWORD; the demo password by default)",
    )
    parser.add_argument("--warmup", type=int, default=3, help="untimed operations per thread")
    parser.add_argument("--timeout", type=float, default=30.0, help="per request, s (30)")
    add_figures_argument(parser)
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    if not concurrencies or min(concurrencies) < 1:
        sys.exit("--concurrency: positive integers, comma separated")

    base = args.url.rstrip("/")
    port = check_loopback(base)
    seller = Api(base, args.partner_user, args.password, args.timeout)
    approvers = [
        Api(base, name.strip(), args.password, args.timeout)
        for name in args.filing_approver.split(",")
        if name.strip()
    ]
    catalogue = Api(base, args.catalogue_user, args.password, args.timeout)
    customers = protected_customers(seller, approvers, args.customers)
    product = catalogue(
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
    stack = find_stack(port)

    print_machine()
    print(
        f"target: {base} as {args.partner_user} (partner {seller.tokens['user']['partner_id']}),"
        f" {len(customers)} protected customers, product {product['sku']}; "
        f"{fmt(args.seconds, 0)} s per run, warm-up {args.warmup} per thread"
    )
    print()
    rows: list[Stats] = []
    # Each concurrency without keys, then the first one again with a key on each POST.
    for concurrency, keyed in [(c, False) for c in concurrencies] + [(concurrencies[0], True)]:
        token = Api(base, args.partner_user, args.password, args.timeout).tokens["access_token"]
        rows.append(
            drive(
                order_factory(base, token, customers, product["id"], args.timeout, keyed),
                label="create + submit" + (", keyed" if keyed else ""),
                method="HTTP x2",
                threads=concurrency,
                seconds=args.seconds,
                warmup=args.warmup,
                cpu_probe=lambda: cpu_seconds(stack),
            )
        )
    headers = ["operation", *STATS_HEADERS[1:]]
    headers[headers.index("calls")] = "orders"
    headers[headers.index("calls/s")] = "orders/s"
    table = [stats_row(row) + cpu_cells(row, CPU_GROUPS) for row in rows]
    print_table(headers + CPU_HEADERS, table)
    print(
        "(one order = POST /orders + POST /orders/{id}/submit; keyed: each with an"
        " Idempotency-Key; cpu columns: CPU ms per order)"
    )
    for row in rows:
        if row.errors:
            print(f"  errors at x{row.threads}: {row.first_error}")
    attributed = bool(stack["gateway master"] and stack["services"])
    figures = []
    for row in rows:
        figures += stats_figures(row, f"{row.label} conc {row.threads}", unit="orders/s")
    for row in rows[:1]:
        used = sum(row.cpu.get(group, 0.0) for group in ("gateway", "services", "rabbitmq"))
        value = used / row.calls * 1000 if attributed and row.calls else None
        name = f"create + submit conc {row.threads} CPU in the stack"
        figures.append(figure(name, value, "CPU ms/order"))
    write_figures(args.figures, figures, error_notes(rows))


if __name__ == "__main__":
    main()
