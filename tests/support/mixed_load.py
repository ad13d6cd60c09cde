"""A small team's working day through the gateway, squeezed into seconds: the workload of
the load test (``tests/load``) and of ``bench.mixed_load``.

Two city partners share one city. Their sales users file customers (one filing in four
has a twin filed by the other partner at the same time: one of the two is refused with
409 ``filing_conflict``), take the leads assigned to them (claim, or decline with a
reason: the lead passes to the other partner; two colleagues may reach for the same
lead, and the slower one is refused with 409 ``invalid_state``, or 404 once the lead has
passed to the other partner), create and submit orders for their protected customers,
and read (``/me``, their customers, orders, leads, notifications). At headquarters a
channel manager approves filings (the n-th of them decides the n-th step: nobody decides
two), marketing enters leads, sales ops approves the first step of every order and finance
the second. Each person is one client thread, as busy as it can be.

Every POST carries an ``Idempotency-Key`` and is sent again with the same key after a
502/503/504 or a dropped connection (``tests.support.workload.PatientClient``). Every try
is recorded (operation, status, problem code, latency), and the ledger keeps what the
clients saw done, for ``check_consistency`` to compare with what the stack holds.
"""

from __future__ import annotations

import math
import os
import queue
import random
import re
import secrets
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.support.client import Client, unique
from tests.support.workload import GaveUp, Outcome, PatientClient, _phone

#: How long the team works on each stack of the load tier (seconds), and how many client
#: threads it has (``PRM_LOAD_SECONDS``, ``PRM_LOAD_THREADS``).
SECONDS = float(os.environ.get("PRM_LOAD_SECONDS", "30"))
THREADS = int(os.environ.get("PRM_LOAD_THREADS", "8"))
#: The load tier's latency tables (title, text), printed at the end of the session.
REPORTS: list[tuple[str, str]] = []
#: 乌鲁木齐市 and its 天山区: no demo partner covers them, so the team's two partners
#: are the only ones leads of this district are routed to.
CITY = "650100"
DISTRICT = "650102"
#: 4xx answers the workload provokes on purpose, by operation: anything else is a fault.
EXPECTED_REFUSALS: dict[str, set[tuple[int, str]]] = {
    "POST /api/v1/customers": {(409, "filing_conflict")},
    "POST /api/v1/leads/{id}/claim": {(409, "invalid_state"), (404, "not_found")},
    "POST /api/v1/leads/{id}/decline": {(409, "invalid_state"), (404, "not_found")},
}
LATENCY_GOAL = 2.0  # seconds: the "no request over 2 s" (reported, not asserted)
_ID = re.compile(r"/\d+(?=/|$)")


def operation(method: str, path: str) -> str:
    """``POST /api/v1/leads/{id}/claim`` for ``POST /api/v1/leads/17/claim?x=1``."""
    return f"{method} {_ID.sub('/{id}', path.split('?', 1)[0])}"


# -- every try, recorded ----------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    operation: str
    status: int  # 0: no answer (the connection failed)
    code: str  # the problem's code, the exception's name, or ""
    seconds: float


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def add(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)


class RecordingClient(Client):
    """A signed-in client that records every request it sends."""

    def __init__(self, base_url: str, token: str | None, recorder: Recorder) -> None:
        super().__init__(base_url, token)
        self.recorder = recorder

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        name = operation(method, path)
        started = time.perf_counter()
        try:
            response = super().request(method, path, **kwargs)
        except requests.RequestException as exc:
            self.recorder.add(Call(name, 0, type(exc).__name__, time.perf_counter() - started))
            raise
        elapsed = time.perf_counter() - started
        code = ""
        if response.status_code >= 400:
            try:
                code = str(response.json().get("code", ""))
            except ValueError:
                code = "not json"
        self.recorder.add(Call(name, response.status_code, code, elapsed))
        return response


# -- the team ---------------------------------------------------------------------------


@dataclass
class Team:
    """Made through the API by an HQ admin: two partners covering ``CITY``, their sales
    users, the HQ users, and a product at 1000.00."""

    admin: Client
    partner_ids: list[int]
    sellers: list[tuple[int, Client]]  # (index of the partner, signed-in sales user)
    filing_approvers: list[Client]
    marketing: Client
    order_approvers: list[Client]  # sales ops (first step), finance (second)
    product_id: int


def _created(response: requests.Response) -> dict:
    assert response.status_code in (200, 201), f"{response.status_code} {response.text[:300]}"
    return response.json()


def make_team(
    admin: Client, recorder: Recorder, sellers_per_partner: int = 2, filing_steps: int = 2
) -> Team:
    """The partners, users and product of one run (set-up calls are not recorded)."""
    password = f"Load-{secrets.token_urlsafe(12)}-2026"
    anonymous = Client(admin.base_url)

    def user(partner_id: int | None, role: str) -> RecordingClient:
        body = {
            "username": unique("load"),
            "password": password,
            "display_name": "压测用户",
            "partner_id": partner_id,
            "roles": [role],
        }
        created = _created(admin.post("/api/v1/users", body))
        signed_in = anonymous.login(created["username"], password)
        return RecordingClient(admin.base_url, signed_in.token, recorder)

    partner_ids = []
    for _ in range(2):
        body = {
            "code": unique("L"),
            "name": f"乌鲁木齐压测伙伴 {unique()}",
            "type": "city_partner",
            "territory": [CITY],
        }
        partner_ids.append(_created(admin.post("/api/v1/partners", body))["id"])
    sellers = [
        (index, user(partner_id, "partner_sales"))
        for index, partner_id in enumerate(partner_ids)
        for _ in range(sellers_per_partner)
    ]
    product = _created(
        admin.post(
            "/api/v1/products",
            {"sku": unique("LOAD-"), "name": "压测产品", "unit": "套", "list_price": "1000.00"},
        )
    )
    return Team(
        admin=admin,
        partner_ids=partner_ids,
        sellers=sellers,
        filing_approvers=[user(None, "channel_manager") for _ in range(filing_steps)],
        marketing=user(None, "marketing"),
        order_approvers=[user(None, "sales_ops"), user(None, "finance")],
        product_id=product["id"],
    )


def retire_team(team: Team) -> None:
    """Suspend the run's partners, so that a later run's leads are not routed to them."""
    for partner_id in team.partner_ids:
        team.admin.post(f"/api/v1/partners/{partner_id}/suspend")


# -- what the clients saw -----------------------------------------------------------------


@dataclass
class Ledger:
    filed: dict[int, int] = field(default_factory=dict)  # customer id -> partner index
    twins: dict[str, list[int]] = field(default_factory=dict)  # name -> partners that got 201
    protected: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    filings_approved: set[int] = field(default_factory=set)  # customer ids
    leads: set[int] = field(default_factory=set)
    claims: dict[int, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    declines: int = 0
    orders: dict[int, int] = field(default_factory=dict)  # order id -> partner index
    orders_approved: set[int] = field(default_factory=set)
    troubles: list[str] = field(default_factory=list)  # actions that went wrong, and why
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Work handed from one person to the next.
    twin_names: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    filing_queue: queue.Queue = field(default_factory=queue.Queue)
    order_queues: list[queue.Queue] = field(default_factory=lambda: [queue.Queue(), queue.Queue()])


def _answer(response: requests.Response, *statuses: int) -> dict | None:
    """The body of an expected answer; None for a refusal (recorded by the client)."""
    if response.status_code in statuses:
        return response.json()
    return None


def _pending_step(subject: dict) -> int | None:
    return next((i for i, s in enumerate(subject["steps"]) if s["status"] == "pending"), None)


class Workload:
    """The team at work for ``seconds``; ``run()`` returns when every person has finished
    the action in hand (a retried request may outlast the deadline by ``patience``)."""

    def __init__(
        self, team: Team, seconds: float, patience: float = 30.0, seed: int | None = None
    ) -> None:
        self.team = team
        self.seconds = seconds
        self.patience = patience
        self.seed = random.randrange(1 << 30) if seed is None else seed
        self.ledger = Ledger()
        self.outcome = Outcome()  # retries, by status or error
        self.deadline = 0.0
        self.elapsed = 0.0

    def patient(self, client: Client) -> PatientClient:
        return PatientClient(client, self.outcome, self.patience)

    def run(self) -> None:
        people: list[tuple[str, Callable[[random.Random], None]]] = [
            *(
                (f"seller {n}", lambda rng, s=seller: self._seller(rng, *s))
                for n, seller in enumerate(self.team.sellers)
            ),
            ("channel", self._filing_approver),
            ("marketing", self._marketing),
            *(
                (f"order step {step}", lambda rng, step=step: self._order_approver(rng, step))
                for step in range(len(self.team.order_approvers))
            ),
        ]
        started = time.monotonic()
        self.deadline = started + self.seconds
        threads = [
            threading.Thread(
                target=self._person, args=(name, act, random.Random(self.seed + n)), name=name
            )
            for n, (name, act) in enumerate(people)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.elapsed = time.monotonic() - started

    def _person(self, name: str, act: Callable[[random.Random], None], rng: random.Random) -> None:
        while time.monotonic() < self.deadline:
            try:
                act(rng)
            except (GaveUp, requests.RequestException, KeyError, ValueError) as exc:
                with self.ledger.lock:
                    self.ledger.troubles.append(f"{name}: {type(exc).__name__}: {exc}"[:300])

    # -- partners' sales users ------------------------------------------------------------

    def _seller(self, rng: random.Random, partner: int, client: Client) -> None:
        patient = self.patient(client)
        roll = rng.random()
        if roll < 0.3:
            self._file(rng, partner, patient)
        elif roll < 0.55:
            self._lead(rng, partner, patient)
        elif roll < 0.8 and self.ledger.protected[partner]:
            self._order(rng, partner, patient)
        else:
            path = rng.choice(
                [
                    "/api/v1/me",
                    "/api/v1/customers?per_page=20",
                    "/api/v1/orders?per_page=20",
                    "/api/v1/leads?per_page=20",
                    "/api/v1/notifications?per_page=20",
                ]
            )
            patient.send("GET", path)

    def _file(self, rng: random.Random, partner: int, patient: PatientClient) -> None:
        ledger = self.ledger
        with ledger.lock:
            waiting = ledger.twin_names[partner]
            name = waiting.pop() if waiting else None
        if name is None:
            name = f"乌鲁木齐{unique('')}压测商贸有限公司"
            if rng.random() < 0.25:  # the other partner files the same company meanwhile
                with ledger.lock:
                    ledger.twin_names[1 - partner].append(name)
        body = {
            "name": name,
            "contact_name": "阿依古丽",
            "phone": _phone(),
            "region_code": DISTRICT,
        }
        customer = _answer(patient.send("POST", "/api/v1/customers", body), 201)
        with ledger.lock:
            ledger.twins.setdefault(name, [])
            if customer is not None:
                ledger.twins[name].append(partner)
                ledger.filed[customer["id"]] = partner
        if customer is not None:
            ledger.filing_queue.put((customer["filing"]["id"], customer["id"], partner))

    def _lead(self, rng: random.Random, partner: int, patient: PatientClient) -> None:
        listed = _answer(patient.send("GET", "/api/v1/leads?status=assigned&per_page=5"), 200)
        if not listed or not listed["items"]:
            return
        lead = rng.choice(listed["items"][:3])  # colleagues often reach for the same lead
        path = f"/api/v1/leads/{lead['id']}"
        if rng.random() < 0.7:
            customer = _answer(patient.send("POST", f"{path}/claim"), 200)
            if customer is not None:
                with self.ledger.lock:
                    self.ledger.claims[lead["id"]].append((partner, customer["id"]))
                    self.ledger.protected[partner].append(customer["id"])
        else:
            body = {"reason": "不在我们的服务范围"}
            if _answer(patient.send("POST", f"{path}/decline", body), 200) is not None:
                with self.ledger.lock:
                    self.ledger.declines += 1

    def _order(self, rng: random.Random, partner: int, patient: PatientClient) -> None:
        with self.ledger.lock:
            customer_id = rng.choice(self.ledger.protected[partner])
        body = {
            "customer_id": customer_id,
            "contract_no": unique("LOAD-"),
            "lines": [{"product_id": self.team.product_id, "quantity": 1, "unit_price": "1000.00"}],
        }
        order = _answer(patient.send("POST", "/api/v1/orders", body), 201)
        if order is None:
            return
        with self.ledger.lock:
            self.ledger.orders[order["id"]] = partner
        if _answer(patient.send("POST", f"/api/v1/orders/{order['id']}/submit"), 200) is not None:
            self.ledger.order_queues[0].put(order["id"])

    # -- headquarters ---------------------------------------------------------------------

    def _next(self, work: queue.Queue) -> Any:
        try:
            return work.get(timeout=min(0.5, max(0.0, self.deadline - time.monotonic())))
        except queue.Empty:
            return None

    def _filing_approver(self, rng: random.Random) -> None:
        item = self._next(self.ledger.filing_queue)
        approvers = [self.patient(client) for client in self.team.filing_approvers]
        if item is None:
            approvers[0].send("GET", "/api/v1/filings?status=pending&per_page=20")
            return
        filing_id, customer_id, partner = item
        path = f"/api/v1/filings/{filing_id}/approve"
        filing = _answer(approvers[0].send("GET", f"/api/v1/filings/{filing_id}"), 200)
        while filing is not None and (step := _pending_step(filing)) is not None:
            if step >= len(approvers):
                raise ValueError(f"filing {filing_id}: more steps than approvers")
            filing = _answer(approvers[step].send("POST", path, {"comment": "同意"}), 200)
        if filing is not None and filing["status"] == "approved":
            with self.ledger.lock:
                self.ledger.filings_approved.add(customer_id)
                self.ledger.protected[partner].append(customer_id)

    def _marketing(self, rng: random.Random) -> None:
        patient = self.patient(self.team.marketing)
        body = {
            "name": f"{unique('')}线索科技有限公司",
            "contact_name": "马经理",
            "phone": _phone(),
            "region_code": DISTRICT,
        }
        lead = _answer(patient.send("POST", "/api/v1/leads", body), 201)
        if lead is not None:
            with self.ledger.lock:
                self.ledger.leads.add(lead["id"])
        patient.send("GET", "/api/v1/leads?per_page=20")

    def _order_approver(self, rng: random.Random, step: int) -> None:
        patient = self.patient(self.team.order_approvers[step])
        order_id = self._next(self.ledger.order_queues[step])
        if order_id is None:
            patient.send("GET", "/api/v1/orders?status=submitted&per_page=20")
            return
        body = {"comment": "同意"}
        order = _answer(patient.send("POST", f"/api/v1/orders/{order_id}/approve", body), 200)
        if order is None:
            return
        if order["status"] == "approved":
            with self.ledger.lock:
                self.ledger.orders_approved.add(order_id)
        elif _pending_step(order) == step + 1 < len(self.ledger.order_queues):
            self.ledger.order_queues[step + 1].put(order_id)
        else:
            raise ValueError(f"order {order_id} is {order['status']} after step {step}")


# -- what the stack holds afterwards --------------------------------------------------------


def check_consistency(team: Team, ledger: Ledger, commission_wait: float = 60.0) -> list[str]:
    """What the stack holds against what the clients saw; the differences (none: all is
    well). Read as the HQ admin."""
    admin = team.admin
    problems: list[str] = []

    def get(path: str) -> dict:
        response = admin.get(path)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    for customer_id, partner in ledger.filed.items():
        response = admin.get(f"/api/v1/customers/{customer_id}")
        if response.status_code != 200:
            problems.append(f"customer {customer_id} answered 201, now {response.status_code}")
            continue
        customer = response.json()
        if customer["owner_partner_id"] != team.partner_ids[partner]:
            problems.append(f"customer {customer_id} belongs to {customer['owner_partner_id']}")
        if customer_id in ledger.filings_approved and customer["status"] != "protected":
            problems.append(f"customer {customer_id} approved, but {customer['status']}")
    for name, winners in ledger.twins.items():
        if len(winners) > 1:
            problems.append(f"{name} filed {len(winners)} times (partners {winners})")
    leads = {}
    page = 1
    while len(leads) < len(ledger.leads):
        listed = get(f"/api/v1/leads?per_page=100&page={page}")
        leads |= {lead["id"]: lead for lead in listed["items"] if lead["id"] in ledger.leads}
        if page * 100 >= listed["total"]:
            break
        page += 1
    problems += [
        f"lead {lead_id} entered (201), now missing" for lead_id in ledger.leads - set(leads)
    ]
    for lead_id, lead in sorted(leads.items()):
        actions = Counter((e["action"], e["partner_id"]) for e in lead["history"])
        claimed = sum(n for (action, _), n in actions.items() if action == "claimed")
        twice = [f"{action} by {partner}" for (action, partner), n in actions.items() if n > 1]
        if claimed > 1 or twice:
            # A partner has a lead once: it claims or declines it once, and never again.
            problems.append(f"lead {lead_id}: {', '.join(twice) or 'claimed'} twice")
        claims = ledger.claims.get(lead_id, [])
        if len(claims) > 1:
            problems.append(f"lead {lead_id} claimed {len(claims)} times: {claims}")
        if claims and (lead["status"], lead["customer_id"]) != ("claimed", claims[0][1]):
            problems.append(
                f"lead {lead_id} claimed for customer {claims[0][1]}, now {lead['status']}"
                f" (customer {lead['customer_id']})"
            )
    for index, partner_id in enumerate(team.partner_ids):
        # Nothing half-written: the partner holds exactly what its users were told was made.
        customers = get(f"/api/v1/customers?partner_id={partner_id}&per_page=1")["total"]
        expected = sum(1 for p in ledger.filed.values() if p == index)
        expected += sum(1 for c in ledger.claims.values() if c and c[0][0] == index)
        if customers != expected:
            problems.append(f"partner {partner_id}: {customers} customers, {expected} made")
        orders = get(f"/api/v1/orders?partner_id={partner_id}&per_page=1")["total"]
        expected = sum(1 for p in ledger.orders.values() if p == index)
        if orders != expected:
            problems.append(f"partner {partner_id}: {orders} orders, {expected} created")
    waiting = set(ledger.orders_approved)
    deadline = time.monotonic() + commission_wait
    while waiting:
        for order_id in sorted(waiting):
            order = get(f"/api/v1/orders/{order_id}")
            if order["status"] != "approved":
                problems.append(f"order {order_id} approved, now {order['status']}")
                waiting.discard(order_id)
            elif order["commission"] is not None:
                waiting.discard(order_id)
        if not waiting or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    problems += [
        f"order {order_id}: no commission after {commission_wait:.0f} s"
        for order_id in sorted(waiting)
    ]
    return problems


# -- figures ------------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank percentile of sorted ``values``, as the other benchmarks give it."""
    if not values:
        return float("nan")
    return values[max(0, math.ceil(pct / 100 * len(values)) - 1)]


@dataclass(frozen=True)
class OperationFigures:
    operation: str
    requests: int
    answered: Counter  # "201", "409 filing_conflict", "504 service_timeout", ...
    p50: float
    p99: float
    max: float
    over_goal: int  # requests slower than LATENCY_GOAL

    @property
    def server_errors(self) -> int:
        return sum(n for what, n in self.answered.items() if what[:1] == "5" or what[:1] == "0")


def figures(calls: list[Call]) -> list[OperationFigures]:
    """Per operation, then ``all`` last."""
    groups: dict[str, list[Call]] = defaultdict(list)
    for call in calls:
        groups[call.operation].append(call)
    groups = dict(sorted(groups.items()))
    groups["all"] = list(calls)
    rows = []
    for name, group in groups.items():
        seconds = sorted(call.seconds for call in group)
        answered = Counter(
            f"{call.status} {call.code}".strip()
            if call.status >= 400 or not call.status
            else str(call.status)
            for call in group
        )
        rows.append(
            OperationFigures(
                operation=name,
                requests=len(group),
                answered=answered,
                p50=percentile(seconds, 50),
                p99=percentile(seconds, 99),
                max=seconds[-1] if seconds else float("nan"),
                over_goal=sum(1 for s in seconds if s > LATENCY_GOAL),
            )
        )
    return rows


def unexpected(calls: list[Call]) -> Counter:
    """Answers that are neither a success nor a refusal the workload provokes on purpose:
    every 5xx, every failed connection, every other 4xx (``403 same_approver``, ...)."""
    found: Counter = Counter()
    for call in calls:
        if 200 <= call.status < 300:
            continue
        if (call.status, call.code) in EXPECTED_REFUSALS.get(call.operation, set()):
            continue
        found[f"{call.operation}: {call.status} {call.code}".strip()] += 1
    return found


def stalled(calls: list[Call]) -> bool:
    """Whether some request got a 5xx or no answer: the stack's data can then only be
    checked once it answers again."""
    return any(call.status >= 500 or not call.status for call in calls)


def table(rows: list[OperationFigures]) -> str:
    """The figures as fixed-width text (latencies in ms)."""
    header = ["operation", "requests", "p50 ms", "p99 ms", "max ms", ">2s", "5xx", "answers"]
    lines = [
        [
            row.operation,
            str(row.requests),
            f"{row.p50 * 1000:.0f}",
            f"{row.p99 * 1000:.0f}",
            f"{row.max * 1000:.0f}",
            str(row.over_goal),
            str(row.server_errors),
            ", ".join(f"{what} x{n}" for what, n in row.answered.most_common()),
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header) - 1)]
    out = []
    for line in [header, *lines]:
        cells = [
            line[i].ljust(widths[i]) if i == 0 else line[i].rjust(widths[i])
            for i in range(len(widths))
        ]
        out.append("  ".join([*cells, line[-1]]))
    return "\n".join(out)


def summary(workload: Workload, calls: list[Call]) -> str:
    ledger = workload.ledger
    return (
        f"{len(calls)} requests in {workload.elapsed:.1f} s "
        f"({len(calls) / workload.elapsed:.1f}/s) by {len(workload.team.sellers) + 4} clients "
        f"(seed {workload.seed}); "
        f"{len(ledger.filed)} customers filed, {len(ledger.filings_approved)} filings approved, "
        f"{len(ledger.leads)} leads entered, {len(ledger.claims)} claimed, "
        f"{ledger.declines} declines, {len(ledger.orders)} orders created, "
        f"{len(ledger.orders_approved)} approved; retried: {dict(workload.outcome.retried)}"
    )
