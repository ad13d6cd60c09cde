"""Orders approved through the gateway, customers filed and approved, and leads entered and
claimed, while the broker restarts, the database crashes or services are killed:
afterwards every approved order has exactly one commission entry and its notifications,
every approved filing one protected customer, every claimed lead one customer, each with
its notifications: nothing lost and nothing twice. A service that is down answers 503 at
once while the rest keeps working; a message no handler can take is parked and shown to
the operator while the queue keeps flowing.

Each scenario prints its lost / duplicated / unexpected counts at the end of the run
(PRM_FAULT_ORDERS sets the size; README "Reliability" has the long run).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from services.common.amqp import ConfirmingPublisher
from services.common.outbox import make_envelope
from tests.support.broker import PrivateBroker
from tests.support.client import Client
from tests.support.ledger import Ledger
from tests.support.postgres import PrivatePostgres
from tests.support.scenario import assert_clean, run_scenario
from tests.support.stack import ROOT, Stack
from tests.support.workload import OrderWorld, Outcome, run_orders

pytestmark = pytest.mark.slow


def test_broker_restarted_three_times_while_orders_are_approved(
    broker: PrivateBroker, fault_stack: Stack, order_world: OrderWorld, ledger: Ledger
) -> None:
    def restart(index: int) -> str:
        # The second time the node is killed (SIGKILL), not shut down: what it confirmed
        # to publishers must survive that too.
        kill = index == 1
        seconds = broker.restart(kill=kill)
        how = "killed (SIGKILL)" if kill else "shut down"
        return f"broker restart {index + 1}, {how}, down {seconds:.1f} s"

    report, _ = run_scenario("broker restarted 3x", order_world, ledger, restart, 3)
    assert_clean(report, 3, fault_stack)


def test_database_crashed_three_times_while_orders_are_approved(
    postgres: PrivatePostgres, fault_stack: Stack, order_world: OrderWorld, ledger: Ledger
) -> None:
    def crash(index: int) -> str:
        seconds = postgres.restart()
        return f"database crash {index + 1}, down {seconds:.1f} s"

    report, _ = run_scenario("database crashed 3x", order_world, ledger, crash, 3)
    assert_clean(report, 3, fault_stack)


def test_services_killed_while_handling_events(
    broker: PrivateBroker, fault_stack: Stack, order_world: OrderWorld, ledger: Ledger
) -> None:
    victims = ["commission", "notify", "orders", "filing"]

    def in_hand(name: str) -> int:
        """Messages the service has taken from its queues and not yet acknowledged."""
        return sum(
            count
            for queue, count in broker.unacknowledged().items()
            if queue == f"rpc-{name}" or f"--{name}." in queue
        )

    # What each victim writes while it works: holding the table's writers back makes sure
    # the service is in the middle of its work, with messages in hand, when it is killed.
    tables = {
        "commission": "commission_entries",
        "notify": "messages",
        "orders": "orders",
        "filing": "customers",  # an approved order extends its customer's protection
    }

    def kill(index: int) -> str:
        name = victims[index % len(victims)]
        with ledger.holding(name, tables[name]):
            deadline = time.monotonic() + 15
            while (held := in_hand(name)) == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            fault_stack.stop_service(name, sig=signal.SIGKILL)
        time.sleep(1.0)
        fault_stack.start_service(name)
        return f"SIGKILL {name} holding {held} unacknowledged message(s)"

    report, _ = run_scenario("services killed (SIGKILL)", order_world, ledger, kill, 4)
    assert_clean(report, 4, fault_stack)
    assert all("holding 0 " not in fault for fault in report.faults), report.faults


def test_a_service_down_answers_503_at_once_and_the_rest_keeps_working(
    fault_stack: Stack, order_world: OrderWorld, admin: Client, ledger: Ledger
) -> None:
    fault_stack.stop_service("commission")
    try:
        down = admin.get("/api/v1/commissions")
        # 503, not 504: the gateway saw nobody consumes commission's queue and did not wait.
        assert down.status_code == 503, down.text
        assert down.headers["Content-Type"].startswith("application/problem+json")
        assert down.json()["code"] == "service_unavailable"

        outcome = Outcome()
        run_orders(order_world, 3, 1, outcome)
        assert len(outcome.approved) == 3 and not outcome.failed
        for order_id in outcome.approved:
            shown = order_world.seller.get(f"/api/v1/orders/{order_id}")
            assert shown.status_code == 200, shown.text
            assert shown.json()["status"] == "approved"
        assert order_world.seller.get("/api/v1/customers").status_code == 200
        assert admin.get("/api/v1/partners").status_code == 200
    finally:
        fault_stack.start_service("commission")

    # The approvals waited in commission's queue: each order gets its entry once it is back.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        entries = ledger.entries()
        if all(entries[(order_id, "commission")] == 1 for order_id in outcome.approved):
            break
        time.sleep(0.5)
    entries = ledger.entries()
    assert [entries[(order_id, "commission")] for order_id in outcome.approved] == [1, 1, 1]


def _parked(stack: Stack) -> list[dict]:
    listed = subprocess.run(
        [sys.executable, "manage.py", "parked", "list"],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]


def test_a_poison_message_is_parked_and_shown_while_the_queue_keeps_flowing(
    broker: PrivateBroker, fault_stack: Stack, order_world: OrderWorld, ledger: Ledger
) -> None:
    # An order_approved event no handler can make sense of (its order id is not a number).
    poison = make_envelope(
        "orders",
        "order_approved",
        {"order_id": "not-a-number", "partner_id": order_world.partner_id, "marker": "poison"},
    )
    publisher = ConfirmingPublisher(broker.uri)
    try:
        publisher.publish(poison, exchange=_orders_exchange(), routing_key="order_approved")
    finally:
        publisher.close()

    # Real orders approved right behind it still get their commission entries.
    outcome = Outcome()
    run_orders(order_world, 5, 2, outcome)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        entries = ledger.entries()
        if all(entries[(order_id, "commission")] == 1 for order_id in outcome.approved):
            break
        time.sleep(0.5)
    assert all(ledger.entries()[(o, "commission")] == 1 for o in outcome.approved)

    # Every handler of order_approved gave up on it after its tries and parked it.
    handlers = ["commission", "filing", "notify"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        parked = [p for p in _parked(fault_stack) if p["event"].get("id") == poison["id"]]
        if len(parked) == len(handlers):
            break
        time.sleep(1.0)
    assert sorted(p["queue"] for p in parked) == [
        f"evt-orders-order_approved--{name}.on_order_approved" for name in handlers
    ], parked
    assert all(p["attempts"] >= 2 and p["error"] for p in parked), parked


def _orders_exchange():
    from nameko.events import get_event_exchange

    return get_event_exchange("orders", {})
