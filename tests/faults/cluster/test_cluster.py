"""Orders approved through the gateway, customers filed and leads claimed, on a three-node
RabbitMQ cluster with two processes of every service, while the node that leads the most
quorum queues is killed (SIGKILL) and started again, and later one process of each
service is killed (SIGKILL) and started again: afterwards every approved order has
exactly one commission entry and its notifications, every approved filing one protected
customer, every claimed lead one customer, nothing lost and nothing twice.

Two replicas must also never do one piece of timed work twice. Leads whose claim deadline
is made to pass during the run (``manage.py testing age-lead``) are moved on by filing's
timer, which ticks every second on both filing processes: each must be expired once,
assigned to the region's other partner once, and that partner's user told once. The
seller's webhook channel hears of each of the seller's notifications once, whichever notify
process's delivery loop sends it.

Sizes: ``PRM_CLUSTER_ORDERS`` orders (CI: 200; the README's long run: 2000) on
``PRM_FAULT_THREADS`` client threads; ``PRM_CLUSTER_TIMER_LEADS`` leads aged during the
run. The counts are printed at the end with the other fault suites'.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from services.common.registry import NAMES as SERVICES
from tests.support.answers import created
from tests.support.chaos import Chaos
from tests.support.client import Client, unique
from tests.support.cluster import PrivateCluster
from tests.support.fake_data import mobile
from tests.support.ledger import Ledger, Report
from tests.support.receivers import Receiver
from tests.support.scenario import assert_clean, made_user, new_partner, run_scenario
from tests.support.stack import ROOT, Stack
from tests.support.workload import OrderWorld

pytestmark = pytest.mark.slow

ORDERS = int(os.environ.get("PRM_CLUSTER_ORDERS", "200"))
TIMER_LEADS = int(os.environ.get("PRM_CLUSTER_TIMER_LEADS", "12"))
#: Where the aged leads are: two partners cover it, so an expired lead has somewhere to go.
TIMER_REGION = "650103"  # 乌鲁木齐 沙依巴克区
#: Seconds the killed broker node stays down before it is started again: long enough for
#: every process to move to another node and work there (an RPC timeout and more).
NODE_DOWN = 20.0
#: Seconds a killed service process stays down.
PROCESS_DOWN = 1.0
#: Durable queues of the project: each must be a quorum queue.
DURABLE_PREFIXES = ("evt-", "rpc-", "prm.parked")


def _short(node: str) -> str:
    """``node-2`` for ``prm-cluster-abc123-2@localhost``."""
    return f"node-{node.partition('@')[0].rpartition('-')[2]}"


def _work_done(ledger: Ledger) -> Counter:
    """Orders approved and commission entries made so far (the run's partner)."""
    approved = sum(1 for status in ledger.orders().values() if status == "approved")
    return Counter(approved=approved, commission=sum(ledger.entries().values()))


def _leaders(cluster: PrivateCluster) -> str:
    led = cluster.leaders()
    return ", ".join(f"{_short(node)} {count}" for node, count in sorted(led.items())) or "none"


class TimedLeads:
    """Leads of ``TIMER_REGION`` whose claim deadline is made to pass during the run, a
    batch at each of ``points`` (finished orders); filing's timer then moves each on to the
    region's other partner."""

    def __init__(self, stack: Stack, leads: list[int], points: list[int]) -> None:
        self.stack = stack
        self.batches = [leads[i :: len(points)] for i in range(len(points))]
        self.chaos = Chaos(points, self._age_batch)

    def _age_batch(self, index: int) -> str:
        batch = self.batches[index]
        age(self.stack, batch)
        return f"{len(batch)} lead(s) aged"

    def progress(self, finished: int) -> None:
        self.chaos.progress(finished)

    def join(self) -> list[str]:
        return self.chaos.join()


#: Why ``manage.py testing age-lead`` had to be run again, shown in the report.
AGING_RETRIED: list[str] = []


def age(stack: Stack, leads: list[int]) -> None:
    """Each lead's claim deadline passed a minute ago (``manage.py testing age-lead``); a
    command that fails is run again twice (and says why in ``AGING_RETRIED``)."""
    until = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    for lead in leads:
        for attempt in range(3):
            done = subprocess.run(
                [sys.executable, "manage.py", "testing", "age-lead", "--id", str(lead),
                 "--until", until],
                cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=120,
                check=False,
            )  # fmt: skip
            if done.returncode == 0:
                break
            why = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            AGING_RETRIED.append(f"lead {lead}: {why[0][:200]}")
            if attempt == 2:
                raise AssertionError(f"manage.py testing age-lead --id {lead} failed: {why[0]}")
            time.sleep(2.0)


def enter_lead(channel: Client) -> dict:
    body = {
        "name": f"{unique('T')}到期线索有限公司",
        "contact_name": "马经理",
        "phone": mobile(),
        "region_code": TIMER_REGION,
    }
    return created(channel.post("/api/v1/leads", body))


def _expiry_counts(
    ledger: Ledger, leads: dict[int, int], users: dict[int, int]
) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Lost, duplicated and unexpected in what the timer did to ``leads`` (lead id -> the
    partner it was first assigned to): one expiry each, one assignment to the other partner,
    one ``lead_assigned`` notification to each partner's user (``users``: partner -> user)."""
    ids = sorted(leads)
    actions = ledger.lead_actions(ids)
    holders = ledger.lead_holders(ids)
    shapes = ledger.messages(ids, "lead")
    wanted = Counter({("lead_assigned", user): 1 for user in users.values()})
    missing_messages = extra_messages = 0
    moved = 0
    for lead, first in leads.items():
        status, holder = holders[lead]
        if (status, holder) == ("assigned", next(p for p in users if p != first)):
            moved += 1
        shape = shapes.get(lead, Counter())
        missing_messages += sum((wanted - shape).values())
        extra_messages += sum((shape - wanted).values())
    lost = {
        "lead expiries": sum(1 for lead in ids if actions[lead]["expired"] == 0),
        "reassignments after expiry": len(ids) - moved,
        "notifications of reassigned leads": missing_messages,
    }
    duplicated = {
        "lead expiries (a tick done twice)": sum(
            actions[lead]["expired"] - 1 for lead in ids if actions[lead]["expired"] > 1
        ),
        "assignments": sum(
            actions[lead]["assigned"] - 2 for lead in ids if actions[lead]["assigned"] > 2
        ),
        "notifications of reassigned leads": extra_messages,
    }
    unexpected = {
        "lead actions besides assigned and expired": sum(
            n
            for lead in ids
            for action, n in actions[lead].items()
            if action not in ("assigned", "expired")
        ),
    }
    return lost, duplicated, unexpected


def reconcile_expiries(
    report: Report,
    ledger: Ledger,
    leads: dict[int, int],
    users: dict[int, int],
    timeout: float = 90.0,
) -> None:
    """Wait until every aged lead was moved on and its partner told (or ``timeout``), then
    add the counts to ``report``."""
    deadline = time.monotonic() + timeout
    while True:
        lost, duplicated, unexpected = _expiry_counts(ledger, leads, users)
        if not any(lost.values()) or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    report.lost |= lost
    report.duplicated |= duplicated
    report.unexpected |= unexpected
    expired = sum(1 for n in ledger.lead_actions(sorted(leads)).values() if n["expired"] == 1)
    report.counts.append(
        f"timer ({len(leads)} leads aged during the run, filing's timer every 1 s on "
        f"2 processes): {expired} expired exactly once, "
        f"{len(leads) - lost['reassignments after expiry']} assigned to the other partner, "
        f"{duplicated['lead expiries (a tick done twice)']} expiries done twice"
        + (f"; aging run again: {'; '.join(AGING_RETRIED)}" if AGING_RETRIED else "")
    )


def timer_diagnosis(stack: Stack, ledger: Ledger, leads: dict[int, int]) -> str:
    """Where each aged lead is and what filing's processes logged of their timer: shown
    when a lead was not moved on."""
    ids = sorted(leads)
    holders = ledger.lead_holders(ids)
    actions = ledger.lead_actions(ids)
    states = "; ".join(
        f"{lead} {holders.get(lead, ('missing', None))[0]} at"
        f" {holders.get(lead, ('missing', None))[1]} (first {leads[lead]},"
        f" {dict(actions.get(lead, {}))})"
        for lead in ids
    )
    logged = []
    for name in sorted(stack.service_processes):
        if name.startswith("filing"):
            lines = stack.log(name).splitlines()
            failed = [line for line in lines if "not moved on" in line or "housekeeping" in line]
            logged.append(
                f"{name}: {len(failed)} lines" + (f", last {failed[-1][:300]}" if failed else "")
            )
    return f"aged leads: {states}; filing's logs of its timer: {' | '.join(logged)}"


def reconcile_deliveries(
    report: Report,
    ledger: Ledger,
    channel_id: int,
    user_id: int,
    after: int,
    receiver: Receiver,
    timeout: float = 90.0,
) -> None:
    """Wait until every notification of the seller since message ``after`` was delivered
    to the seller's webhook (or ``timeout``), then add the counts to ``report``: each once,
    whichever notify process sent it."""
    deadline = time.monotonic() + timeout
    while True:
        messages = set(ledger.user_messages(user_id, after))
        rows = ledger.deliveries(channel_id)
        received = Counter(
            int(request.headers.get("X-PRM-Delivery", 0)) for request in list(receiver.received)
        )
        of_messages = {row.message_id for row in rows}
        sent = {row.id for row in rows if row.status == "sent"}
        lost = {
            "webhook deliveries (message never queued to the channel)": len(messages - of_messages),
            "webhook deliveries (not sent)": sum(1 for row in rows if row.status != "sent"),
            "webhook deliveries (sent, never received)": len(sent - set(received)),
        }
        if not any(lost.values()) or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    report.lost |= lost
    report.duplicated["webhook deliveries (received twice)"] = sum(
        n - 1 for n in received.values() if n > 1
    )
    report.unexpected["webhook deliveries nobody queued"] = len(
        set(received) - {row.id for row in rows}
    )
    retried = sum(1 for row in rows if row.attempts > 1)
    report.counts.append(
        f"webhook (the seller's channel, 2 notify processes): {len(messages)} notifications, "
        f"{len(rows)} deliveries, {sum(received.values())} requests received, "
        f"{len(sent & set(received))} delivered, "
        f"{report.duplicated['webhook deliveries (received twice)']} received twice, "
        f"{retried} sent more than once by the loop"
    )


def test_the_busiest_broker_node_and_a_replica_of_each_service_killed_under_load(
    cluster: PrivateCluster,
    cluster_stack: Stack,
    cluster_world: OrderWorld,
    cluster_admin: Client,
    cluster_ledger: Ledger,
) -> None:
    # Each process logs in as its own broker user, made on the cluster.
    assert cluster_stack.broker_warning is None, cluster_stack.broker_warning
    queues = cluster.queues()
    durable = [(name, kind) for name, kind, _ in queues if name.startswith(DURABLE_PREFIXES)]
    assert durable and all(kind == "quorum" for _, kind in durable), durable
    assert set(cluster_stack.service_processes) == {
        *SERVICES, *(f"{service}-2" for service in SERVICES)
    }  # fmt: skip

    # Two partners of the timer's region, a user each; leads entered by HQ alternate
    # between them (the one with fewer open leads first).
    partners = [new_partner(cluster_admin, [TIMER_REGION])["id"] for _ in range(2)]
    users = {
        p: made_user(cluster_admin, cluster_stack.url, p, ["partner_sales"])[1] for p in partners
    }
    entered = [enter_lead(cluster_world.channel) for _ in range(TIMER_LEADS + 1)]
    first_holder = {lead["id"]: lead["assigned_partner_id"] for lead in entered}
    # One lead aged before the faults: the timer's quiet behaviour, as the counts expect it.
    quiet = entered[0]["id"]
    age(cluster_stack, [quiet])
    quiet_report = Report("quiet expiry")
    reconcile_expiries(quiet_report, cluster_ledger, {quiet: first_holder[quiet]}, users, 60)
    assert quiet_report.clean, quiet_report.lines()
    timed = {lead["id"]: lead["assigned_partner_id"] for lead in entered[1:]}

    # The seller's own webhook channel: each of its notifications is delivered there once.
    receiver = Receiver()
    try:
        seller = cluster_world.seller
        channel = created(
            seller.post(
                "/api/v1/notification-channels", {"kind": "webhook", "target": receiver.url}
            )
        )
        seller_id = seller.get("/api/v1/me").json()["id"]
        after = cluster_ledger.last_message_id()

        #: What the stack got done while the killed node was down.
        while_down: Counter[str] = Counter()

        def fault(index: int) -> str:
            if index == 0:
                before = _leaders(cluster)
                began = time.monotonic()
                node, led = cluster.kill_busiest()
                done_before = _work_done(cluster_ledger)
                time.sleep(NODE_DOWN)
                while_down.update(_work_done(cluster_ledger) - done_before)
                cluster.start(node)
                return (
                    f"broker {_short(node)} (leading {led} quorum queues; leaders {before})"
                    f" killed (SIGKILL), down {time.monotonic() - began:.1f} s (while down:"
                    f" {while_down['approved']} orders approved, {while_down['commission']}"
                    f" commission entries), leaders after {_leaders(cluster)}"
                )
            for service in SERVICES:
                cluster_stack.stop_service(service, sig=signal.SIGKILL)
            time.sleep(PROCESS_DOWN)
            for service in SERVICES:
                cluster_stack.start_service(service)
            return f"SIGKILL one process of each service ({', '.join(SERVICES)}), the -2 ran on"

        timers = TimedLeads(
            cluster_stack, sorted(timed), [ORDERS // 6, ORDERS // 2, ORDERS * 5 // 6]
        )
        report, _ = run_scenario(
            "cluster: busiest node and one replica of each service killed",
            cluster_world,
            cluster_ledger,
            fault,
            2,
            orders=ORDERS,
            also=timers.progress,
            known_leads=set(first_holder),
        )
        aged = timers.join()
        reconcile_expiries(report, cluster_ledger, timed, users)
        if report.lost["lead expiries"] or report.lost["reassignments after expiry"]:
            report.counts.append(timer_diagnosis(cluster_stack, cluster_ledger, timed))
        reconcile_deliveries(report, cluster_ledger, channel["id"], seller_id, after, receiver)
    finally:
        receiver.close()
    report.counts.insert(
        0,
        f"queues: {len(durable)} durable, all quorum; the timer's leads: {'; '.join(aged)}",
    )
    assert len(aged) == 3, aged
    assert_clean(report, 2, cluster_stack)
    # The two nodes left carried the work: the quorum queues had moved their leaders there,
    # and every process had moved its connection there.
    summary = "\n".join(report.lines())
    assert while_down["approved"] > 0 and while_down["commission"] > 0, summary
