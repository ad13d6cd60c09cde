"""What the benchmarks share: a driver that runs calls on N threads, figures, a table.

Nothing here imports eventlet, Nameko or the services, so that a bench module can
monkey-patch first (``bench._eventlet_part``) and then import this.
"""

from __future__ import annotations

import itertools
import math
import os
import platform
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# A factory is entered once per driver thread and yields that thread's call function, so
# per-thread resources (a connection, a proxy, a session) are made and closed in the
# thread that uses them.
CallFactory = Callable[[], AbstractContextManager[Callable[[], Any]]]


@dataclass
class Stats:
    """Figures of one measured run."""

    label: str
    method: str
    threads: int
    calls: int = 0
    errors: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list, repr=False)
    first_error: str | None = None

    @property
    def rate(self) -> float:
        return self.calls / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, q: float) -> float:
        """Latency in ms at percentile ``q`` (nearest rank) of the successful calls."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
        return ordered[index] * 1000

    def summary(self) -> dict[str, Any]:
        """The figures without the raw latencies (what a subprocess sends back)."""
        data = asdict(self)
        data.pop("latencies")
        data |= {"rate": self.rate, "p50": self.percentile(50), "p99": self.percentile(99)}
        return data


@dataclass
class Summary:
    """Figures received from another process (same fields as ``Stats.summary()``)."""

    label: str
    method: str
    threads: int
    calls: int
    errors: int
    elapsed: float
    rate: float
    p50: float
    p99: float
    first_error: str | None = None

    def percentile(self, q: float) -> float:
        return {50: self.p50, 99: self.p99}[q]


def drive(
    factory: CallFactory,
    *,
    label: str,
    method: str,
    threads: int,
    calls: int | None = None,
    seconds: float | None = None,
    warmup: int = 10,
    thread_class: type[threading.Thread] = threading.Thread,
) -> Stats:
    """Run ``call()`` on ``threads`` threads until ``calls`` calls are done or ``seconds``
    have passed (whichever comes first; at least one bound is required).

    Each thread enters the factory, makes ``warmup`` untimed calls (connections, reply
    queues, caches), waits for the others, then calls in a loop. Latency is measured per
    call; the rate is the completed calls over the wall time of the timed part.
    """
    if calls is None and seconds is None:
        raise ValueError("give calls or seconds")
    stats = Stats(label=label, method=method, threads=threads)
    ticket = itertools.count()  # next() is atomic: the shared call budget
    lock = threading.Lock()
    ready = threading.Barrier(threads + 1)
    go = threading.Event()
    window: dict[str, float] = {}

    def worker() -> None:
        latencies: list[float] = []
        errors = 0
        first_error = None
        try:
            with factory() as call:
                for _ in range(warmup):
                    call()
                ready.wait()
                go.wait()
                deadline = window["deadline"]
                while (calls is None or next(ticket) < calls) and time.perf_counter() < deadline:
                    started = time.perf_counter()
                    try:
                        call()
                    except Exception as exc:
                        errors += 1
                        first_error = first_error or f"{type(exc).__name__}: {exc}"
                        continue
                    latencies.append(time.perf_counter() - started)
        except threading.BrokenBarrierError:
            return
        except Exception as exc:  # set-up or warm-up failed: nothing of this thread counts
            errors += 1
            first_error = f"set-up failed: {type(exc).__name__}: {exc}"
            ready.abort()
        with lock:
            stats.latencies.extend(latencies)
            stats.errors += errors
            stats.first_error = stats.first_error or first_error

    workers = [thread_class(target=worker, daemon=True) for _ in range(threads)]
    for thread in workers:
        thread.start()
    with suppress(threading.BrokenBarrierError):
        ready.wait()
    started = time.perf_counter()
    window["deadline"] = started + (seconds if seconds is not None else math.inf)
    go.set()
    for thread in workers:
        thread.join()
    stats.elapsed = time.perf_counter() - started
    stats.calls = len(stats.latencies)
    return stats


def fmt(value: float, digits: int = 2) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def print_table(headers: list[str], rows: list[list[str]], out: Any = None) -> None:
    """A plain-text table, numbers right-aligned."""
    out = out or sys.stdout
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        parts = []
        for index, (cell, width) in enumerate(zip(cells, widths, strict=True)):
            text = str(cell)
            numeric = (
                index > 0 and text.replace(",", "").replace(".", "").replace("-", "").isdigit()
            )
            parts.append(text.rjust(width) if numeric else text.ljust(width))
        return "  ".join(parts).rstrip()

    print(line(headers), file=out)
    print("  ".join("-" * width for width in widths), file=out)
    for row in rows:
        print(line(row), file=out)


def stats_row(stats: Stats | Summary, *, extra: list[str] | None = None) -> list[str]:
    return [
        stats.label,
        *(extra or []),
        stats.method,
        str(stats.threads),
        str(stats.calls),
        str(stats.errors),
        fmt(stats.calls / stats.elapsed if stats.elapsed > 0 else 0.0, 0),
        fmt(stats.percentile(50)),
        fmt(stats.percentile(99)),
    ]


STATS_HEADERS = ["path", "method", "conc", "calls", "errors", "calls/s", "p50 ms", "p99 ms"]


def machine_info() -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    return {
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "load_avg": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def print_machine(out: Any = None) -> None:
    info = machine_info()
    load = info["load_avg"]
    load_text = f", load avg {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}" if load else ""
    print(
        f"machine: {info['cores']} cores ({info['usable_cores']} usable), "
        f"Python {info['python']}, {info['platform']}{load_text}",
        file=out or sys.stdout,
    )


def redact_url(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
