"""Load on the gateway over HTTP: requests/s, p50, p99 and errors per endpoint.

    python -m bench.gateway_load [--url URL] [--seconds S] [--concurrency C[,C...]]

URL defaults to $PRM_URL or http://127.0.0.1:8000 and must be a loopback address: this
is a load generator, and it only loads a stack on this machine.

Signs in (``hz-sales`` by default), then, for each concurrency C and each endpoint, runs
C client threads (one ``requests.Session`` each, keep-alive) for S seconds or until
``--max-requests`` requests (whichever comes first), after a short warm-up per thread
(``--repeat R``: R interleaved rounds, medians shown):

- ``GET /api/v1/me``: the gateway verifies the JWT and calls ``partners.get_caller``
  (one RPC);
- ``GET /api/v1/partners/{id}`` (the user's own partner, or the first listed for an HQ
  user): ``partners.get_caller`` then ``partners.get_partner`` (two RPCs).

A response other than 200 counts as an error (the first one is printed). The load
generator runs on the same machine as the stack, so it competes with it for the cores:
the CPU each part used during a run is printed with the figures.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import runpy
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

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
    stats_figures,
    stats_row,
    write_figures,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = os.environ.get("PRM_URL", "http://127.0.0.1:8000")
CPU_GROUPS = ["this bench", "gateway", "services", "rabbitmq"]
CPU_HEADERS = ["client cpu", "gateway cpu", "service cpu", "broker cpu", "other load"]


class HttpError(Exception):
    pass


def _check_loopback(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        sys.exit(f"not an http(s) URL: {url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        sys.exit(f"cannot resolve {parts.hostname}: {exc}")
    addresses = {info[4][0] for info in infos}
    if not all(ipaddress.ip_address(address).is_loopback for address in addresses):
        sys.exit(f"{url} is not a loopback address ({', '.join(sorted(addresses))}): refused")
    return parts.hostname, port


def _sign_in(base: str, username: str, password: str, timeout: float) -> dict:
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
    return response.json()


def _visible_partner(base: str, token: str, tokens: dict, timeout: float) -> int:
    """The signed-in user's own partner, or the first partner an HQ user sees."""
    headers = {"Authorization": f"Bearer {token}"}
    partner_id = tokens["user"].get("partner_id")
    if partner_id is None:
        response = requests.get(
            f"{base}/api/v1/partners", params={"per_page": 1}, headers=headers, timeout=timeout
        )
        items = response.json().get("items") if response.status_code == 200 else None
        if not items:
            sys.exit(
                f"no partner visible to the user: {response.status_code} {response.text[:300]}"
            )
        partner_id = items[0]["id"]
    response = requests.get(
        f"{base}/api/v1/partners/{partner_id}", headers=headers, timeout=timeout
    )
    if response.status_code != 200:
        sys.exit(f"GET /api/v1/partners/{partner_id}: {response.status_code} {response.text[:300]}")
    return partner_id


def _http_factory(url: str, token: str, timeout: float) -> Callable:
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


def _gateway_settings(stack: dict[str, list[int]]) -> str:
    """What is known of the gateway's workers: counted from /proc, and the config file."""
    conf_path = ROOT / "gateway" / "gunicorn.conf.py"
    try:
        conf = runpy.run_path(str(conf_path))
        configured = (
            f"{conf_path.relative_to(ROOT)} with this shell's environment: "
            f"worker_class={conf.get('worker_class')}, workers={conf.get('workers')}, "
            f"threads={conf.get('threads')}, timeout={conf.get('timeout')}s, "
            f"access log={'on' if conf.get('accesslog') else 'off'}"
        )
    except Exception as exc:
        configured = f"{conf_path.name} could not be read ({type(exc).__name__})"
    if stack["gateway master"]:
        running = (
            f"running: gunicorn master {stack['gateway master'][0]} with "
            f"{len(stack['gateway workers'])} worker processes {stack['gateway workers']}; "
            f"services {stack['services']}"
        )
    else:
        running = "running: no gunicorn found for this port on this machine"
    return f"gateway: {running}\n         {configured}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help=f"gateway base URL ({DEFAULT_URL})")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run (10)")
    parser.add_argument(
        "--concurrency", default="1,8", help="client threads; a comma list runs each (1,8)"
    )
    parser.add_argument(
        "--max-requests", type=int, default=100_000, help="cap of requests per run (100000)"
    )
    parser.add_argument("--user", default=os.environ.get("PRM_BENCH_USER", "hz-sales"))
    parser.add_argument(
        "--password",
        default=os.environ.get("PRM_BENCH_PASSWORD", "demo-pass-2026"),
        help="the user's password ($PRM_BENCH_PASSWORD; the demo password by default)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of every run, interleaved; medians shown (1)"
    )
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per thread (5)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per request, s (30)")
    add_figures_argument(parser)
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    if not concurrencies or min(concurrencies) < 1:
        sys.exit("--concurrency: positive integers, comma separated")

    base = args.url.rstrip("/")
    _, port = _check_loopback(base)
    tokens = _sign_in(base, args.user, args.password, args.timeout)
    partner_id = _visible_partner(base, tokens["access_token"], tokens, args.timeout)
    stack = find_stack(port)

    print_machine()
    print(_gateway_settings(stack))
    print(
        f"target: {base} as {args.user} (user {tokens['user']['id']}, partner {partner_id}); "
        f"{fmt(args.seconds, 0)} s or {args.max_requests} requests per run, "
        f"warm-up {args.warmup} per thread"
    )
    print()

    endpoints = [("GET /api/v1/me", "/api/v1/me"), (f"GET /api/v1/partners/{partner_id}",
                 f"/api/v1/partners/{partner_id}")]  # fmt: skip
    names = {endpoints[0][0]: "GET /me", endpoints[1][0]: "GET /partners/{id}"}
    results: list[Stats] = []
    for round_ in range(1, args.repeat + 1):
        if args.repeat > 1:
            print(f"round {round_}/{args.repeat} ...", file=sys.stderr)
        for concurrency in concurrencies:
            for label, path in endpoints:
                # A fresh access token per run, so that long runs never outlive its TTL.
                token = _sign_in(base, args.user, args.password, args.timeout)["access_token"]
                results.append(
                    drive(
                        _http_factory(f"{base}{path}", token, args.timeout),
                        label=label,
                        method="HTTP",
                        threads=concurrency,
                        calls=args.max_requests,
                        seconds=args.seconds,
                        warmup=args.warmup,
                        cpu_probe=lambda: cpu_seconds(stack),
                    )
                )
    rows = aggregate(results)

    headers = ["endpoint", *STATS_HEADERS[2:]]
    headers[headers.index("calls")] = "requests"
    headers[headers.index("calls/s")] = "req/s"
    table = [
        stats_row(row)[:1]
        + stats_row(row)[2:]
        + cpu_cells(row, CPU_GROUPS)
        + [other_load(row, CPU_GROUPS)]
        for row in rows
    ]
    print_table(headers + CPU_HEADERS, table)
    print(
        "(req/s, p50, p99: medians of the rounds; runs min-max: the rounds' req/s;\n"
        " cpu: CPU ms per request of the load generator, the gunicorn processes, the services\n"
        " and the broker, which is shared with anything else on this machine; other load:\n"
        " cores kept busy by other processes during the run)"
    )
    for row in rows:
        if row.errors:
            print(f"  errors in {row.label} x{row.threads}: {row.first_error}")
        if "machine" in row.cpu and row.elapsed:
            busy = row.cpu["machine"] / row.elapsed
            cores = os.cpu_count() or 1
            if busy > 0.9 * cores:
                print(
                    f"  {row.label} x{row.threads}: the machine was saturated "
                    f"({fmt(busy)} of {cores} cores busy)"
                )
    attributed = bool(stack["gateway master"] and stack["services"])
    write_figures(args.figures, _figures(rows, names, attributed), error_notes(rows))


def _figures(rows: list[Summary], names: dict[str, str], attributed: bool) -> list[dict]:
    """req/s, p50, p99 of every run; CPU of one request in the stack (gateway, services,
    broker) at the lowest concurrency."""
    figures = []
    for row in rows:
        name = f"{names[row.label]} conc {row.threads}"
        figures += stats_figures(row, name, unit="req/s")
    lowest = min(row.threads for row in rows)
    for row in rows:
        if row.threads == lowest and row.calls:
            parts = [row.cpu.get(group) for group in ("gateway", "services", "rabbitmq")]
            used = sum(parts) / row.calls * 1000 if attributed and None not in parts else None
            name = f"{names[row.label]} conc {row.threads} CPU in the stack"
            figures.append(figure(name, used, "CPU ms/req"))
    return figures


if __name__ == "__main__":
    main()
