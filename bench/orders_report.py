"""The sales report on PostgreSQL over 100,000 and 1,000,000 orders: p50 of each query,
and how much slower it is at the largest size than at the smallest.

    python -m bench.orders_report [--sizes 100000,1000000] [--runs 7] [--keep]

Creates a database of its own (``prm_bench_orders_<random>``, ``$PRM_BENCH_DB_PREFIX``
replacing ``prm_bench_``, next to the ones ``PRM_TEST_PG_DSN`` reaches; default
``host=127.0.0.1 port=5432 user=postgres``), migrates
the orders schema into it, bulk-loads orders with ``COPY`` (one line each, 500 partners,
31 provinces with 10 cities each, 50 products, two years of creation dates, the six
statuses), fills the reports' rollup from them as the migration does
(``services.orders.rollup.rebuild``), runs ``ANALYZE``, then times the report exactly as
the service computes it (``services.orders.reports.sales_figures`` on a SQLAlchemy session:
one GROUP BY over the rollup), ``--runs`` times after one warm-up run, and drops the
databases (unless ``--keep``). Figures only: nothing here asserts a timing; the load average
is printed with them, for the machine is shared.

The sizes are loaded first and then timed in turns (each run of a query at every size
before the next run), so that the ratio between them is taken under the same load.

Queries timed at each size:

- ``province,month``: every order that went into approval (drafts and cancelled left
  out), months of the Asia/Shanghai calendar;
- ``province,month`` over one quarter (whole months), and over a range that cuts its first
  and last month (the days at the edges are read from the rollup's daily level);
- ``partner,quarter`` (with the partners' names from the local copy);
- ``product,month``;
- ``city,product`` as the user of one partner (its scope: the daily level's rows of that
  partner).
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
from services.common.context import Caller

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

HQ = Caller(user_id=1, permissions=frozenset({"report.read"}))
#: A partner's user: the report of partner 1's orders only.
PARTNER_USER = Caller(
    user_id=2, partner_id=1, partner_ids=frozenset({1}), permissions=frozenset({"report.read"})
)
QUERIES = [
    ("province,month", {"group_by": "province,month"}, HQ),
    (
        "province,month, one quarter",
        {"group_by": "province,month", "from": "2026-01-01", "to": "2026-03-31"},
        HQ,
    ),
    (
        "province,month, cut months",
        {"group_by": "province,month", "from": "2026-01-10", "to": "2026-03-20"},
        HQ,
    ),
    ("partner,quarter", {"group_by": "partner,quarter"}, HQ),
    ("product,month", {"group_by": "product,month"}, HQ),
    ("city,product (one partner's user)", {"group_by": "city,product"}, PARTNER_USER),
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
    connection.close()
    return time.perf_counter() - started


def analyze(url: str) -> None:
    connection = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    connection.close()


def fill_rollup(url: str) -> tuple[float, list[list[str]]]:
    """The rollup computed from the loaded orders; seconds taken, and its rows per level."""
    from services.common.db import make_engine
    from services.orders import rollup

    engine = make_engine(url)
    started = time.perf_counter()
    with engine.begin() as connection:
        rollup.rebuild(connection)
    elapsed = time.perf_counter() - started
    with engine.connect() as connection:
        counts = dict(
            connection.execute(
                text("SELECT level, count(*) FROM order_rollup GROUP BY level")
            ).all()
        )
    engine.dispose()
    levels = [
        [
            f"level {level.number}",
            "day" if level.by_day else "month",
            ", ".join(sorted(level.dims)),
            f"{counts.get(level.number, 0):,}",
        ]
        for level in rollup.LEVELS
    ]
    return elapsed, levels


def time_queries(urls: dict[int, str], runs: int) -> dict[int, dict[str, list[float]]]:
    """The milliseconds of each query at each size, ``runs`` times after one warm-up run;
    the sizes take turns, run after run, so that they share whatever else loads the
    machine."""
    from services.common.db import make_engine
    from services.common.schemas import load
    from services.orders import reports
    from services.orders.schemas import SalesReportArgs

    engines = {size: make_engine(url) for size, url in urls.items()}
    timings: dict[int, dict[str, list[float]]] = {size: {} for size in urls}
    for label, query, caller in QUERIES:
        args = load(SalesReportArgs, query)
        for run in range(runs + 1):
            for size, engine in engines.items():
                with Session(engine) as session:
                    started = time.perf_counter()
                    reports.sales_figures(session, caller, args)
                    elapsed = time.perf_counter() - started
                if run:  # the first run warms the caches
                    timings[size].setdefault(label, []).append(elapsed * 1000)
    for engine in engines.values():
        engine.dispose()
    return timings


def report_rows(url: str) -> dict[str, int]:
    """The number of rows of each query's report."""
    from services.common.db import make_engine
    from services.common.schemas import load
    from services.orders import reports
    from services.orders.schemas import SalesReportArgs

    engine = make_engine(url)
    with Session(engine) as session:
        rows = {
            label: len(reports.sales_figures(session, caller, load(SalesReportArgs, query))["rows"])
            for label, query, caller in QUERIES
        }
        size = session.scalar(text("SELECT pg_size_pretty(pg_database_size(current_database()))"))
    engine.dispose()
    return rows | {"(database size)": size}


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
    names = {size: f"{DB_PREFIX}orders_{secrets.token_hex(4)}" for size in sizes}
    urls: dict[int, str] = {}
    try:
        for size in sizes:
            url = urls[size] = create_database(names[size])
            upgrade("orders", ROOT / "services" / "orders" / "migrations", url)
            loaded = load_orders(url, size)
            print(
                f"{size:,} orders (+ {size:,} lines) loaded with COPY in {fmt(loaded, 1)} s "
                f"into {names[size]}"
            )
            filled, levels = fill_rollup(url)
            analyze(url)
            print(f"rollup filled in {fmt(filled, 1)} s:")
            print_table(["level", "by", "dimensions", "rows"], levels)
            print()
        before = os.getloadavg()
        timings = time_queries(urls, args.runs)
        after = os.getloadavg()
        print(
            f"load average before the timed runs {before[0]:.2f}, after {after[0]:.2f} "
            f"(1 min; {os.cpu_count()} cores)"
        )
        figures = []
        for size in sizes:
            rows = report_rows(urls[size])
            print(f"{size:,} orders:")
            table = [
                [label, f"{rows[label]:,}", fmt(statistics.median(t)), fmt(min(t)), fmt(max(t))]
                for label, t in timings[size].items()
            ]
            table.append(["(database size)", str(rows["(database size)"]), "", "", ""])
            print_table(["query", "rows", "p50 ms", "min ms", "max ms"], table)
            print()
            figures += [
                figure(f"report {label} p50 @{si_count(size)} orders", statistics.median(t), "ms")
                for label, t in timings[size].items()
            ]
        if len(sizes) > 1:
            small, large = min(sizes), max(sizes)
            p50 = {
                size: {k: statistics.median(t) for k, t in timings[size].items()} for size in sizes
            }
            ratios = {label: p50[large][label] / p50[small][label] for label in p50[small]}
            print(f"p50 at {large:,} orders / p50 at {small:,} orders:")
            print_table(
                ["query", f"p50 ms @{si_count(small)}", f"p50 ms @{si_count(large)}", "ratio"],
                [
                    [label, fmt(p50[small][label]), fmt(p50[large][label]), fmt(ratio)]
                    for label, ratio in ratios.items()
                ],
            )
            figures += [
                figure(f"report {label} p50 ratio {si_count(large)}/{si_count(small)}", ratio, "x")
                for label, ratio in ratios.items()
            ]
        write_figures(args.figures, figures)
    finally:
        for size, name in names.items():
            if args.keep and size in urls:
                print(f"kept {name}", file=sys.stderr)
            else:
                drop_database(name)


if __name__ == "__main__":
    main()
