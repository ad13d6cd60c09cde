"""What every fault scenario shares: the world its clients work in, the quiet references
taken before the faults, the run itself (the workload with faults at set points, then the
ledger's reconciliation) and what a clean run must show.

Used by the single-node fault suites (``tests/faults/``) and the cluster's
(``tests/faults/cluster/``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from tests.support.answers import created
from tests.support.chaos import Chaos
from tests.support.client import Client, unique
from tests.support.fake_data import mobile
from tests.support.ledger import REPORTS, Known, Ledger, Reference, Report
from tests.support.stack import Stack
from tests.support.workload import (
    ORDERS,
    REGION,
    THREADS,
    OrderWorld,
    Outcome,
    PatientClient,
    claim_one,
    file_one,
    run_orders,
)
from tests.support.world import PASSWORD


def made_user(
    admin: Client, url: str, partner_id: int | None, roles: list[str]
) -> tuple[Client, int]:
    """A user made by HQ's admin (of the partner ``partner_id``, or HQ's), signed in, and
    its id."""
    body = {
        "username": unique("u"),
        "password": PASSWORD,
        "display_name": "故障测试",
        "partner_id": partner_id,
        "roles": roles,
    }
    made = created(admin.post("/api/v1/users", body))
    return Client(url).login(made["username"], PASSWORD), made["id"]


def new_user(admin: Client, url: str, partner_id: int | None, roles: list[str]) -> Client:
    """A user made by HQ's admin (of the partner ``partner_id``, or HQ's), signed in."""
    return made_user(admin, url, partner_id, roles)[0]


def new_partner(admin: Client, territory: list[str]) -> dict:
    """A city partner covering ``territory``."""
    return created(
        admin.post(
            "/api/v1/partners",
            {
                "code": unique("F"),
                "name": f"故障测试伙伴 {unique()}",
                "type": "city_partner",
                "territory": territory,
            },
        )
    )


def order_world(admin: Client, url: str) -> OrderWorld:
    """A partner with one protected customer, a product, the partner's sales user, one HQ
    approver per step of an order (the default flow: sales, then finance; nobody decides
    two steps) and an HQ channel manager (approves filings, enters leads)."""
    partner = new_partner(admin, [REGION])
    seller = new_user(admin, url, partner["id"], ["partner_sales"])
    approvers = [new_user(admin, url, None, ["sales_ops"]), new_user(admin, url, None, ["finance"])]
    channel = new_user(admin, url, None, ["channel_manager"])
    customer = created(
        seller.post(
            "/api/v1/customers",
            {
                "name": f"乌鲁木齐{unique()}商贸有限公司",
                "contact_name": "阿依古丽",
                "phone": mobile(),
                "region_code": REGION,
            },
        )
    )
    created(admin.post(f"/api/v1/filings/{customer['filing']['id']}/approve", {"comment": "同意"}))
    product = created(
        admin.post(
            "/api/v1/products",
            {"sku": unique("SKU-"), "name": "故障测试产品", "unit": "套", "list_price": "1234.50"},
        )
    )
    return OrderWorld(
        seller=seller,
        approvers=approvers,
        channel=channel,
        customer_id=customer["id"],
        product_id=product["id"],
        partner_id=partner["id"],
        region_code=REGION,
    )


def references(world: OrderWorld, ledger: Ledger) -> tuple[Reference, Known]:
    """Quiet work before the faults: the notifications each kind of work should get."""
    outcome = Outcome()
    run_orders(world, 1, 1, outcome)
    (order_id,) = outcome.approved
    seller = PatientClient(world.seller, outcome, 60)
    channel = PatientClient(world.channel, outcome, 60)
    customer_id, filing_id = file_one(seller, channel, world, unique("R"))
    lead_id, lead_customer_id = claim_one(seller, channel, world, unique("R"))
    reference = Reference(
        order=ledger.shape_of(order_id),
        filing=ledger.shape_of(filing_id, "filing", "filing_submitted"),
        customer=ledger.shape_of(customer_id, "customer", "filing_approved"),
        lead=ledger.shape_of(lead_id, "lead", "lead_assigned"),
    )
    known = Known(
        orders=set(ledger.orders()),
        customers=set(ledger.customers()) | {customer_id, lead_customer_id},
        leads=set(ledger.leads()) | {lead_id},
    )
    return reference, known


def run_scenario(
    name: str,
    world: OrderWorld,
    ledger: Ledger,
    fault: Callable[[int], str],
    faults: int,
    *,
    orders: int = ORDERS,
    threads: int = THREADS,
    also: Callable[[int], None] | None = None,
    known_leads: set[int] | None = None,
) -> tuple[Report, list[str]]:
    """``orders`` orders (mixed with filings and lead claims) with ``fault(i)`` run at
    evenly spaced points of their progress, then reconciled and reported (``REPORTS``);
    ``also`` is told the progress too, and ``known_leads`` are leads of the run's world
    that the clients did not enter. The report, and the faults done."""
    reference, known = references(world, ledger)
    known.leads |= known_leads or set()
    outcome = Outcome()
    chaos = Chaos([orders * (i + 1) // (faults + 1) for i in range(faults)], fault)

    def progress(finished: int) -> None:
        chaos.progress(finished)
        if also is not None:
            also(finished)

    began = time.monotonic()
    run_orders(world, orders, threads, outcome, on_progress=progress, mixed=True)
    done = chaos.join()
    report = Report(name, orders=orders, seconds=time.monotonic() - began, faults=done)
    ledger.reconcile(report, outcome, reference, known)
    if outcome.failed:
        reasons = Counter(why[:120] for why in outcome.failed.values())
        report.counts.append(
            "given up because: " + "; ".join(f"{n}x {why}" for why, n in reasons.most_common(3))
        )
    REPORTS.append(report)
    return report, done


def assert_clean(report: Report, faults: int, stack: Stack) -> None:
    """Every fault done, no order given up, everything asked for done once, nothing lost,
    duplicated or unexpected, and no service container died."""
    summary = "\n".join(report.lines())
    # A fault may stop a service's work for a moment, never kill its container (which
    # ``manage.py run`` would quietly start again, with every worker it ran lost).
    died = [
        name for name in stack.service_processes if "died; starting it again" in stack.log(name)
    ]
    assert not died, f"containers died: {died}\n{summary}"
    assert len(report.faults) == faults, summary
    assert report.client_failures == 0, summary
    assert report.approved == report.orders, summary
    # with every fourth order a filing (index 1, 5, ...) and a lead (index 3, 7, ...)
    assert report.filed == len(range(1, report.orders, 4)), summary
    assert report.claimed == len(range(3, report.orders, 4)), summary
    assert report.clean, summary
