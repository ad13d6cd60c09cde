"""Receipts (回款) recorded by HQ finance while the broker restarts, or while the commission
service is killed in the middle of accruing them: afterwards every receipt the API
acknowledged is listed once under its order, every order has been paid the sum of its
acknowledged receipts, and commission on collection holds exactly one entry per receipt
(receipt x rate half-up, the receipt completing the payment taking the rest), contract x
rate in all for an order paid in full. Nothing lost and nothing twice.

Each scenario prints its lost / duplicated / unexpected counts at the end of the run, as
the order scenarios do (PRM_FAULT_ORDERS sets the size: a quarter as many orders, each
with up to four receipts).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator

import pytest

from tests.support.broker import PrivateBroker
from tests.support.chaos import Chaos
from tests.support.client import Client
from tests.support.ledger import REPORTS, Ledger, Report
from tests.support.receipts import (
    ReceiptWorld,
    approved_orders,
    receipt_world,
    receipts_planned,
    reconcile,
    record_receipts,
)
from tests.support.stack import Stack
from tests.support.workload import ORDERS, THREADS

pytestmark = pytest.mark.slow

#: Orders per scenario: a quarter of the order scenarios' (at least 9), each with up to four
#: receipts.
RECEIPT_ORDERS = max(ORDERS // 4, 9)


@pytest.fixture(scope="module")
def receipts(admin: Client, fault_stack: Stack) -> ReceiptWorld:
    return receipt_world(admin, fault_stack.url)


@pytest.fixture(scope="module")
def receipt_ledger(receipts: ReceiptWorld, database_urls: dict[str, str]) -> Iterator[Ledger]:
    books = Ledger(database_urls, receipts.orders.partner_id)
    try:
        yield books
    finally:
        books.close()


def _run(
    name: str,
    world: ReceiptWorld,
    admin: Client,
    stack: Stack,
    fault: Callable[[int], str],
    faults: int,
) -> Report:
    """Orders approved quietly, then their receipts recorded with ``fault(i)`` at evenly
    spaced points of the receipts' progress; reconciled, reported (``REPORTS``) and
    asserted clean."""
    order_ids = approved_orders(world, RECEIPT_ORDERS, THREADS)
    planned = receipts_planned(len(order_ids))
    chaos = Chaos([planned * (i + 1) // (faults + 1) for i in range(faults)], fault)
    began = time.monotonic()
    books = record_receipts(world, order_ids, THREADS, chaos)
    done = chaos.join()
    report = Report(name, orders=len(order_ids), seconds=time.monotonic() - began, faults=done)
    found = reconcile(report, world, books, order_ids, admin)
    REPORTS.append(report)

    summary = "\n".join(report.lines())
    died = [n for n in stack.service_processes if "died; starting it again" in stack.log(n)]
    assert not died, f"containers died: {died}\n{summary}"
    assert len(report.faults) == faults, summary
    assert report.client_failures == 0, f"{books.outcome.failed}\n{summary}"
    assert len(books.acknowledged) == planned, summary
    assert not found["wrong_amounts"], f"{found['wrong_amounts'][:10]}\n{summary}"
    assert not found["wrong_paid"], f"{found['wrong_paid'][:10]}\n{summary}"
    assert not found["wrong_sums"], f"{found['wrong_sums'][:10]}\n{summary}"
    assert report.clean, summary
    return report


def test_broker_restarted_three_times_while_receipts_are_recorded(
    broker: PrivateBroker, fault_stack: Stack, receipts: ReceiptWorld, admin: Client
) -> None:
    def restart(index: int) -> str:
        # The second time the node is killed (SIGKILL), not shut down.
        kill = index == 1
        seconds = broker.restart(kill=kill)
        how = "killed (SIGKILL)" if kill else "shut down"
        return f"broker restart {index + 1}, {how}, down {seconds:.1f} s"

    _run("receipts, broker restarted 3x", receipts, admin, fault_stack, restart, 3)


def test_commission_killed_while_accruing_receipts(
    broker: PrivateBroker,
    fault_stack: Stack,
    receipts: ReceiptWorld,
    receipt_ledger: Ledger,
    admin: Client,
) -> None:
    def in_hand() -> int:
        """payment_recorded events commission has taken and not yet acknowledged."""
        return sum(
            count
            for queue, count in broker.unacknowledged().items()
            if queue == "evt-orders-payment_recorded--commission.on_payment_recorded"
        )

    def kill(index: int) -> str:
        # Holding the entries' writers back makes sure commission is in the middle of
        # accruing, with receipts in hand, when it is killed.
        with receipt_ledger.holding("commission", "commission_entries"):
            deadline = time.monotonic() + 15
            while (held := in_hand()) == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            fault_stack.stop_service("commission", sig=signal.SIGKILL)
        time.sleep(1.0)
        fault_stack.start_service("commission")
        return f"SIGKILL commission holding {held} unacknowledged receipt(s)"

    report = _run("receipts, commission killed (SIGKILL) 2x", receipts, admin, fault_stack, kill, 2)
    assert all("holding 0 " not in fault for fault in report.faults), report.faults
