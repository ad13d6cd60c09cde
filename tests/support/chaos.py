"""Faults injected while the workload runs, at set points of its progress."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Chaos:
    """Runs ``fault(n)`` on its own thread each time the workload passes one of
    ``at`` (numbers of finished orders), so that the workload does not wait for a fault
    to end. Only a client that passes a point whose fault has not begun yet (the one
    before is still going on) waits until it begins: otherwise a slow fault could let
    the workload finish first, and the next fault would strike an idle system."""

    def __init__(self, at: list[int], fault: Callable[[int], str]) -> None:
        self.at = sorted(at)
        self.fault = fault
        self.done: list[str] = []
        self.errors: list[BaseException] = []
        self._progress = 0
        self._started = 0  # faults begun
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="chaos", daemon=True)
        self._thread.start()

    def progress(self, finished: int) -> None:
        with self._changed:
            self._progress = max(self._progress, finished)
            self._changed.notify_all()
            while self._started < len(self.at) and finished >= self.at[self._started]:
                self._changed.wait()

    def _run(self) -> None:
        try:
            for index, point in enumerate(self.at):
                with self._changed:
                    while self._progress < point:
                        if not self._changed.wait(timeout=600):
                            return
                    self._started = index + 1
                    self._changed.notify_all()
                began = time.monotonic()
                try:
                    what = self.fault(index)
                except BaseException as exc:  # reported by join(), never swallowed
                    self.errors.append(exc)
                    return
                self.done.append(f"{what} at order {point} ({time.monotonic() - began:.1f} s)")
        finally:
            with self._changed:  # no client waits for a fault that will never begin
                self._started = len(self.at)
                self._changed.notify_all()

    def join(self) -> list[str]:
        """Wait for the last fault; the faults done, in order."""
        with self._changed:
            self._progress = max(self._progress, self.at[-1] if self.at else 0)
            self._changed.notify_all()
        self._thread.join(timeout=600)
        if self.errors:
            raise self.errors[0]
        return self.done
