"""The fault injector itself: a fault strikes while the workload is still running."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support.chaos import Chaos


def test_a_slow_fault_holds_the_workload_back_until_the_next_fault_has_begun() -> None:
    finished = 0
    lock = threading.Lock()
    seen_at_start: list[int] = []

    def fault(index: int) -> str:
        with lock:
            seen_at_start.append(finished)
        if index == 0:
            time.sleep(0.5)  # the first fault is slow; the workload would finish meanwhile
        return f"fault {index}"

    chaos = Chaos([10, 20], fault)

    def client() -> None:
        nonlocal finished
        for _ in range(15):
            with lock:
                finished += 1
                current = finished
            chaos.progress(current)

    clients = [threading.Thread(target=client) for _ in range(2)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(timeout=10)

    done = chaos.join()
    assert [line.split(" (")[0] for line in done] == ["fault 0 at order 10", "fault 1 at order 20"]
    # Its time is the wall clock's: at least the 0.5 s slept, more on a busy machine.
    assert float(done[0].split(" (")[1].removesuffix(" s)")) >= 0.5
    # The second fault began with the workload at its point, not after it had ended (30).
    assert seen_at_start[0] >= 10
    assert 20 <= seen_at_start[1] < 30


def test_a_fault_that_fails_releases_the_waiting_clients_and_is_reported() -> None:
    def fault(index: int) -> str:
        raise RuntimeError("broken")

    chaos = Chaos([1, 2], fault)
    worker = threading.Thread(target=lambda: [chaos.progress(n) for n in range(1, 5)])
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive()
    with pytest.raises(RuntimeError, match="broken"):
        chaos.join()
