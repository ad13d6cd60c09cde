"""The fault suites' workload: orders created, submitted and approved through the gateway
by several client threads; in the scenarios, customers filed and approved and HQ leads
created and claimed between them. Each client behaves as a careful client would while the
system misbehaves: every POST carries an ``Idempotency-Key`` of its own, and a request
that failed with 502/503/504 or a dropped connection is sent again with the same key. So
the client never needs to guess whether a lost answer's request went through: it expects
the first answer (200 or 201), never a 409 from its own earlier try. Whatever happens
inside, the ledger afterwards says what should exist.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.support.client import Client, unique

#: Orders per fault scenario (CI: 120; the README's long run: 2000) and client threads.
ORDERS = int(os.environ.get("PRM_FAULT_ORDERS", "120"))
THREADS = int(os.environ.get("PRM_FAULT_THREADS", "6"))
REGION = "650102"  # 乌鲁木齐 天山区

RETRYABLE = {502, 503, 504}
#: Mobile numbers no two customers or leads of a run share (the duplicate check keys on them).
_phones = itertools.count(random.randrange(10_000_000, 90_000_000))


class GaveUp(Exception):
    """A request kept failing past the client's patience."""


@dataclass
class Outcome:
    """What the clients saw: the orders they saw approved, the filings they saw approved,
    the leads they saw claimed, and the errors they rode out."""

    approved: dict[int, str] = field(default_factory=dict)  # order id -> contract no
    filed: dict[int, int] = field(default_factory=dict)  # protected customer id -> filing id
    claimed: dict[int, int] = field(default_factory=dict)  # claimed lead id -> customer id
    failed: dict[str, str] = field(default_factory=dict)  # contract no -> why
    retried: dict[str, int] = field(default_factory=dict)  # status or error -> count
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, what: str) -> None:
        with self.lock:
            self.retried[what] = self.retried.get(what, 0) + 1

    def sent(self) -> None:
        with self.lock:
            self.requests += 1


class PatientClient:
    """Sends a request until it gets an answer that is not a transient failure."""

    def __init__(self, client: Client, outcome: Outcome, patience: float) -> None:
        self.client = client
        self.outcome = outcome
        self.patience = patience

    def attempt(
        self, method: str, path: str, body: Any = None, **kwargs: Any
    ) -> requests.Response | None:
        """One try: the answer, or None after a transient failure (counted)."""
        self.outcome.sent()
        try:
            response = self.client.request(method, path, json=body, timeout=30, **kwargs)
            if response.status_code not in RETRYABLE:
                return response
            self.outcome.count(str(response.status_code))
        except requests.RequestException as exc:
            self.outcome.count(type(exc).__name__)
        return None

    def send(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """The first answer that is not a transient failure; every try of a POST carries
        the same idempotency key."""
        if method == "POST":
            kwargs["headers"] = {"Idempotency-Key": str(uuid.uuid4())}
        deadline = time.monotonic() + self.patience
        pause = 0.2
        while True:
            response = self.attempt(method, path, body, **kwargs)
            if response is not None:
                return response
            if time.monotonic() > deadline:
                raise GaveUp(f"{method} {path}")
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


@dataclass
class OrderWorld:
    """A partner with a protected customer and a product, its sales user, the HQ approvers
    of orders (the n-th decides the n-th step: nobody decides two) and an HQ channel
    manager (approves filings, enters leads)."""

    seller: Client
    approvers: list[Client]
    channel: Client
    customer_id: int
    product_id: int
    partner_id: int
    region_code: str


def run_orders(
    world: OrderWorld,
    count: int,
    threads: int,
    outcome: Outcome,
    on_progress: Callable[[int], None] | None = None,
    patience: float = 120.0,
    mixed: bool = False,
) -> None:
    """Create, submit and approve ``count`` orders on ``threads`` client threads; when
    ``mixed``, also file and approve a customer with every fourth order, and create and
    claim a lead with every fourth (others)."""
    done = 0
    done_lock = threading.Lock()

    def one(index: int) -> None:
        nonlocal done
        contract_no = unique(f"F{index}-")
        seller = PatientClient(world.seller, outcome, patience)
        approvers = [PatientClient(client, outcome, patience) for client in world.approvers]
        channel = PatientClient(world.channel, outcome, patience)
        try:
            order_id = _approve_one(seller, approvers, world, contract_no)
            with outcome.lock:
                outcome.approved[order_id] = contract_no
            if mixed and index % 4 == 1:
                customer_id, filing_id = file_one(seller, channel, world, contract_no)
                with outcome.lock:
                    outcome.filed[customer_id] = filing_id
            if mixed and index % 4 == 3:
                lead_id, customer_id = claim_one(seller, channel, world, contract_no)
                with outcome.lock:
                    outcome.claimed[lead_id] = customer_id
        except (GaveUp, AssertionError) as exc:
            with outcome.lock:
                outcome.failed[contract_no] = str(exc)[:300]
        with done_lock:
            done += 1
            current = done
        if on_progress is not None:
            on_progress(current)

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(one, index) for index in range(count)]:
            future.result()


def _approve_one(
    seller: PatientClient, approvers: list[PatientClient], world: OrderWorld, contract_no: str
) -> int:
    order = _create(seller, world, contract_no)
    for _ in range(10):
        status = order["status"]
        if status == "approved":
            return order["id"]
        path = f"/api/v1/orders/{order['id']}"
        if status == "draft":
            response = seller.send("POST", f"{path}/submit")
        elif status == "submitted":
            step = next(i for i, s in enumerate(order["steps"]) if s["status"] == "pending")
            response = approvers[step].send("POST", f"{path}/approve", {"comment": "同意"})
        else:
            raise AssertionError(f"order {order['id']} became {status}")
        order = _ok(response)
    raise AssertionError(f"order {order['id']} still {order['status']} after 10 actions")


def _create(seller: PatientClient, world: OrderWorld, contract_no: str) -> dict:
    body = {
        "customer_id": world.customer_id,
        "contract_no": contract_no,
        "lines": [{"product_id": world.product_id, "quantity": 2, "unit_price": "1234.50"}],
    }
    return _ok(seller.send("POST", "/api/v1/orders", body), 201)


def _phone() -> str:
    return f"139{next(_phones):08d}"


def file_one(
    seller: PatientClient, channel: PatientClient, world: OrderWorld, key: str
) -> tuple[int, int]:
    """The seller files a customer and HQ approves the filing: (customer id, filing id)."""
    name = f"乌鲁木齐{key}商贸有限公司"
    body = {
        "name": name,
        "contact_name": "阿依古丽",
        "phone": _phone(),
        "region_code": world.region_code,
    }
    customer_id = _ok(seller.send("POST", "/api/v1/customers", body), 201)["id"]
    for _ in range(10):
        customer = _ok(seller.send("GET", f"/api/v1/customers/{customer_id}"))
        filing_id = customer["filing"]["id"]
        if customer["status"] == "protected":
            return customer_id, filing_id
        if customer["status"] != "pending":
            raise AssertionError(f"customer {customer_id} became {customer['status']}")
        _ok(channel.send("POST", f"/api/v1/filings/{filing_id}/approve", {"comment": "同意"}))
    raise AssertionError(f"customer {customer_id} still not protected after 10 actions")


def claim_one(
    seller: PatientClient, channel: PatientClient, world: OrderWorld, key: str
) -> tuple[int, int]:
    """HQ enters a lead of the partner's region and the partner claims it:
    (lead id, customer id)."""
    name = f"{key}线索科技有限公司"
    body = {
        "name": name,
        "contact_name": "马经理",
        "phone": _phone(),
        "region_code": world.region_code,
    }
    lead = _ok(channel.send("POST", "/api/v1/leads", body), 201)
    assert (lead["status"], lead["assigned_partner_id"]) == ("assigned", world.partner_id), lead
    path = f"/api/v1/leads/{lead['id']}"
    for _ in range(10):
        if lead["status"] == "claimed":
            return lead["id"], lead["customer_id"]
        if lead["status"] != "assigned":
            raise AssertionError(f"lead {lead['id']} became {lead['status']}")
        _ok(seller.send("POST", f"{path}/claim"))
        lead = _ok(seller.send("GET", path))
    raise AssertionError(f"lead {lead['id']} still {lead['status']} after 10 actions")


def _ok(response: requests.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code} {response.text[:200]}"
    return response.json()
