"""``/docs`` renders its operations in a real browser with the network cut off: every file
the page needs comes from the gateway, so it works on a machine without internet or
behind a firewall that lets nothing out.

The browser is the system Chromium (``apt-get install chromium``; ``.ci/run`` installs it)
driven by Playwright in a process of its own (the test process is monkey-patched by
eventlet, under which Playwright's event loop never starts). Nothing the browser does may
leave the machine: host names resolve to nothing, any proxied request goes to a port where
nothing listens, and the page's own requests are routed through a handler that lets only
``127.0.0.1`` through and records the rest.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests

from tests.support.browser import LOOPBACK, chromium_or_skip, offline_args
from tests.support.stack import ROOT, Stack

if TYPE_CHECKING:
    from playwright.sync_api import Page

#: Where the screenshot of the rendered page goes when a person wants to look at it.
SCREENSHOT_ENV = "PRM_DOCS_SCREENSHOT"
#: Swagger UI marks each operation's path with this class once the document is rendered.
OPERATION_PATH = ".opblock-summary-path"
OPERATION_SUMMARY = ".opblock-summary-description"
#: An operation the gateway answers by itself (401 without a token), sent from the page.
TRIED_PATH = "/api/v1/me"
#: Swagger UI lets long paths wrap after each slash with a zero-width space.
ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\ufeff"))


def render_docs(url: str, chromium: str, screenshot: Path) -> dict[str, list[str]]:
    """Open ``url`` offline. ``outside``: the URLs the page asked for beyond this machine;
    ``blocked``: what the page's Content-Security-Policy refused; ``title`` and ``texts``:
    the page's title and the operation paths and summaries Swagger UI rendered."""
    from playwright.sync_api import ConsoleMessage, Route, sync_playwright
    from playwright.sync_api import TimeoutError as RenderTimeout

    seen: dict[str, list[str]] = {"outside": [], "blocked": []}

    def only_this_machine(route: Route) -> None:
        if urlsplit(route.request.url).hostname == LOOPBACK:
            route.continue_()
        else:
            seen["outside"].append(route.request.url)
            route.abort("internetdisconnected")

    def policy_violations(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            seen["blocked"].append(message.text)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=offline_args())
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 2000})
            context.route("**/*", only_this_machine)
            page = context.new_page()
            page.on("console", policy_violations)
            page.goto(url, wait_until="load")
            # Nothing rendered in time: the test's assertions say what is missing.
            with contextlib.suppress(RenderTimeout):
                page.wait_for_selector(OPERATION_PATH, timeout=20_000)
            operations = page.locator(f"{OPERATION_PATH}, {OPERATION_SUMMARY}")
            seen["texts"] = [
                text.translate(ZERO_WIDTH).strip() for text in operations.all_inner_texts()
            ]
            seen["title"] = page.locator(".info .title").all_inner_texts()
            page.screenshot(path=str(screenshot))
            seen["tried"] = try_it_out(page, TRIED_PATH) if seen["texts"] else []
        finally:
            browser.close()
    return seen


def try_it_out(page: Page, path: str) -> list[str]:
    """Send ``GET path`` from the page ("Try it out", "Execute"): the status codes the page
    shows in its answer (what the policy lets the page itself ask of the gateway)."""
    from playwright.sync_api import TimeoutError as RenderTimeout

    operation = page.locator(".opblock-get", has=page.locator(f'[data-path="{path}"]'))
    operation.locator(".opblock-summary-control").click()
    operation.locator(".try-out__btn").click()
    operation.locator(".execute").click()
    with contextlib.suppress(RenderTimeout):
        operation.locator(".live-responses-table").wait_for(timeout=10_000)
    return operation.locator(
        ".live-responses-table tr.response .response-col_status"
    ).all_inner_texts()


def render_docs_apart(url: str, chromium: str, screenshot: Path) -> dict[str, list[str]]:
    """:func:`render_docs` in a fresh interpreter (see the module's docstring)."""
    done = subprocess.run(
        [sys.executable, "-m", __name__, url, chromium, str(screenshot)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_docs_render_every_operation_with_the_network_cut_off(stack: Stack, tmp_path: Path) -> None:
    chromium = chromium_or_skip()
    document = requests.get(f"{stack.url}/openapi.json", timeout=10).json()
    screenshot = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "docs-offline.png")

    seen = render_docs_apart(f"{stack.url}/docs", chromium, screenshot)

    assert seen["outside"] == [], "the page asked for files beyond this machine"
    assert seen["blocked"] == [], "the page needs what its own policy refuses"
    assert document["info"]["title"] in " ".join(seen["title"])
    rendered = set(seen["texts"])
    paths = set(document["paths"])
    assert {"/api/v1/customers", "/api/v1/orders", "/api/v1/partners"} <= paths
    assert paths - rendered == set(), "operations the page does not show"
    summaries = {
        operation["summary"].split("\n")[0]
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and operation.get("summary")
    }
    shown = " ".join(rendered)
    assert len(summaries) > 10
    assert [summary for summary in summaries if summary not in shown] == []
    assert seen["tried"] == ["401"], "the page cannot send a request to the gateway"


if __name__ == "__main__":
    print(json.dumps(render_docs(sys.argv[1], sys.argv[2], Path(sys.argv[3]))))
