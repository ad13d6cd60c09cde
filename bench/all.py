"""Every benchmark in one run, written as one markdown table.

    python -m bench.all [--quick | --full] [--out FILE] [--url URL] [--db sqlite|postgresql]
                        [--only NAME,...] [--compare OLD.md [NEW.md]]

By default it starts a stack of its own (``bench._stack``: its own RabbitMQ vhost, state
directory, port and SQLite files, or PostgreSQL databases with ``--db postgresql``),
runs every benchmark module against it as a subprocess, and stops it and removes what it
made afterwards, also on failure or Ctrl-C. ``--url URL`` (or ``$PRM_URL``) uses a running
stack instead; this shell then needs that stack's environment (see bench/README.md).
Beside the stack it starts the bare ceiling (``bench.ceiling``), installs wrk when missing
(``bench._wrk.ensure_wrk``), and gives the ceiling's URL to the modules
(``$PRM_BENCH_CEILING_URL``): their HTTP figures come with their share of it.

Sizes: the default run takes 5 to 10 minutes on a shared 2-core machine, ``--quick``
about 2, ``--full`` (the sizes bench/README.md quotes) 20 to 30. The file
(``var/bench/<UTC timestamp>.md`` by default) has a header (date, commit, machine,
versions, the load of other processes during the run), one table with one row per
figure (value, unit, share of the ceiling, goal), and the commands run; each benchmark's
own output goes to a log directory next to it. Files of the same size option have the
same rows in the same order: ``--compare OLD.md`` prints a finished run next to an older
one, with ratios, and ``--compare OLD.md NEW.md`` compares two files without running
anything; both show the two runs' shares of their ceilings side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import runpy
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench._common import (
    MachineLoad,
    broker_pids,
    find_stack,
    print_table,
    rabbitmq_nodes,
    redact_url,
)
from bench._stack import AMQP_BASE, OwnStack, drop_databases
from bench._wrk import ensure_wrk, wrk_version
from bench.ceiling import ENV_URL as CEILING_ENV
from bench.ceiling import Ceiling

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_AMQP = "amqp://guest:guest@localhost:5672/"
PG_ADMIN_DSN = os.environ.get(
    "PRM_BENCH_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)


@dataclass(frozen=True)
class Bench:
    module: str
    stack: bool  # runs against the stack; otherwise it makes scratch databases of its own
    args: dict[str, tuple[str, ...]]  # size -> arguments


PLAN = [
    Bench("rpc_roundtrip", True, {
        "quick": ("--calls", "100", "--repeat", "1"),
        "default": ("--calls", "500", "--repeat", "2"),
        "full": ("--calls", "1000", "--repeat", "3"),
    }),
    Bench("gateway_load", True, {
        "quick": ("--seconds", "2", "--warmup", "1"),
        "default": ("--seconds", "10"),
        "full": ("--seconds", "10", "--repeat", "3"),
    }),
    Bench("end_to_end", True, {
        "quick": ("--calls", "100", "--repeat", "1"),
        "default": ("--calls", "500", "--repeat", "2"),
        "full": ("--calls", "1000", "--repeat", "3"),
    }),
    Bench("orders_gateway", True, {
        "quick": ("--seconds", "2", "--warmup", "1", "--customers", "3"),
        "default": ("--seconds", "10"),
        "full": ("--seconds", "10"),
    }),
    Bench("commission_lag", True, {
        "quick": ("--seconds", "2"),
        "default": ("--seconds", "5"),
        "full": ("--seconds", "10"),
    }),
    Bench("leads_import", True, {
        "quick": ("--rows", "500"),
        "default": ("--rows", "5000"),
        "full": ("--rows", "10000"),
    }),
    # Starts its own stacks, one on SQLite files and one on PostgreSQL, whatever --db says.
    Bench("mixed_load", False, {
        "quick": ("--seconds", "10"),
        "default": ("--seconds", "30"),
        "full": ("--seconds", "60"),
    }),
    Bench("filing_conflict_check", False, {
        "quick": ("--sizes", "10000", "--queries", "300"),
        "default": ("--sizes", "10000,100000", "--queries", "1000"),
        "full": ("--sizes", "10000,1000000", "--queries", "2000"),
    }),
    Bench("orders_report", False, {
        "quick": ("--sizes", "10000", "--runs", "3"),
        "default": ("--sizes", "100000", "--runs", "5"),
        "full": ("--sizes", "100000,1000000", "--runs", "7"),
    }),
    Bench("worst_inputs", False, {
        "quick": ("--runs", "50"),
        "default": ("--runs", "200"),
        "full": ("--runs", "1000"),
    }),
]  # fmt: skip
NAMES = [bench.module for bench in PLAN]
#: The modules that give their figures as shares of the bare ceiling (bench.ceiling).
CEILING_USERS = {"gateway_load", "orders_gateway"}


class Stop(KeyboardInterrupt):
    """SIGTERM or SIGHUP: stop and clean up as on Ctrl-C."""


@dataclass
class Result:
    bench: Bench
    command: list[str]
    seconds: float = 0.0
    returncode: int | None = None
    figures: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    other_load: float | None = None  # cores busy with other processes during the bench


# -- header facts ------------------------------------------------------------------------


def _run(args: list[str]) -> str:
    try:
        result = subprocess.run(
            args, cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def git_state() -> str:
    commit = _run(["git", "rev-parse", "--short", "HEAD"]) or "unknown"
    status = _run(["git", "--no-optional-locks", "status", "--porcelain"])
    changed = [line for line in status.splitlines() if line]
    return f"{commit} (dirty: {len(changed)} files changed)" if changed else f"{commit} (clean)"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def postgres_version() -> str:
    try:
        import psycopg2

        connection = psycopg2.connect(PG_ADMIN_DSN, connect_timeout=5)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SHOW server_version")
                return f"PostgreSQL {cursor.fetchone()[0].split()[0]}"
        finally:
            connection.close()
    except Exception as exc:
        return f"PostgreSQL not reached ({type(exc).__name__})"


def rabbitmq_version(amqp_uri: str) -> str:
    try:
        from kombu import Connection

        from services.common.config import amqp_ssl

        with Connection(amqp_uri, connect_timeout=5, ssl=amqp_ssl(amqp_uri)) as connection:
            connection.ensure_connection(max_retries=1)
            properties = connection.connection.server_properties
            return f"{properties.get('product', 'broker')} {properties.get('version', '?')}"
    except Exception as exc:
        return f"broker not reached ({type(exc).__name__})"


def gateway_settings(env: dict[str, str]) -> str:
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        conf = runpy.run_path(str(ROOT / "gateway" / "gunicorn.conf.py"))
    except Exception as exc:
        return f"gateway/gunicorn.conf.py not read ({type(exc).__name__})"
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return (
        f"gunicorn {conf.get('worker_class')}, {conf.get('workers')} workers x "
        f"{conf.get('threads')} threads, access log {'on' if conf.get('accesslog') else 'off'}"
    )


def stack_databases(env: dict[str, str]) -> str:
    url = env.get("PARTNERS_DATABASE_URL")
    if url:
        scheme = urlsplit(url).scheme.split("+")[0]
        name = "PostgreSQL" if scheme.startswith("postgres") else scheme
        return f"{name} ({redact_url(url)} and the like)"
    return f"SQLite {sqlite3.sqlite_version} files under {env.get('PRM_VAR_DIR', 'var')}"


# -- the run -----------------------------------------------------------------------------


def duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def run_bench(
    bench: Bench, size: str, env: dict[str, str], log_dir: Path, load: MachineLoad
) -> Result:
    figures_path = log_dir / f"{bench.module}.json"
    figures_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", f"bench.{bench.module}", *bench.args[size]]
    result = Result(bench, command)
    before, started = load.read(), time.perf_counter()
    with open(log_dir / f"{bench.module}.log", "wb") as log:
        log.write(f"$ python {' '.join(command[1:])}\n".encode())
        log.flush()
        process = subprocess.Popen(
            [*command, "--figures", str(figures_path)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            result.returncode = process.wait()
        except KeyboardInterrupt as exc:
            stop_bench(process, reached=not isinstance(exc, Stop))
            raise
    result.seconds = time.perf_counter() - started
    after = load.read()
    result.other_load = (after["other"] - before["other"]) / result.seconds
    if figures_path.exists():
        data = json.loads(figures_path.read_text(encoding="utf-8"))
        result.figures, result.notes = data["figures"], data["notes"]
    return result


def stop_bench(process: subprocess.Popen, reached: bool) -> None:
    """Stop a running bench, giving it time to drop its scratch database. Ctrl-C in a
    terminal reached it too (``reached``): a second SIGINT would cut its clean-up short,
    so it only gets one if it is still running a few seconds later."""
    if reached:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def fmt_value(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, int):  # a count
        return f"{value:,}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def fmt_load(cores: float | None) -> str:
    return "-" if cores is None or math.isnan(cores) else f"{cores:.2f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def fmt_share(share: float | None) -> str:
    """A share of the ceiling; blank for a figure that has none (a latency, a CPU cost)."""
    return "" if share is None or math.isnan(share) else f"{share:.0f} %"


def markdown(
    results: list[Result], header: list[str], commands: list[str], notes: list[str]
) -> str:
    lines = [
        *header,
        "",
        "| benchmark | figure | value | unit | share of the ceiling | goal |",
        "|---|---|--:|---|--:|---|",
    ]
    for result in results:
        for item in result.figures:
            lines.append(
                f"| {result.bench.module} | {_cell(item['figure'])} | "
                f"{fmt_value(item['value'])} | {_cell(item['unit'])} | "
                f"{fmt_share(item.get('share'))} | {_cell(item.get('goal') or '')} |"
            )
    lines += ["", "Commands:", "", "```sh", *commands, "```"]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


# -- comparing two files -----------------------------------------------------------------

#: A pipe that separates two cells (not one escaped inside a cell).
CELL_PIPE = re.compile(r"(?<!\\)\|")


@dataclass
class Row:
    value: float | None
    unit: str
    share: float | None = None  # per cent of the ceiling measured in the same run
    goal: str = ""


def _cells(line: str) -> list[str] | None:
    """The cells of a markdown table row (escaped pipes read as ``|``), or None."""
    line = line.strip()
    if len(line) < 2 or not (line.startswith("|") and line.endswith("|")):
        return None
    return [cell.strip().replace("\\|", "|") for cell in CELL_PIPE.split(line[1:-1])]


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", "").replace("%", "").strip())
    except ValueError:
        return None  # "-": not measured


def read_table(path: Path) -> dict[tuple[str, str], Row]:
    """(benchmark, figure) -> Row of a file's table, in the file's order; files written
    before the share and goal columns existed read with none."""
    rows: dict[tuple[str, str], Row] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = _cells(line)
        if not cells or len(cells) < 4 or cells[0] == "benchmark" or cells[0].startswith("---"):
            continue
        share = _number(cells[4]) if len(cells) > 4 else None
        goal = cells[5] if len(cells) > 5 else ""
        rows[(cells[0], cells[1])] = Row(_number(cells[2]), cells[3], share, goal)
    return rows


def header_facts(path: Path) -> str:
    """The date, commit, ceiling and other load a file's header gives."""
    text = path.read_text(encoding="utf-8")
    date = re.search(r"^# Benchmarks, (.+)$", text, re.MULTILINE)
    commit = re.search(r"^- commit: (.+)$", text, re.MULTILINE)
    load = re.search(r"^- other load: ([\d.]+) cores", text, re.MULTILINE)
    return ", ".join(
        [
            date[1] if date else "no date",
            f"commit {commit[1]}" if commit else "no commit",
            f"other load {load[1]} cores" if load else "other load unknown",
        ]
    )


def lower_is_better(unit: str) -> bool:
    return not unit.endswith("/s")


def compare(old_path: Path, new_path: Path) -> None:
    """Both files' rows side by side: values, new/old, and the shares of the ceiling each
    run measured (the ceiling rows first in each module), with the goals."""
    old, new = read_table(old_path), read_table(new_path)
    keys = list(new) + [key for key in old if key not in new]
    table = []
    for key in keys:
        before = old.get(key, Row(None, ""))
        after = new.get(key, Row(None, before.unit))
        unit = after.unit or before.unit
        ratio, verdict = "-", ""
        if before.value and after.value is not None:
            change = after.value / before.value
            ratio = f"{change:.2f}"
            if abs(change - 1) >= 0.1:
                better = change < 1 if lower_is_better(unit) else change > 1
                verdict = "better" if better else "worse"
        shares = before.share is not None or after.share is not None
        table.append(
            [key[0], key[1], fmt_value(before.value), fmt_value(after.value), unit, ratio,
             verdict, fmt_share(before.share) if shares else "", fmt_share(after.share)
             if shares else "", after.goal or before.goal]
        )  # fmt: skip
    for label, path in (("old", old_path), ("new", new_path)):
        print(f"{label}: {path} ({header_facts(path)})")
    print()
    print_table(
        ["benchmark", "figure", "old", "new", "unit", "new/old", "", "old share", "new share",
         "goal"],
        table,
    )  # fmt: skip
    print(
        "\n(better/worse: a change of 10 % or more; figures from a busy machine vary more;"
        " share: of the bare ceiling measured in the same run, which compares across runs"
        " better than the raw figures)"
    )


# -- main --------------------------------------------------------------------------------


def say(text: str) -> None:
    """Print, unless the output is gone (a pipe closed by its reader)."""
    with contextlib.suppress(OSError):
        print(text, flush=True)


def _raise_stop(signum: int, frame: Any) -> None:
    raise Stop(signal.Signals(signum).name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="small sizes, about 2 minutes")
    group.add_argument("--full", action="store_true", help="the sizes bench/README.md quotes")
    parser.add_argument("--out", type=Path, help="the markdown file (var/bench/<UTC time>.md)")
    parser.add_argument(
        "--url",
        default=os.environ.get("PRM_URL"),
        help="use the running stack at URL ($PRM_URL) instead of starting one",
    )
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the own stack's databases: SQLite files as `make run` (default), or PostgreSQL",
    )
    parser.add_argument("--only", help=f"some of: {','.join(NAMES)}")
    parser.add_argument(
        "--compare",
        nargs="+",
        metavar="FILE",
        help="OLD.md: compare this run with it; OLD.md NEW.md: compare two files, run nothing",
    )
    args = parser.parse_args()
    if args.compare and len(args.compare) > 2:
        parser.error("--compare takes OLD.md or OLD.md NEW.md")
    if args.compare and len(args.compare) == 2:
        with contextlib.suppress(BrokenPipeError):  # piped into head
            compare(Path(args.compare[0]), Path(args.compare[1]))
        return 0
    size = "quick" if args.quick else "full" if args.full else "default"
    plan = PLAN
    if args.only:
        wanted = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = set(wanted) - set(NAMES)
        if unknown:
            parser.error(f"--only: unknown {', '.join(sorted(unknown))}; known: {NAMES}")
        plan = [bench for bench in PLAN if bench.module in wanted]

    started_at = datetime.now(UTC)
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    out = args.out or ROOT / "var" / "bench" / f"{stamp}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    log_dir = out.with_name(f"{out.stem}.logs")
    log_dir.mkdir(parents=True, exist_ok=True)
    run_id = secrets.token_hex(4)
    commit = git_state()  # at the start: the work tree may change while the run goes on
    db_prefix = f"prm_bench_{run_id}_"
    own_stack = not args.url and any(bench.stack for bench in plan)
    print(f"bench.all: {size} sizes -> {out} (logs in {log_dir})", flush=True)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_stop)
    broker = AMQP_BASE if own_stack else os.environ.get("AMQP_URI", DEFAULT_AMQP)
    load = MachineLoad(db_marker=db_prefix, broker=broker_pids(rabbitmq_nodes(), broker)).start()
    load_start = os.getloadavg()
    begin = time.perf_counter()
    results: list[Result] = []
    notes: list[str] = []
    stack = None
    ceiling: Ceiling | None = None
    stack_text = "-"
    ceiling_text = "-"
    versions: list[str] = []
    gateway = "-"
    load_total = {"other": math.nan}
    env = dict(os.environ) | {"PRM_BENCH_DB_PREFIX": db_prefix, "PYTHONUNBUFFERED": "1"}
    interrupted = None
    try:
        if own_stack:
            stack = OwnStack(run_id, log_dir / "stack", database=args.db)
            print("starting a stack of this run's own ...", end=" ", flush=True)
            stack_started = time.perf_counter()
            try:
                stack.start()
            finally:
                stack_text = stack.describe()
            print(f"ready in {duration(time.perf_counter() - stack_started)}", flush=True)
            env |= stack.env | {"PRM_BENCH_DB_PREFIX": db_prefix}
            broker = stack.env["AMQP_URI"]
        elif args.url:
            url = args.url.rstrip("/")
            port = urlsplit(url).port or 80
            env |= {"PRM_URL": url, "PORT": str(port)}
            found = find_stack(port)
            pids = found["gateway master"] + found["services"]
            load.adopt(pids)
            stack_text = f"existing stack at {url}, with this shell's environment; " + (
                f"its gateway and services ({len(pids)} processes) count as this run's CPU"
                if found["services"]
                else "its processes were not found: their CPU counts as other load"
            )
        else:
            stack_text = "none (no benchmark of this run needs one)"
        if any(bench.module in CEILING_USERS for bench in plan) and (own_stack or args.url):
            wrk = ensure_wrk()
            print(f"load generator: {wrk or 'wrk not available: the Python driver'}", flush=True)
            ceiling = Ceiling(log_dir / "ceiling", run_id)
            print("starting the bare ceiling ...", end=" ", flush=True)
            env[CEILING_ENV] = ceiling.start()
            print(env[CEILING_ENV], flush=True)
            ceiling_text = (
                f"{env[CEILING_ENV]}: gunicorn with gateway/gunicorn.conf.py + a minimal Flask app"
                " + gateway.rpc.RpcClient + a Nameko service that returns its argument"
                f" (bench.ceiling; RabbitMQ vhost `{ceiling.vhost}`); load generator: "
                + (wrk_version(wrk) if wrk else "the Python driver (wrk could not be had)")
                + ", 8 connections"
            )  # fmt: skip
        uses_stack = any(bench.stack for bench in plan)
        versions = [f"Python {platform.python_version()}"]
        if uses_stack:
            versions.append(f"stack databases: {stack_databases(env)}")
        if not all(bench.stack for bench in plan) or env.get("PARTNERS_DATABASE_URL"):
            versions.append(postgres_version())
        if uses_stack:
            versions.append(rabbitmq_version(broker))
            gateway = gateway_settings(env)
        for index, bench in enumerate(plan, 1):
            if stack is not None and not bench.stack and stack.processes:
                print("stopping the stack (the rest make their own databases) ...", flush=True)
                for removed in stack.stop() + (ceiling.stop() if ceiling else []):
                    print(f"  removed {removed}", flush=True)
            line = " ".join(bench.args[size])
            print(f"[{index}/{len(plan)}] {bench.module} {line} ...", end=" ", flush=True)
            result = run_bench(bench, size, env, log_dir, load)
            results.append(result)
            if result.returncode == 0:
                print(f"{duration(result.seconds)}, {len(result.figures)} figures", flush=True)
            else:
                print(f"FAILED (exit {result.returncode}), see its log", flush=True)
                notes.append(
                    f"{bench.module} failed (exit {result.returncode}): "
                    f"see {log_dir / (bench.module + '.log')}"
                )
            notes += [f"{bench.module}: {note}" for note in result.notes]
    except KeyboardInterrupt as exc:
        interrupted = type(exc).__name__ if not str(exc) else str(exc)
        notes.append(f"interrupted ({interrupted}): the table is incomplete")
        print(f"\ninterrupted ({interrupted})", flush=True)
    except Exception as exc:
        interrupted = f"{type(exc).__name__}: {exc}"
        notes.append(f"stopped by an error: {interrupted}")
        print(f"\nerror: {interrupted}", file=sys.stderr, flush=True)
    finally:
        # Clean up whatever happens, without being cut short by another Ctrl-C or SIGTERM.
        previous = {
            signum: signal.signal(signum, signal.SIG_IGN)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            # Removed first, said afterwards: an output that is gone (a closed pipe) must
            # not cut the clean-up short.
            if ceiling is not None and (ceiling.processes or ceiling.vhost_made):
                for removed in ceiling.stop():
                    say(f"  removed {removed}")
            if stack is not None and (stack.processes or stack.state_dir):
                say("stopping the stack, removing its vhost, databases, state ...")
                for removed in stack.stop():
                    say(f"  removed {removed}")
            with contextlib.suppress(Exception):
                for name in drop_databases(db_prefix):
                    say(f"  dropped leftover database {name}")
            # The modules run after the stack stopped still had its PRM_VAR_DIR: they may
            # have made it again (generated keys).
            state = Path(env.get("PRM_VAR_DIR", "")).parent
            if own_stack and state.name.startswith(f"prm-bench-{run_id}-"):
                shutil.rmtree(state, ignore_errors=True)
        except Exception as exc:
            notes.append(f"clean-up incomplete: {type(exc).__name__}: {exc}")
            say(f"clean-up incomplete: {exc}")
        finally:
            load_total = load.read()
            load.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    elapsed = time.perf_counter() - begin
    load_end = os.getloadavg()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    options = " ".join(sys.argv[1:])
    others = load_total["other"] / elapsed if elapsed else math.nan
    header = [
        f"# Benchmarks, {started_at:%Y-%m-%d %H:%M} UTC",
        "",
        f"- run: `python -m bench.all{' ' + options if options else ''}` ({size} sizes), "
        f"{duration(elapsed)}{', INCOMPLETE' if interrupted else ''}",
        f"- commit: {commit}",
        f"- machine: {os.cpu_count()} cores (`nproc` {usable}), {cpu_model()}, "
        f"{platform.platform(terse=True)}",
        f"- versions: {'; '.join(versions) or '-'}",
        f"- stack: {stack_text}",
        f"- gateway: {gateway}",
        f"- ceiling: {ceiling_text}",
        f"- other load: {others:.2f} cores busy on average with processes outside this run "
        f"(RabbitMQ excluded); load average {load_start[0]:.2f} at the start, "
        f"{load_end[0]:.2f} at the end",
        "- per benchmark (time, other load in cores): "
        + (
            ", ".join(
                f"{r.bench.module} {duration(r.seconds)} {fmt_load(r.other_load)}" for r in results
            )
            or "-"
        ),
        f"- logs: {log_dir}",
    ]
    commands = ["python -m bench.all" + (f" {options}" if options else "")]
    if own_stack:
        commands.append(
            "# each with the own stack's environment (AMQP_URI, PRM_VAR_DIR, PORT, PRM_URL, ...):"
        )
    commands += [" ".join(["python", *r.command[1:]]) for r in results]
    text = markdown(results, header, commands, notes)
    out.write_text(text, encoding="utf-8")
    print()
    print(text)
    print(f"wrote {out}")
    if args.compare:
        print()
        compare(Path(args.compare[0]), out)
    if interrupted:
        return 130
    return 0 if all(r.returncode == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
