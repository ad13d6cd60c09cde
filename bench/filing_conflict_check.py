"""Conflict-check (查重) latency with many customers in PostgreSQL: p50 and p99.

    python -m bench.filing_conflict_check [--sizes 10000,1000000] [--queries 2000]

Makes a scratch database (``prm_bench_filing_<random>``; ``$PRM_BENCH_DB_PREFIX``
replaces ``prm_bench_``) on the server of $PRM_BENCH_PG_DSN (default ``host=127.0.0.1
port=5432 user=postgres dbname=postgres``), runs the filing migrations there, and for
each size (cumulative: the next size adds the missing customers) bulk-loads customers
and their three keys (name, USCC, mobile) with COPY, runs ANALYZE, then times
``services.filing.customers.check_conflict`` as the service calls it: a real ``Session``
per check (one pooled connection, as one worker), a partner caller, a payload already
validated by the schema. Half of the checks hit an existing customer (by name written
differently, by USCC or by phone), half miss. The database is dropped at the end, also
on failure or Ctrl-C.

90 % of the customers are protected, 10 % pending; every one blocks others, so every one
has its keys (released and rejected customers have none and do not count here).

Personal data is stored as the service stores it: the contact's name and the phone sealed
(``services.common.sealing``), the phone's blind index beside it and as the phone key
(``services.common.pii``). Before the checks, the cost of that per customer row is timed
in this process (sealing the contact's name, phone and address, computing the phone's and
the address's blind index, and opening a sealed value), and printed with the checks'
latency, which now includes computing the looked-up phone's blind index under every key
of the ring (``PRM_SECRETS_KEY``; two keys with ``--keys 2``, as during a rotation).
"""

from __future__ import annotations

import argparse
import io
import math
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
from services.common import pii
from services.common.context import Caller
from services.common.db import make_engine
from services.common.migrations import upgrade
from services.common.sealing import seal, unseal
from services.common.unit_of_work import UnitOfWork
from services.filing.customers import check_conflict
from services.filing.keys import address_form, normalise_name, uscc_check_char

ROOT = Path(__file__).resolve().parent.parent
ADMIN_DSN = os.environ.get(
    "PRM_BENCH_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# bench.all gives its run's prefix, to find (and drop) its databases.
DB_PREFIX = os.environ.get("PRM_BENCH_DB_PREFIX", "prm_bench_")
BATCH = 100_000
CALLER = Caller(
    user_id=1, partner_id=1, partner_ids=frozenset({1}), permissions=frozenset({"customer.create"})
)


# -- the scratch database ---------------------------------------------------------------


def admin_connection():
    connection = psycopg2.connect(ADMIN_DSN)
    connection.autocommit = True
    return connection


def create_database(name: str) -> str:
    connection = admin_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        connection.close()
    params = dict(part.split("=", 1) for part in ADMIN_DSN.split())
    user = params.get("user", "postgres")
    password = f":{params['password']}" if "password" in params else ""
    host, port = params.get("host", "127.0.0.1"), params.get("port", "5432")
    return f"postgresql+psycopg2://{user}{password}@{host}:{port}/{name}"


def drop_database(name: str) -> None:
    connection = admin_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    finally:
        connection.close()


# -- data -------------------------------------------------------------------------------


def name_of(i: int) -> str:
    return f"杭州第{i:07d}号网络科技有限公司"


def uscc_of(i: int) -> str:
    digits = []
    for _ in range(9):
        i, rest = divmod(i, 31)
        digits.append(USCC_ALPHABET[rest])
    body = "91330106" + "".join(reversed(digits))
    return body + uscc_check_char(body)


def phone_of(i: int) -> str:
    return f"13{i:09d}"


CONTACT = "王经理"
ADDRESS = "浙江省杭州市西湖区文三路90号"


def time_personal_data(rows: int) -> list[tuple[str, float]]:
    """Microseconds per customer row of what storing and reading its personal data costs,
    measured over ``rows`` rows in this process."""

    def per_row(work) -> float:
        started = time.perf_counter()
        for i in range(rows):
            work(i)
        return (time.perf_counter() - started) / rows * 1e6

    sealed = seal(phone_of(1))
    return [
        ("seal contact name, phone, address", per_row(
            lambda i: (seal(CONTACT), seal(phone_of(i)), seal(ADDRESS)))),
        ("blind index of phone and address", per_row(
            lambda i: (pii.blind_index(pii.PHONE, phone_of(i)),
                       pii.blind_index(pii.ADDRESS, address_form(ADDRESS))))),
        ("open one sealed value", per_row(lambda i: unseal(sealed))),
        ("phone look-up indexes (every key of the ring)", per_row(
            lambda i: pii.blind_indexes(pii.PHONE, phone_of(i)))),
    ]  # fmt: skip


def load_customers(dsn: str, first: int, last: int) -> float:
    """COPY customers ``first``..``last - 1`` and their keys; seconds taken."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    until = (now + timedelta(days=180)).isoformat()
    stamp = now.isoformat()
    connection = psycopg2.connect(dsn)
    try:
        for start in range(first, last, BATCH):
            stop = min(start + BATCH, last)
            customers, keys = io.StringIO(), io.StringIO()
            for i in range(start, stop):
                pending = i % 10 == 0
                status = "pending" if pending else "protected"
                protected = r"\N" if pending else until
                uscc, phone = uscc_of(i), phone_of(i)
                index = pii.blind_index(pii.PHONE, phone)
                customers.write(
                    f"{i}\t{name_of(i)}\t{uscc}\t{seal(CONTACT)}\t{seal(phone)}\t{index}\t"
                    f"330106\tpartner\t{status}\t{1 + i % 500}\t180\t{protected}\t{stamp}\t"
                    f"{stamp}\n"
                )
                keys.write(f"name\t{normalise_name(name_of(i))}\t{i}\n")
                keys.write(f"uscc\t{uscc}\t{i}\n")
                keys.write(f"phone\t{index}\t{i}\n")
            customers.seek(0)
            keys.seek(0)
            with connection.cursor() as cursor:
                cursor.copy_expert(
                    "COPY customers (id, name, uscc, contact_name, phone, phone_index,"
                    " region_code, source, status, owner_partner_id, protection_days,"
                    " protected_until, created_at, updated_at) FROM STDIN",
                    customers,
                )
                cursor.copy_expert("COPY customer_keys (kind, value, customer_id) FROM STDIN", keys)
            connection.commit()
        with connection.cursor() as cursor:
            cursor.execute("SELECT setval(pg_get_serial_sequence('customers', 'id'), %s)", (last,))
        connection.commit()
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE customers")
            cursor.execute("ANALYZE customer_keys")
    finally:
        connection.close()
    return time.perf_counter() - started


# -- the checks -------------------------------------------------------------------------


def payloads(existing: int, count: int, rng: random.Random) -> list[tuple[str, dict]]:
    """``count`` checks as the schema hands them over: half hits, half misses."""
    checks = []
    for n in range(count):
        if n % 2 == 0:
            i = rng.randrange(existing)
            way = rng.choice(("name", "uscc", "phone"))
            fresh = f"无关{rng.randrange(10**9)}公司"
            if way == "name":  # the same name, written with brackets and another suffix
                written = name_of(i).replace("网络", "（网络）").replace("有限公司", "股份有限公司")
                checks.append(("hit", {"name": written, "uscc": None, "phone": None}))
            elif way == "uscc":
                checks.append(("hit", {"name": fresh, "uscc": uscc_of(i), "phone": None}))
            else:
                checks.append(("hit", {"name": fresh, "uscc": None, "phone": phone_of(i)}))
        else:
            i = existing + 10_000_000 + rng.randrange(10**8)
            checks.append(
                ("miss", {"name": name_of(i), "uscc": uscc_of(i), "phone": phone_of(i % 10**9)})
            )
    return checks


def time_checks(engine, checks: list[tuple[str, dict]]) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"hit": [], "miss": [], "all": []}
    for kind, data in checks:
        started = time.perf_counter()
        with Session(engine) as session:
            answer = check_conflict(UnitOfWork(lambda: session, "filing"), CALLER, data)
        elapsed = (time.perf_counter() - started) * 1000
        if answer["conflict"] != (kind == "hit"):
            raise AssertionError(f"wrong answer for a {kind}: {data}")
        timings[kind].append(elapsed)
        timings["all"].append(elapsed)
    return timings


def percentile(values: list[float], q: float) -> float:
    """Nearest rank, as in bench._common."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--keys", type=int, default=1, help="keys in the ring (2: as during a key rotation)"
    )
    add_figures_argument(parser)
    args = parser.parse_args(argv)
    if args.keys > 1 and "," not in os.environ.get("PRM_SECRETS_KEY", ""):
        ring = [secrets.token_urlsafe(48) for _ in range(args.keys)]
        os.environ["PRM_SECRETS_KEY"] = ",".join(ring)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    rng = random.Random(args.seed)

    name = f"{DB_PREFIX}filing_{secrets.token_hex(4)}"
    print_machine()
    print(f"scratch database {name}; {args.queries} checks per size (half hits, half misses)")
    costs = time_personal_data(20_000)
    print(f"personal data, per customer row ({len(pii.blind_indexes(pii.PHONE, '1'))} key(s)):")
    print_table(["what", "µs"], [[what, fmt(value, 1)] for what, value in costs])
    print()
    url = create_database(name)
    engine = None
    try:
        upgrade("filing", ROOT / "services" / "filing" / "migrations", url)
        dsn = url.replace("postgresql+psycopg2://", "postgresql://")
        engine = make_engine(url, pool_size=1, max_overflow=0)
        rows = []
        figures = [figure(f"personal data: {what}", value, "µs") for what, value in costs]
        loaded = 0
        for size in sizes:
            seconds = load_customers(dsn, loaded, size)
            print(
                f"loaded {size - loaded:,} customers ({(size - loaded) * 3:,} keys) "
                f"in {seconds:.1f} s",
                flush=True,
            )
            loaded = size
            time_checks(engine, payloads(size, 200, rng))  # warm-up: connection, caches
            timings = time_checks(engine, payloads(size, args.queries, rng))
            figures += [
                figure(f"conflict check p50 @{si_count(size)} customers",
                       statistics.median(timings["all"]), "ms"),
                figure(f"conflict check p99 @{si_count(size)} customers",
                       percentile(timings["all"], 99), "ms"),
            ]  # fmt: skip
            for kind in ("all", "hit", "miss"):
                values = timings[kind]
                rows.append(
                    [
                        f"{size:,}",
                        kind,
                        str(len(values)),
                        fmt(statistics.median(values), 3),
                        fmt(percentile(values, 99), 3),
                        fmt(max(values), 3),
                    ]
                )
        print()
        print_table(["customers", "checks", "n", "p50 ms", "p99 ms", "max ms"], rows)
        write_figures(args.figures, figures)
    finally:
        if engine is not None:
            engine.dispose()
        drop_database(name)
        print(f"dropped {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
