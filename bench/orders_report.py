"""The sales report on PostgreSQL over 100,000 and 1,000,000 orders: p50 of each query.

    python -m bench.orders_report [--sizes 100000,1000000] [--runs 7] [--keep]

Creates a database of its own (``prm_bench_orders_<random>``, ``$PRM_BENCH_DB_PREFIX``
replacing ``prm_bench_``, next to the ones ``PRM_TEST_PG_DSN`` reaches; default
``host=127.0.0.1 port=5432 user=postgres``), migrates
the orders schema into it, bulk-loads orders with ``COPY`` (one line each, 500 partners,
31 provinces with 10 cities each, 50 products, two years of creation dates, the six
statuses), runs ``ANALYZE``, then times the report exactly as the service computes it
(``services.orders.reports.sales_figures`` on a SQLAlchemy session as HQ: one GROUP BY in
the database), ``--runs`` times after one warm-up run, and drops the database (unless
``--keep``). Figures only: nothing here asserts a timing.

Queries timed at each size:

- ``province,month``: every order that went into approval (drafts and cancelled left
  out), months of the Asia/Shanghai calendar;
- ``province,month`` over one quarter (a range on the ``created_at`` index);
- ``partner,quarter`` (with the partners' names from the local copy);
- ``product,month`` (joins the order lines).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
from psycopg2 import sql
from sqlalchemy import text
from sqlalchemy.orm import Session

from bench._common import (
    add_figures_argument,
    figure,
    fmt,
    print_machine,
    print_table,
    si_count,
    write_figures,
)

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_DSN = os.environ.get(
    "PRM_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
PROVINCES = [
    f"{p:02d}0000"
    for p in (
        11,
        12,
        13,
        14,
        15,
        21,
        22,
        23,
        31,
        32,
        33,
        34,
        35,
        36,
        37,
        41,
        42,
        43,
        44,
        45,
        46,
        50,
        51,
        52,
        53,
        54,
        61,
        62,
        63,
        64,
        65,
    )
]
STATUSES = (
    ["approved"] * 10 + ["completed"] * 4 + ["submitted"] * 3 + ["rejected", "draft", "cancelled"]
)
PARTNERS = 500
PRODUCTS = 50
START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 2 * 365 * 24 * 3600
CHUNK = 100_000
# bench.all gives its run's prefix, to find (and drop) its databases.
DB_PREFIX = os.environ.get("PRM_BENCH_DB_PREFIX", "prm_bench_")

QUERIES = [
    ("province,month", {"group_by": "province,month"}),
    (
        "province,month, one quarter",
        {"group_by": "province,month", "from": "2026-01-01", "to": "2026-03-31"},
    ),
    ("partner,quarter", {"group_by": "partner,quarter"}),
    ("product,month", {"group_by": "product,month"}),
]


def admin_connection():
    connection = psycopg2.connect(PG_ADMIN_DSN)
    connection.autocommit = True
    return connection


def database_url(name: str) -> str:
    params = dict(part.split("=", 1) for part in PG_ADMIN_DSN.split())
    return (
        f"postgresql+psycopg2://{params.get('user', 'postgres')}@"
        f"{params.get('host', '127.0.0.1')}:{params.get('port', '5432')}/{name}"
    )


def create_database(name: str) -> str:
    connection = admin_connection()
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    connection.close()
    return database_url(name)


def drop_database(name: str) -> None:
    connection = admin_connection()
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
    connection.close()


def _copy(cursor, table: str, columns: list[str], rows: io.StringIO) -> None:
    rows.seek(0)
    cursor.copy_expert(
        f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)",
        rows,
    )


ORDER_COLUMNS = [
    "id",
    "partner_id",
    "customer_id",
    "customer_name",
    "contract_no",
    "region_code",
    "province",
    "city",
    "customer_source",
    "status",
    "total_amount",
    "total_quantity",
    "max_discount",
    "created_at",
    "updated_at",
]
LINE_COLUMNS = [
    "order_id",
    "position",
    "product_id",
    "sku",
    "product_name",
    "unit",
    "quantity",
    "list_price",
    "unit_price",
    "amount",
]


def load_orders(url: str, count: int, seed: int = 7) -> float:
    """Bulk-load ``count`` orders with one line each; seconds taken."""
    rng = random.Random(seed)
    started = time.perf_counter()
    connection = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    with connection, connection.cursor() as cursor:
        products = io.StringIO()
        for product in range(1, PRODUCTS + 1):
            products.write(
                f"{product},SKU-{product:03d},产品{product},台,{product * 100}.00,t,"
                f"{START.isoformat()},{START.isoformat()}\n"
            )
        _copy(
            cursor,
            "products",
            ["id", "sku", "name", "unit", "list_price", "active", "created_at", "updated_at"],
            products,
        )
        partners = io.StringIO()
        for partner in range(1, PARTNERS + 1):
            partners.write(f"{partner},P{partner:04d},伙伴{partner},active,{START.isoformat()}\n")
        _copy(cursor, "partner_copies", ["id", "code", "name", "status", "as_of"], partners)
        for chunk_start in range(1, count + 1, CHUNK):
            orders, lines = io.StringIO(), io.StringIO()
            for order_id in range(chunk_start, min(chunk_start + CHUNK, count + 1)):
                province = rng.choice(PROVINCES)
                city = f"{province[:2]}{rng.randint(1, 10):02d}00"
                product = rng.randint(1, PRODUCTS)
                quantity = rng.randint(1, 20)
                list_price = product * 100
                unit_price = list_price - rng.randint(0, list_price // 4)
                amount = unit_price * quantity
                created = START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
                stamp = created.isoformat()
                orders.write(
                    f"{order_id},{rng.randint(1, PARTNERS)},{order_id},客户{order_id},"
                    f"HT-{order_id},{city[:4]}01,{province},{city},"
                    f"{'hq' if rng.random() < 0.3 else 'partner'},{rng.choice(STATUSES)},"
                    f"{amount}.00,{quantity},{1 - unit_price / list_price:.6f},{stamp},{stamp}\n"
                )
                lines.write(
                    f"{order_id},1,{product},SKU-{product:03d},产品{product},台,{quantity},"
                    f"{list_price}.00,{unit_price}.00,{amount}.00\n"
                )
            _copy(cursor, "orders", ORDER_COLUMNS, orders)
            _copy(cursor, "order_lines", LINE_COLUMNS, lines)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    connection.close()
    return time.perf_counter() - started


def time_queries(url: str, runs: int) -> tuple[list[list[str]], dict[str, float]]:
    """The table's rows, and the p50 of each query in ms."""
    from services.common.context import Caller
    from services.common.db import make_engine
    from services.common.schemas import load
    from services.orders import reports
    from services.orders.schemas import SalesReportArgs

    hq = Caller(user_id=1, permissions=frozenset({"report.read"}))
    engine = make_engine(url)
    results = []
    medians = {}
    for label, query in QUERIES:
        args = load(SalesReportArgs, query)
        timings, rows = [], 0
        for run in range(runs + 1):
            with Session(engine) as session:
                started = time.perf_counter()
                report = reports.sales_figures(session, hq, args)
                elapsed = time.perf_counter() - started
            rows = len(report["rows"])
            if run:  # the first run warms the caches
                timings.append(elapsed * 1000)
        medians[label] = statistics.median(timings)
        results.append(
            [
                label,
                str(rows),
                fmt(medians[label]),
                fmt(min(timings)),
                fmt(max(timings)),
            ]
        )
    with engine.connect() as connection:
        size = connection.scalar(
            text("SELECT pg_size_pretty(pg_database_size(current_database()))")
        )
    engine.dispose()
    results.append(["(database size)", size, "", "", ""])
    return results, medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="orders per round")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per query (7)")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    add_figures_argument(parser)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]

    from services.common.migrations import upgrade

    print_machine()
    connection = admin_connection()
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        print(f"PostgreSQL {cursor.fetchone()[0]} at {PG_ADMIN_DSN}")
    connection.close()
    print()
    figures = []
    for size in sizes:
        name = f"{DB_PREFIX}orders_{secrets.token_hex(4)}"
        url = create_database(name)
        try:
            upgrade("orders", ROOT / "services" / "orders" / "migrations", url)
            loaded = load_orders(url, size)
            print(
                f"{size:,} orders (+ {size:,} lines) loaded with COPY in {fmt(loaded, 1)} s "
                f"into {name}"
            )
            results, medians = time_queries(url, args.runs)
            print_table(["group_by", "rows", "p50 ms", "min ms", "max ms"], results)
            print()
            figures += [
                figure(f"report {label} p50 @{si_count(size)} orders", median, "ms")
                for label, median in medians.items()
            ]
        finally:
            if args.keep:
                print(f"kept {name}", file=sys.stderr)
            else:
                drop_database(name)
    write_figures(args.figures, figures)


if __name__ == "__main__":
    main()
