"""One browser scenario in a process of its own: ``python -m tests.support.browser_driver NAME
ARGS_JSON OUT_DIR`` runs ``tests.support.browser_scenarios.NAME(browser, **args)`` in the system
Chromium and prints one line of JSON: ``{"ok", "result", "error", "screenshot",
"console_errors", "page_errors", "url"}``.

The test process is monkey-patched by eventlet, under which Playwright's event loop never
starts, so every scenario runs here (see ``tests/e2e/test_docs_offline.py``). The browser
stays on this machine: host names resolve to nothing, any proxied request goes to a port
where nothing listens, and the page's requests beyond ``127.0.0.1`` are refused.
"""

from __future__ import annotations

import json
import re
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.support.browser import LOOPBACK, offline_args

DESKTOP = {"viewport": {"width": 1366, "height": 900}}
#: An iPhone-sized screen with touch, as a partner's salesperson uses the console.
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
#: How long a page may take to show what a step waits for.
TIMEOUT_MS = 30_000


class Browser:
    """The pages of one scenario, all in one browser, each context on this machine only.

    ``open(viewport)`` gives a fresh signed-out page (a context of its own: its own local
    storage); every page's console errors and uncaught exceptions are recorded."""

    def __init__(self, playwright: Any, chromium: str, base_url: str, out_dir: Path) -> None:
        self.browser = playwright.chromium.launch(executable_path=chromium, args=offline_args())
        self.base_url = base_url.rstrip("/")
        self.out_dir = out_dir
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.outside: list[str] = []
        self.pages: list[Any] = []

    def open(
        self, device: dict | None = None, locale: str = "zh-CN", bypass_csp: bool = False
    ) -> Any:
        context = self.browser.new_context(
            bypass_csp=bypass_csp,
            base_url=self.base_url,
            locale=locale,
            timezone_id="Asia/Shanghai",
            accept_downloads=True,
            **(device or DESKTOP),
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.route("**/*", self._only_this_machine)
        page = context.new_page()
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(f"{page.url}: {error}"))
        self.pages.append(page)
        return page

    def _only_this_machine(self, route: Any) -> None:
        if urlsplit(route.request.url).hostname == LOOPBACK:
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort("internetdisconnected")

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def shot(self, name: str, page: Any | None = None, full_page: bool = False) -> str:
        """A PNG of ``page`` (the last opened) under the output directory; its path."""
        page = page or self.pages[-1]
        path = self.out_dir / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return str(path)

    def close(self) -> None:
        self.browser.close()


@contextmanager
def browser_for(base_url: str, chromium: str, out_dir: Path) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = Browser(playwright, chromium, base_url, out_dir)
        try:
            yield browser
        finally:
            browser.close()


def run(name: str, args: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Run scenario ``name``; what ``main`` prints."""
    from tests.support import browser_scenarios as scenarios

    outcome: dict[str, Any] = {"ok": False, "result": None, "error": None, "screenshot": None}
    started = time.monotonic()
    with browser_for(args.pop("base_url"), args.pop("chromium"), out_dir) as browser:
        try:
            outcome["result"] = getattr(scenarios, name)(browser, **args)
            outcome["ok"] = True
        except Exception:
            outcome["error"] = traceback.format_exc(limit=8)
            if browser.pages:
                page = browser.pages[-1]
                outcome["url"] = page.url
                try:
                    outcome["screenshot"] = browser.shot(f"failed-{name}", page, full_page=True)
                except Exception as exc:  # the page itself may be gone
                    outcome["screenshot"] = f"(none: {exc})"
        outcome["console_errors"] = browser.console_errors
        outcome["page_errors"] = browser.page_errors
        outcome["outside"] = browser.outside
    outcome["seconds"] = round(time.monotonic() - started, 1)
    return outcome


def main() -> None:
    name, raw, out_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    print(json.dumps(run(name, json.loads(raw), out_dir), ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
