"""What the benchmarks share: a driver that runs calls on N threads, figures, a table.

Nothing here imports eventlet, Nameko or the services, so that a bench module can
monkey-patch first (``bench._eventlet_part``) and then import this.
"""

from __future__ import annotations

import itertools
import math
import os
import platform
import statistics
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

# The paths of bench.rpc_roundtrip (here, so that its monkey-patched half shares them).
CLIENT = "RpcClient (OS threads)"
NAMEKO = "nameko ClusterRpcProxy (eventlet)"
GREEN_CLIENT = "RpcClient (eventlet)"
INPROC = "in-process (no RPC)"


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
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process group

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
    """Figures without raw latencies: received from another process (the fields of
    ``Stats.summary()``), or the aggregate of repeated runs (``aggregate``)."""

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
    cpu: dict[str, float] = field(default_factory=dict)
    rates: list[float] = field(default_factory=list)  # each run's rate, when aggregated

    def percentile(self, q: float) -> float:
        return {50: self.p50, 99: self.p99}[q]

    @classmethod
    def of(cls, stats: Stats | Summary) -> Summary:
        if isinstance(stats, Summary):
            return stats
        return cls(**stats.summary())


def aggregate(results: list[Stats | Summary]) -> list[Summary]:
    """One row per (path, method, concurrency) over repeated runs: the median of the
    runs' rates, p50s and p99s, and the runs' rates (to show the spread); calls, errors,
    elapsed time and CPU are summed. Rows keep the order of their first run."""
    groups: dict[tuple, list[Summary]] = {}
    for result in results:
        row = Summary.of(result)
        groups.setdefault((row.label, row.method, row.threads), []).append(row)
    rows = []
    for (label, method, threads), runs in groups.items():
        cpu: dict[str, float] = {}
        for run in runs:
            for name, used in run.cpu.items():
                cpu[name] = cpu.get(name, 0.0) + used
        rows.append(_median_row(label, method, threads, runs, cpu))
    return rows


def _median_row(
    label: str, method: str, threads: int, runs: list[Summary], cpu: dict[str, float]
) -> Summary:
    return Summary(
        label=label,
        method=method,
        threads=threads,
        calls=sum(run.calls for run in runs),
        errors=sum(run.errors for run in runs),
        elapsed=sum(run.elapsed for run in runs),
        rate=statistics.median(run.rate for run in runs),
        p50=statistics.median(run.p50 for run in runs),
        p99=statistics.median(run.p99 for run in runs),
        first_error=next((run.first_error for run in runs if run.first_error), None),
        cpu=cpu,
        rates=[run.rate for run in runs],
    )


def drive(
    factory: CallFactory,
    *,
    label: str,
    method: str,
    threads: int,
    calls: int | None = None,
    seconds: float | None = None,
    warmup: int = 10,
    cpu_probe: Callable[[], dict[str, float]] | None = None,
) -> Stats:
    """Run ``call()`` on ``threads`` threads until ``calls`` calls are done or ``seconds``
    have passed (whichever comes first; at least one bound is required).
    ``cpu_probe()`` (CPU seconds per process group) is read before and after the timed part.

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

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in workers:
        thread.start()
    with suppress(threading.BrokenBarrierError):
        ready.wait()
    cpu_before = cpu_probe() if cpu_probe else {}
    started = time.perf_counter()
    window["deadline"] = started + (seconds if seconds is not None else math.inf)
    go.set()
    for thread in workers:
        thread.join()
    stats.elapsed = time.perf_counter() - started
    if cpu_probe:
        stats.cpu = cpu_delta(cpu_before, cpu_probe())
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
        fmt(stats.rate, 0),
        spread(stats),
        fmt(stats.percentile(50)),
        fmt(stats.percentile(99)),
    ]


STATS_HEADERS = [
    "path", "method", "conc", "calls", "errors", "calls/s", "runs min-max", "p50 ms", "p99 ms",
]  # fmt: skip


def spread(stats: Stats | Summary) -> str:
    rates = getattr(stats, "rates", None)
    if not rates or len(rates) < 2:
        return "-"
    return f"{min(rates):,.0f}-{max(rates):,.0f}"


def cpu_cells(stats: Stats | Summary, groups: list[str]) -> list[str]:
    """CPU milliseconds per call of each process group ("-" when not measured)."""
    cells = []
    for group in groups:
        used = stats.cpu.get(group)
        cells.append(fmt(used / stats.calls * 1000) if used is not None and stats.calls else "-")
    return cells


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


# -- processes of a local stack (Linux /proc; best effort, command lines only) -----------


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode(errors="replace")
    except OSError:
        return None


def proc_cmdline(pid: int) -> str:
    return (_read(f"/proc/{pid}/cmdline") or "").replace("\0", " ").strip()


def proc_ppid(pid: int) -> int | None:
    stat = _read(f"/proc/{pid}/stat")
    return int(stat.rsplit(")", 1)[1].split()[1]) if stat else None


def proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (None if it is gone)."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def all_pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def ancestors(pid: int, depth: int = 4) -> list[int]:
    found = []
    while depth and (pid := proc_ppid(pid) or 0) > 1:
        found.append(pid)
        depth -= 1
    return found


def find_stack(port: int) -> dict[str, list[int]]:
    """The processes of the ``make run`` stack whose gateway listens on ``port``.

    Found from command lines only: the gunicorn master with ``:{port}`` in its command
    line and its workers; the services (``manage.py run``) started by the same honcho,
    or by the gateway's parent process when there is no honcho (``bench.all``);
    the RabbitMQ node listening on the port of $AMQP_URI (shared by every stack on this
    machine). Empty lists if not found.
    """
    pids = all_pids()
    cmdlines = {pid: proc_cmdline(pid) for pid in pids}
    gunicorns = {
        pid for pid, cmd in cmdlines.items() if "gunicorn" in cmd and f":{port} " in f"{cmd} "
    }
    masters = [pid for pid in gunicorns if proc_ppid(pid) not in gunicorns]
    stack: dict[str, list[int]] = {"gateway master": [], "gateway workers": [], "services": []}
    if len(masters) == 1:
        master = masters[0]
        stack["gateway master"] = [master]
        stack["gateway workers"] = sorted(p for p in gunicorns if proc_ppid(p) == master)
        # The services are the ``manage.py run`` processes started by the same honcho as
        # the gateway (``make run``), or else by the gateway's parent (``bench.all``).
        honchos = [p for p in ancestors(master) if "honcho" in cmdlines.get(p, "")]
        top = honchos[-1] if honchos else proc_ppid(master)
        if top and top > 1:
            stack["services"] = sorted(
                pid
                for pid, cmd in cmdlines.items()
                if "manage.py run" in cmd
                and not cmd.startswith("/bin/sh")
                and top in ancestors(pid)
            )
    nodes = [pid for pid, cmd in cmdlines.items() if is_rabbitmq_node(cmd)]
    stack["rabbitmq"] = broker_pids(nodes)
    return stack


def broker_pids(nodes: list[int], amqp_uri: str | None = None) -> list[int]:
    """Of the RabbitMQ nodes ``nodes``, the one(s) listening on the AMQP port of
    ``amqp_uri`` (default $AMQP_URI): other nodes on the machine (a test run's own broker)
    serve someone else. All of ``nodes`` when the sockets cannot be read."""
    uri = amqp_uri or os.environ.get("AMQP_URI", "amqp://guest:guest@localhost:5672/")
    try:
        port = urlsplit(uri).port or 5672
    except ValueError:
        return sorted(nodes)
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in (_read(table) or "").splitlines()[1:]:
            fields = line.split()  # sl, local address:port, remote, state (0A: LISTEN), ...
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(f"socket:[{fields[9]}]")
    listening = []
    for pid in nodes:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except PermissionError:  # another user's node: cannot tell which one serves us
            return sorted(nodes)
        except OSError:  # gone
            continue
        links = set()
        for fd in fds:
            with suppress(OSError):  # closed meanwhile
                links.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        if links & inodes:
            listening.append(pid)
    return sorted(listening) if inodes else sorted(nodes)


def rabbitmq_nodes() -> list[int]:
    return sorted(pid for pid in all_pids() if is_rabbitmq_node(proc_cmdline(pid)))


def is_rabbitmq_node(cmdline: str) -> bool:
    """The RabbitMQ node's Erlang VM; not the short-lived VMs of ``rabbitmqctl`` and the
    other command-line tools (their CPU would vanish with them between two readings)."""
    return "beam.smp" in cmdline and "-escript" not in cmdline


def machine_cpu() -> float | None:
    """CPU seconds the whole machine has been busy (every core), from /proc/stat."""
    stat = _read("/proc/stat")
    if not stat:
        return None
    # user nice system idle iowait irq softirq steal ...
    values = [int(v) for v in stat.splitlines()[0].split()[1:9]]
    busy = sum(values) - values[3] - values[4]
    return busy / os.sysconf("SC_CLK_TCK")


def cpu_seconds(stack: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each group of processes, by this process and by the
    whole machine (``machine``)."""
    used = {name: sum(proc_cpu(pid) or 0.0 for pid in group) for name, group in stack.items()}
    used["gateway"] = used.pop("gateway master", 0.0) + used.pop("gateway workers", 0.0)
    used["this bench"] = time.process_time()
    machine = machine_cpu()
    if machine is not None:
        used["machine"] = machine
    return used


def other_load(stats: Stats | Summary, groups: list[str]) -> str:
    """Cores kept busy during the run by everything but ``groups`` (other processes on
    the machine): a run with a high figure here was measured on a busy machine."""
    if "machine" not in stats.cpu or not stats.elapsed:
        return "-"
    others = stats.cpu["machine"] - sum(stats.cpu.get(group, 0.0) for group in groups)
    return fmt(max(others, 0.0) / stats.elapsed)


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}


# -- figures for bench.all ---------------------------------------------------------------
#
# Every bench module takes ``--figures PATH``: it then also writes its headline figures
# there as JSON, ``{"figures": [{"figure", "value", "unit"}], "notes": [...]}``, which
# ``bench.all`` gathers into one table. The printed output stays as it was.


def add_figures_argument(parser: Any) -> None:
    parser.add_argument(
        "--figures",
        metavar="PATH",
        help="also write the headline figures to PATH as JSON (used by bench.all)",
    )


def figure(name: str, value: float | None, unit: str) -> dict[str, Any]:
    return {
        "figure": name,
        "value": None if value is None or math.isnan(value) else value,
        "unit": unit,
    }


def stats_figures(
    stats: Stats | Summary,
    name: str,
    *,
    unit: str = "calls/s",
    p99: bool = True,
) -> list[dict[str, Any]]:
    """Rate, p50 (and p99) of one run, as figures named ``"{name} <what>"``."""
    figures = [
        figure(f"{name} {unit}", stats.rate, unit),
        figure(f"{name} p50", stats.percentile(50), "ms"),
    ]
    if p99:
        figures.append(figure(f"{name} p99", stats.percentile(99), "ms"))
    return figures


def cpu_figure(stats: Stats | Summary, group: str, name: str, per: str = "call") -> dict:
    used = stats.cpu.get(group)
    value = used / stats.calls * 1000 if used is not None and stats.calls else None
    return figure(name, value, f"CPU ms/{per}")


def error_notes(rows: list[Stats] | list[Summary] | list[Stats | Summary]) -> list[str]:
    return [
        f"{row.errors} errors in {row.label} {row.method} x{row.threads}: {row.first_error}"
        for row in rows
        if row.errors
    ]


def write_figures(path: str | None, figures: list[dict], notes: list[str] | None = None) -> None:
    if not path:
        return
    import json

    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"figures": figures, "notes": notes or []}, handle, ensure_ascii=False)


def si_count(n: int) -> str:
    """10000 -> "10k", 1000000 -> "1M" (labels of sizes in figure names)."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= size and n % size == 0:
            return f"{n // size}{suffix}"
    return f"{n:,}"


# -- load on the whole machine during a long run (bench.all) ----------------------------


def _proc_stat(pid: int) -> tuple[int, float, int] | None:
    """(parent pid, CPU seconds, start time in ticks) of ``pid``; None if it is gone."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks, int(fields[19])


class MachineLoad:
    """CPU seconds used on the machine since ``start()``, split into what this run used
    (this process and its descendants, e.g. a stack it started and the benches; processes
    given to ``adopt()`` and theirs; the PostgreSQL backends serving databases whose name
    contains ``db_marker``), the RabbitMQ node ``broker`` (shared; mostly this run's
    traffic while it runs) and everything else.

    Sampled from /proc every ``interval`` seconds by a background thread, and at every
    ``read()``: CPU of a process that starts and ends between two samples is counted as
    "other", which makes ``other`` an upper bound.
    """

    def __init__(
        self,
        db_marker: str | None = None,
        interval: float = 1.0,
        broker: list[int] | None = None,
    ) -> None:
        self.roots = {os.getpid()}
        self.broker = set(broker or ())
        self.db_marker = db_marker
        self.interval = interval
        self.totals = {"ours": 0.0, "rabbitmq": 0.0, "machine": 0.0}
        self._seen: dict[tuple[int, int], float] = {}  # (pid, start ticks) -> CPU seconds
        self._kinds: dict[tuple[int, int], str] = {}
        self._machine: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> MachineLoad:
        self._sample(first=True)
        self._thread = threading.Thread(target=self._loop, daemon=True, name="machine-load")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def adopt(self, pids: list[int]) -> None:
        """Count these processes and their descendants as this run's (a stack it uses)."""
        with self._lock:
            self.roots.update(pids)
            self._kinds.clear()

    def read(self) -> dict[str, float]:
        """The totals so far (CPU seconds): ``ours``, ``rabbitmq``, ``machine``, ``other``."""
        self._sample()
        with self._lock:
            totals = dict(self.totals)
        totals["other"] = max(0.0, totals["machine"] - totals["ours"] - totals["rabbitmq"])
        return totals

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _kind(self, pid: int, key: tuple[int, int], parents: dict[int, int]) -> str:
        kind = self._kinds.get(key)
        if kind is None or kind == "postgres":  # a backend names its database once set up
            cmd = proc_cmdline(pid)
            if pid in self.broker:
                kind = "rabbitmq"
            elif cmd.startswith("postgres:"):
                kind = "ours" if self.db_marker and self.db_marker in cmd else "postgres"
            else:
                kind = "other"
                hops, current = 0, pid
                while current > 1 and hops < 64:
                    if current in self.roots:
                        kind = "ours"
                        break
                    current, hops = parents.get(current, 0), hops + 1
            self._kinds[key] = kind
        return kind

    def _sample(self, first: bool = False) -> None:
        with self._lock:
            stats = {pid: stat for pid in all_pids() if (stat := _proc_stat(pid))}
            parents = {pid: stat[0] for pid, stat in stats.items()}
            seen: dict[tuple[int, int], float] = {}
            for pid, (_, cpu, started) in stats.items():
                key = (pid, started)
                seen[key] = cpu
                if first:
                    continue
                used = cpu - self._seen.get(key, 0.0)  # a new process: all of its CPU
                if used > 0:
                    kind = self._kind(pid, key, parents)
                    if kind in self.totals:
                        self.totals[kind] += used
            self._seen = seen
            self._kinds = {key: kind for key, kind in self._kinds.items() if key in seen}
            machine = machine_cpu()
            if machine is not None:
                if self._machine is not None and not first:
                    self.totals["machine"] += machine - self._machine
                self._machine = machine
