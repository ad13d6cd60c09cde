"""Leads imported and assigned per second: one 10,000-row file through the gateway.

    python -m bench.leads_import [--url URL] [--rows 10000] [--format csv|xlsx] [--repeat N]

URL defaults to $PRM_URL or http://127.0.0.1:8000 (``make run``); signs in as ``admin``
with $PRM_ADMIN_PASSWORD (default: the one ``make run`` keeps in var/keys/admin-password).
It must be a loopback address:
the bench writes partners and leads into the stack it measures.

Set-up (not timed): HQ creates bench partners (codes ``BENCH...``) covering six cities
two by two plus two provincial agents, so that assignment has ties to break and
specificity to weigh. The file: 80 % of rows name a district or city code of those
cities, 9 % give only an address (resolved by the partners service), 10 % name Beijing
(110000, nobody's: they stay in the HQ queue), 1 % are bad (a phone that is not one) and
must come back in ``errors``. Names and phones are unique, so no lead matches a
protected customer.

Timed: ``POST /api/v1/leads/import`` from the upload to the answer, i.e. reading the file
in the gateway, validating every row, creating each lead, routing it (covering partners
cached per region, open-lead counts per batch), its history row and its outbox event, and
the commit. Figures: rows per second of the whole file, leads created per second, leads
assigned per second. The bench partners are suspended at the end (``--keep-partners`` to
leave them), so that they take no more leads; their leads stay.
"""

from __future__ import annotations

import argparse
import csv
import io
import ipaddress
import os
import random
import socket
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import requests
from openpyxl import Workbook

from bench._common import (
    add_figures_argument,
    figure,
    fmt,
    print_machine,
    print_table,
    si_count,
    write_figures,
)

DEFAULT_URL = os.environ.get("PRM_URL", "http://127.0.0.1:8000")
ADMIN_PASSWORD_FILE = Path(__file__).resolve().parent.parent / "var" / "keys" / "admin-password"


def admin_password() -> str:
    """$PRM_ADMIN_PASSWORD, or the admin password ``make run`` generated."""
    return os.environ.get("PRM_ADMIN_PASSWORD") or ADMIN_PASSWORD_FILE.read_text().strip()


CITIES = {  # city -> districts used in the file
    "330100": ["330102", "330106", "330108", "330100"],
    "330200": ["330203", "330205", "330200"],
    "320100": ["320102", "320104", "320100"],
    "320200": ["320205", "320211", "320200"],
    "440100": ["440103", "440106", "440100"],
    "440300": ["440303", "440305", "440300"],
}
PROVINCES = ["330000", "320000"]
ADDRESSES = [
    "浙江省杭州市西湖区文三路{}号",
    "江苏省南京市玄武区中山路{}号",
    "广东省深圳市南山区科技园{}栋",
]
HEADER = ["name", "contact_name", "phone", "region_code", "address", "notes"]


class Gateway:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()

    def login(self, username: str, password: str) -> None:
        response = self.session.post(
            f"{self.url}/api/v1/auth/login", json={"username": username, "password": password}
        )
        if response.status_code != 200:
            raise SystemExit(
                f"cannot sign in as {username}: {response.status_code} {response.text}"
            )
        token = response.json()["access_token"]
        self.session.headers["Authorization"] = f"Bearer {token}"

    def post(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 600)
        return self.session.post(f"{self.url}{path}", **kwargs)


def loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return all(
            ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None)
        )
    except (socket.gaierror, ValueError):
        return False


def make_partners(gateway: Gateway) -> list[int]:
    made = []
    specs = [(city, "city_partner") for city in CITIES for _ in range(2)]
    specs += [(province, "provincial_agent") for province in PROVINCES]
    for territory, kind in specs:
        body = {
            "code": f"BENCH{uuid.uuid4().hex[:8]}",
            "name": f"压测伙伴 {territory}",
            "type": kind,
            "territory": [territory],
        }
        response = gateway.post("/api/v1/partners", json=body)
        if response.status_code != 201:
            raise SystemExit(f"cannot create a partner: {response.status_code} {response.text}")
        made.append(response.json()["id"])
    return made


def rows_of(count: int, rng: random.Random) -> tuple[list[list[str]], int]:
    """The file's rows and how many of them are bad."""
    run = uuid.uuid4().hex[:6]
    regions = [code for codes in CITIES.values() for code in codes]
    rows, bad = [], 0
    for i in range(count):
        name = f"压测{run}客户{i:06d}有限公司"
        phone = f"15{rng.randrange(10**9):09d}"
        region, address = "", ""
        pick = rng.random()
        if pick < 0.80:
            region = rng.choice(regions)
        elif pick < 0.89:
            address = rng.choice(ADDRESSES).format(i)
        elif pick < 0.99:
            region = "110000"
        else:
            phone, bad = "not a phone", bad + 1
            region = rng.choice(regions)
        rows.append([name, "联系人", phone, region, address, "bench"])
    return rows, bad


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def xlsx_bytes(rows: list[list[str]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--keep-partners", action="store_true")
    parser.add_argument("--seed", type=int, default=2026)
    add_figures_argument(parser)
    args = parser.parse_args(argv)
    if not loopback(args.url):
        raise SystemExit(f"{args.url} is not a loopback address; this bench writes data")

    rng = random.Random(args.seed)
    gateway = Gateway(args.url)
    gateway.login("admin", admin_password())
    print_machine()
    print(f"stack {args.url}; {args.repeat} x {args.rows:,}-row {args.format} file(s)")
    partners = make_partners(gateway)
    print(f"bench partners: {len(partners)} (ids {partners[0]}..{partners[-1]})")
    table = []
    elapsed_runs: list[float] = []
    assigned_runs: list[float] = []
    try:
        for run in range(1, args.repeat + 1):
            rows, bad = rows_of(args.rows, rng)
            content = csv_bytes(rows) if args.format == "csv" else xlsx_bytes(rows)
            started = time.perf_counter()
            response = gateway.post(
                "/api/v1/leads/import",
                files={"file": (f"leads.{args.format}", content)},
            )
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"import failed: {response.status_code} {response.text[:500]}")
            result = response.json()
            if len(result["errors"]) != bad or result["created"] != args.rows - bad:
                raise SystemExit(f"unexpected result: {bad} bad rows, got {result}")
            table.append(
                [
                    str(run),
                    f"{args.rows:,}",
                    f"{len(content) / 1024:,.0f}",
                    fmt(elapsed, 1),
                    f"{result['created']:,}",
                    f"{result['assigned']:,}",
                    f"{result['unassigned']:,}",
                    str(len(result["errors"])),
                    fmt(args.rows / elapsed, 0),
                    fmt(result["created"] / elapsed, 0),
                    fmt(result["assigned"] / elapsed, 0),
                ]
            )
            elapsed_runs.append(elapsed)
            assigned_runs.append(result["assigned"] / elapsed)
            print(f"run {run}: {elapsed:.1f} s", flush=True)
    finally:
        if not args.keep_partners:
            for partner_id in partners:
                gateway.post(f"/api/v1/partners/{partner_id}/suspend")
    print()
    print_table(
        [
            "run", "rows", "KiB", "seconds", "created", "assigned", "unassigned", "errors",
            "rows/s", "created/s", "assigned/s",
        ],
        table,
    )  # fmt: skip
    seconds = statistics.median(elapsed_runs)
    name = f"import {si_count(args.rows)} {args.format} rows"
    write_figures(
        args.figures,
        [
            figure(f"{name}: rows/s", args.rows / seconds, "rows/s"),
            figure(f"{name}: assigned/s", statistics.median(assigned_runs), "leads/s"),
            figure(f"{name}: time", seconds, "s"),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
