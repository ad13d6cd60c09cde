"""The costliest inputs under the caps of the text rules every tenant's requests go through:
customer-name keys (查重) and the address resolver. p50 and max per shape.

    python -m bench.worst_inputs [--runs 200] [--budget 1.0]

Pure functions timed in this process, no stack: ``services.filing.keys.customer_keys``
(names up to 200 characters, the cap of a customer's name) and
``services.partners.regions.RegionDictionary.resolve`` (addresses up to
``ADDRESS_RESOLVE_MAX``, 200; the API refuses a longer one with 422). Each function
runs a few shapes that once cost, or could cost, more than linear time:

- names: ``"杭州" + " co ltd" * k + "x"`` (nested quantifiers backtrack on it), long runs
  of spaces, commas and dots, company suffixes over and over, and mixes of them, CJK
  radicals, and code points NFKC makes 18 letters of (U+FDFA): a name longer than
  ``NAME_NFKC_MAX_LENGTH`` under NFKC is refused (``unfit_name``) before its keys are
  computed, as the API does, so the longest such name that gets keys has 22 of them;
- addresses: a name both a province and its city before one of its districts
  (``吉林船营`` repeated), the reported ``浙江杭州西湖`` repeated, ``浙江`` before each of
  its regions' names, names shared by many regions (``鼓楼``, ``朝阳``, ``市中``, ...),
  streets named after regions, and text naming none.

A shape grows to the cap step by step; if one call takes longer than ``--budget``
seconds it stops there and the row says so, so that a regression shows as a row rather
than as a run that never ends. The reported 438-character address is timed too: the
API refuses it, and ``resolve`` reads only its first 200 characters.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

from bench._common import add_figures_argument, figure, fmt, print_table, write_figures
from services.common.regions import ADDRESS_RESOLVE_MAX
from services.filing.keys import customer_keys, unfit_name
from services.partners.regions import load_regions, short_name

NAME_MAX = 200  # services.filing.schemas: a customer's name
REPORTED_ADDRESS = "浙江杭州西湖" * 73


def _fill(head: str, unit: str, tail: str, size: int) -> str:
    """``head``, ``unit`` repeated, ``tail``: ``size`` characters at most."""
    room = max(0, size - len(head) - len(tail))
    return head + (unit * (room // len(unit) + 1))[:room] + tail


def name_shapes() -> dict[str, Callable[[int], str]]:
    return {
        '"杭州" + " co ltd"*k + "x"': lambda n: _fill("杭州", " co ltd", "x", n),
        "spaces": lambda n: _fill("杭州", " ", "x", n),
        "commas": lambda n: _fill("杭州", ",", "x", n),
        "dots": lambda n: _fill("杭州", ".", "x", n),
        "mixed separators": lambda n: _fill("杭州", " ,. \t,", "x", n),
        '" co., ltd." repeated': lambda n: _fill("杭州", " co., ltd.", "x", n),
        "有限公司 repeated": lambda n: _fill("杭州", "有限公司", "", n),
        "(有限公司) repeated": lambda n: _fill("杭州", "（有限公司）", "x", n),
        "CJK radicals (U+2EC4 ⻄) repeated": lambda n: _fill("杭州", "\u2ec4", "", n),
        "U+FDFA repeated (API: 422)": lambda n: _fill("", "\ufdfa", "", n),
        "U+FDFA x22 (396 under NFKC)": lambda n: ("\ufdfa" * 22 + "贸易")[:n],
    }


def address_shapes() -> dict[str, Callable[[int], str]]:
    regions = load_regions()
    zhejiang = "".join(
        f"浙江{short_name(r.name, r.level) or r.name}"
        for r in regions
        if r.code.startswith("33") and r.level != "province"
    )
    shared = "鼓楼朝阳市中铁西兴安和田临夏城区和平新华西安郊区海南"
    return {
        "吉林船营 repeated": lambda n: _fill("", "吉林船营", "", n),
        "浙江杭州西湖 repeated": lambda n: _fill("", "浙江杭州西湖", "", n),
        "浙江 before each of its regions": lambda n: zhejiang[:n],
        "names shared by many regions": lambda n: _fill("", shared, "", n),
        "streets named after regions": lambda n: _fill("", "中山路南京东路新华街", "", n),
        "no region named": lambda n: _fill("", "文", "", n),
    }


def time_shape(
    call: Callable[[str], object], shape: Callable[[int], str], cap: int, runs: int, budget: float
) -> tuple[int, list[float], bool]:
    """(characters reached, latencies in ms at that size, stopped by the budget)."""
    size = 16
    while True:
        text = shape(size)
        started = time.perf_counter()
        call(text)
        if time.perf_counter() - started > budget:
            return len(text), [(time.perf_counter() - started) * 1000], True
        if size >= cap:
            break
        size = min(cap, size * 2)
    latencies = []
    for _ in range(runs):
        started = time.perf_counter()
        call(text)
        latencies.append((time.perf_counter() - started) * 1000)
    return len(text), latencies, False


def measure(
    label: str,
    call: Callable[[str], object],
    shapes: dict[str, Callable[[int], str]],
    cap: int,
    runs: int,
    budget: float,
    rows: list[list[str]],
) -> tuple[str, float, float]:
    """Rows for every shape; (the worst shape, its p50, its max)."""
    worst = ("", 0.0, 0.0)
    for name, shape in shapes.items():
        chars, latencies, stopped = time_shape(call, shape, cap, runs, budget)
        p50, top = statistics.median(latencies), max(latencies)
        note = f"stopped: one call over {budget:g} s" if stopped else ""
        rows.append([label, name, str(chars), str(len(latencies)), fmt(p50, 3), fmt(top, 3), note])
        if p50 > worst[1]:  # a stopped shape's one call exceeds any full one
            worst = (name, p50, top)
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="calls per shape at the cap")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds one call may take")
    add_figures_argument(parser)
    args = parser.parse_args(argv)

    # Warm-up: the keys' folding tables and the region dictionary are built on first use.
    customer_keys("杭州西湖科技有限公司", None, None)
    regions = load_regions()
    regions.resolve("浙江省杭州市西湖区")

    def keys(name: str) -> object:
        return unfit_name(name) or customer_keys(name, None, None)

    rows: list[list[str]] = []
    name, name_p50, name_max = measure(
        "customer_keys", keys, name_shapes(), NAME_MAX, args.runs, args.budget, rows
    )
    address, address_p50, address_max = measure(
        "resolve", regions.resolve, address_shapes(), ADDRESS_RESOLVE_MAX, args.runs,
        args.budget, rows,
    )  # fmt: skip
    reported = []
    for _ in range(args.runs):
        started = time.perf_counter()
        regions.resolve(REPORTED_ADDRESS)
        reported.append((time.perf_counter() - started) * 1000)
    rows.append(
        [
            "resolve",
            "reported 浙江杭州西湖*73 (API: 422)",
            str(len(REPORTED_ADDRESS)),
            str(len(reported)),
            fmt(statistics.median(reported), 3),
            fmt(max(reported), 3),
            "reads the first 200",
        ]
    )
    print_table(["function", "shape", "chars", "calls", "p50 ms", "max ms", ""], rows)
    print(f"\nworst name: {name}; worst address: {address}")
    write_figures(
        args.figures,
        [
            figure("customer_keys, worst 200-char name p50", name_p50, "ms"),
            figure("customer_keys, worst 200-char name max", name_max, "ms"),
            figure("resolve, worst 200-char address p50", address_p50, "ms"),
            figure("resolve, worst 200-char address max", address_max, "ms"),
            figure("resolve, reported 438-char address p50", statistics.median(reported), "ms"),
        ],
        [f"worst name: {name}", f"worst address: {address}"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
