"""Lead imports through the gateway: files of 10,000 and 100,000 rows, imported as jobs.

    python -m bench.leads_import [--url URL] [--rows 10000,100000] [--format csv|xlsx]
                                 [--repeat N]

URL defaults to $PRM_URL or http://127.0.0.1:8000 (``make run``); signs in as ``admin``
with $PRM_ADMIN_PASSWORD (default: the one ``make run`` keeps in var/keys/admin-password).
It must be a loopback address:
the bench writes partners and leads into the stack it measures.

Set-up (not timed): HQ creates bench partners (codes ``BENCH...``) covering six cities
two by two plus two provincial agents, so that assignment has ties to break and
specificity to weigh. The file: 80 % of rows name a district or city code of those
cities, 9 % give only an address (resolved by the partners service, a batch's addresses
in one call), 10 % name Beijing (110000, nobody's: they stay in the HQ queue), 1 % are bad
(a phone that is not one) and must come back as errors. Names and phones are unique, so no
lead matches a protected customer.

Timed, per file: ``POST /api/v1/leads/import`` from the upload to its answer (the gateway
reads the file and hands its rows to the filing service in parts of 5,000; the answer is
the summary when the import is done within the route's wait, else 202), then, after a 202,
``GET /api/v1/leads/imports/{id}`` every 0.2 s until the import is done: validating every
row, sealing its contact, creating each lead in batches of 1,000 (multi-row INSERT),
routing it (covering partners asked once per distinct region), its history row and its
outbox event. Figures: the answer's time, the whole import's time, rows per second of the
file, leads created and assigned per second; the CPU seconds the stack's services and its
gateway spent meanwhile, and the cores the rest of the machine kept busy (PostgreSQL
among them; others' work on a shared machine too), so that a run on a busy machine shows
as one. The bench partners are suspended at the end
(``--keep-partners`` to leave them), so that they take no more leads; their leads stay.
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
    cpu_delta,
    cpu_seconds,
    figure,
    find_stack,
    fmt,
    print_machine,
    print_table,
    proc_cmdline,
    proc_cpu,
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


def filing_cpu(stack: dict[str, list[int]]) -> float:
    """CPU seconds used so far by the stack's filing service (its import and its relay)."""
    pids = [pid for pid in stack["services"] if proc_cmdline(pid).split()[-1:] == ["filing"]]
    return sum(proc_cpu(pid) or 0.0 for pid in pids)


def import_file(gateway: Gateway, content: bytes, filename: str) -> tuple[dict, float, float]:
    """Import one file: the finished import, the seconds to the POST's answer, and the
    seconds until the import was done."""
    started = time.perf_counter()
    response = gateway.post("/api/v1/leads/import", files={"file": (filename, content)})
    answered = time.perf_counter() - started
    if response.status_code not in (200, 202):
        raise SystemExit(f"import failed: {response.status_code} {response.text[:500]}")
    job = response.json()
    while response.status_code == 202 and job["status"] not in ("done", "failed"):
        time.sleep(0.2)
        polled = gateway.session.get(f"{gateway.url}/api/v1/leads/imports/{job['id']}", timeout=30)
        if polled.status_code != 200:
            raise SystemExit(f"import {job['id']}: {polled.status_code} {polled.text[:500]}")
        job = polled.json()
    return job, answered, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--rows", default="10000,100000", help="comma-separated file sizes")
    parser.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--keep-partners", action="store_true")
    parser.add_argument("--seed", type=int, default=2026)
    add_figures_argument(parser)
    args = parser.parse_args(argv)
    if not loopback(args.url):
        raise SystemExit(f"{args.url} is not a loopback address; this bench writes data")
    sizes = [int(size) for size in str(args.rows).split(",") if size.strip()]

    rng = random.Random(args.seed)
    gateway = Gateway(args.url)
    gateway.login("admin", admin_password())
    print_machine()
    sizes_text = ", ".join(f"{size:,}" for size in sizes)
    print(f"stack {args.url}; {args.repeat} x {sizes_text}-row {args.format} file(s)")
    stack = find_stack(urlsplit(args.url).port or 80)
    partners = make_partners(gateway)
    print(f"bench partners: {len(partners)} (ids {partners[0]}..{partners[-1]})")
    table = []
    figures = []
    try:
        for size in sizes:
            elapsed_runs: list[float] = []
            assigned_runs: list[float] = []
            for run in range(1, args.repeat + 1):
                rows, bad = rows_of(size, rng)
                content = csv_bytes(rows) if args.format == "csv" else xlsx_bytes(rows)
                before, filing_before = cpu_seconds(stack), filing_cpu(stack)
                job, answered, elapsed = import_file(gateway, content, f"leads.{args.format}")
                cpu = cpu_delta(before, cpu_seconds(stack))
                filing = filing_cpu(stack) - filing_before
                others = cpu.get("machine", 0.0) - cpu["services"] - cpu["gateway"]
                if (
                    job.get("status", "done") != "done"
                    or job["errors_total"] != bad
                    or job["created"] != size - bad
                ):
                    raise SystemExit(f"unexpected result: {bad} bad rows, got {job}")
                table.append(
                    [
                        str(run),
                        f"{size:,}",
                        f"{len(content) / 1024:,.0f}",
                        fmt(answered, 1),
                        fmt(elapsed, 1),
                        f"{job['created']:,}",
                        f"{job['assigned']:,}",
                        f"{job['unassigned']:,}",
                        f"{job['errors_total']:,}",
                        fmt(size / elapsed, 0),
                        fmt(job["created"] / elapsed, 0),
                        fmt(job["assigned"] / elapsed, 0),
                        fmt(cpu["services"], 1),
                        fmt(filing, 1),
                        fmt(cpu["gateway"], 1),
                        fmt(max(others, 0.0) / elapsed, 1),
                    ]
                )
                elapsed_runs.append(elapsed)
                assigned_runs.append(job["assigned"] / elapsed)
                print(f"{size:,} rows, run {run}: {elapsed:.1f} s", flush=True)
            seconds = statistics.median(elapsed_runs)
            name = f"import {si_count(size)} {args.format} rows"
            figures += [
                figure(f"{name}: rows/s", size / seconds, "rows/s"),
                figure(f"{name}: assigned/s", statistics.median(assigned_runs), "leads/s"),
                figure(f"{name}: time", seconds, "s"),
            ]
    finally:
        if not args.keep_partners:
            for partner_id in partners:
                gateway.post(f"/api/v1/partners/{partner_id}/suspend")
    print()
    print_table(
        [
            "run", "rows", "KiB", "answer s", "seconds", "created", "assigned", "unassigned",
            "errors", "rows/s", "created/s", "assigned/s", "services CPU s", "filing CPU s",
            "gateway CPU s",
            "other cores busy",
        ],
        table,
    )  # fmt: skip
    write_figures(args.figures, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
