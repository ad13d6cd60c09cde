"""The timer that runs lead imports (``imports.run_imports``): it ticks every few seconds
(so that an import a stopped runner left is taken over) and at once when woken, by the
entry point that queued an import or by a tick that left work for the next one.

A tick is a worker like any timer's (it acts as the system, with the service's unit of
work and peers); ticks never overlap within a process, and replicas share imports by
their leases (``imports``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from nameko.extensions import DependencyProvider

from services.common.entrypoints import Timer


class ImportTimer(Timer):
    """A timer that ticks at once when woken (``wake``); the first tick at start."""

    def setup(self) -> None:
        super().setup()
        # Under eventlet (the services) a green event: waiting on it lets others run.
        self.woken = threading.Event()
        self.stopping = False

    def wake(self) -> None:
        self.woken.set()

    def stop(self) -> None:
        self.stopping = True
        self.woken.set()
        super().stop()

    def kill(self) -> None:
        self.stopping = True
        super().kill()

    def _run(self) -> None:
        while not self.stopping:
            self.woken.clear()
            self.handle_timer_tick()
            self.worker_complete.wait()
            self.worker_complete.reset()
            if not self.stopping:
                self.woken.wait(self.interval)


import_timer = ImportTimer.decorator


class ImportWaker(DependencyProvider):
    """Injects ``wake()``: the service's import timers tick at once."""

    def get_dependency(self, worker_ctx: Any) -> Callable[[], None]:
        return self.wake

    def wake(self) -> None:
        for entrypoint in self.container.entrypoints:
            if isinstance(entrypoint, ImportTimer):
                entrypoint.wake()
