"""The console in a real browser (Playwright driving the system Chromium), against the
stack of the e2e tier: this run's vhost and databases, every service and the gateway,
which serves the built console at ``/`` (``console/dist``, built by ``make install``;
``PRM_CONSOLE_DIR`` points it elsewhere).

Each scenario runs in a process of its own (``tests/browser/driver.py``) and answers
JSON; a failure names its screenshot and the page's console errors. The data a scenario
needs is made over HTTP here, in the test process, with the helpers of ``tests/support``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.browser import chromium_or_skip
from tests.support.stack import ROOT, Stack

#: How long one scenario may take, browser start to close.
SCENARIO_TIMEOUT = 240


@pytest.fixture(scope="session", autouse=True)
def _infra(run_infra: object) -> None:
    """Every browser test runs against this run's broker vhost and databases."""


@pytest.fixture(scope="session")
def chromium() -> str:
    return chromium_or_skip()


@pytest.fixture(scope="session")
def console_url(stack: Stack, chromium: str) -> str:
    """The stack's URL once its gateway serves the built console (skipped, or failed in
    CI, when the console is not built)."""
    answer = requests.get(f"{stack.url}/", timeout=10)
    if answer.status_code != 200 or 'id="app"' not in answer.text:
        problem = "the web console is not built (make console)"
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    return stack.url


Scenario = Callable[..., Any]


@pytest.fixture
def browse(console_url: str, chromium: str, tmp_path: Path) -> Scenario:
    """``browse(scenario, **args)``: the result of ``scenario`` (tests/browser/scenarios.py),
    run in a fresh interpreter; fails the test with the scenario's error, its screenshot
    and the page's console errors. Uncaught exceptions in the page fail it too."""

    def run(scenario: str, /, allow_page_errors: bool = False, **args: Any) -> Any:
        args |= {"base_url": console_url, "chromium": chromium}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.support.browser_driver",
                scenario,
                json.dumps(args),
                str(tmp_path),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=SCENARIO_TIMEOUT,
            check=False,
        )
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            pytest.fail(
                f"scenario {scenario} did not finish ({done.returncode}): {done.stderr[-3000:]}"
            )
        outcome = json.loads(lines[-1])

        def listed(key: str) -> str:
            return json.dumps(outcome[key], ensure_ascii=False, indent=1)

        report = (
            f"\nscreenshot: {outcome.get('screenshot')}\nat: {outcome.get('url')}"
            f"\nconsole errors: {listed('console_errors')}\npage errors: {listed('page_errors')}"
        )
        if not outcome["ok"]:
            pytest.fail(f"scenario {scenario} failed:\n{outcome['error']}{report}", pytrace=False)
        assert outcome["outside"] == [], (
            f"the console asked beyond this machine: {outcome['outside']}"
        )
        if not allow_page_errors:
            assert outcome["page_errors"] == [], f"uncaught errors in the page{report}"
        return outcome["result"]

    return run
