"""What the HTTP benchmarks share: a loopback check, a signed-in user for set-up calls,
the demo users' logins, figures as shares of the bare ceiling."""

from __future__ import annotations

import ipaddress
import os
import random
import socket
import sys
import uuid
from typing import Any
from urllib.parse import urlsplit

import requests

from bench._common import figure
from bench._wrk import LoadResult

DEFAULT_URL = os.environ.get("PRM_URL", "http://127.0.0.1:8000")
DEMO_PASSWORD = os.environ.get("PRM_BENCH_PASSWORD", "demo-pass-2026")


def check_loopback(url: str) -> int:
    """The port of ``url``; exits unless it resolves to loopback addresses only (these are
    load generators: they load a stack on this machine only)."""
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

    def __init__(self, base: str, username: str, password: str, timeout: float = 30.0) -> None:
        self.base, self.timeout, self.username = base, timeout, username
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
        self.token = self.tokens["access_token"]
        self.headers = {"Authorization": f"Bearer {self.token}"}
        self.session = requests.Session()
        self.session.headers.update(self.headers)

    @property
    def partner_id(self) -> int | None:
        return self.tokens["user"].get("partner_id")

    def __call__(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = self.session.request(
            method, f"{self.base}{path}", timeout=self.timeout, **kwargs
        )
        if response.status_code != expect:
            sys.exit(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()


def hq_admin(base: str, user: str | None, password: str | None) -> Api:
    """The HQ admin (``admin`` with ``$PRM_ADMIN_PASSWORD``, which ``bench.all``'s stack
    sets); without that password, the HQ user ``director`` with the demo password."""
    password = password or os.environ.get("PRM_ADMIN_PASSWORD")
    if password:
        return Api(base, user or "admin", password)
    print("no $PRM_ADMIN_PASSWORD: the HQ user is `director`", file=sys.stderr)
    return Api(base, user or "director", DEMO_PASSWORD)


def file_customer_body(region_code: str) -> dict[str, str]:
    """A customer to file: a name and phone nobody else has."""
    return {
        "name": f"压测客户{uuid.uuid4().hex[:10]}有限公司",
        "contact_name": "压测",
        "phone": f"139{random.randint(0, 99_999_999):08d}",
        "region_code": region_code,
    }


def share_figures(
    name: str,
    result: LoadResult,
    ceiling: LoadResult | None,
    goal: str | None = None,
    unit: str = "req/s",
) -> list[dict]:
    """Rate (with its share of the ceiling's rate and the goal), p50 and p99 of a load."""
    share = 100.0 * result.rate / ceiling.rate if ceiling is not None and ceiling.rate else None
    rate = figure(f"{name} {unit}", result.rate, unit) | {"share": share}
    if goal:
        rate["goal"] = goal
    return [rate, figure(f"{name} p50", result.p50, "ms"), figure(f"{name} p99", result.p99, "ms")]
