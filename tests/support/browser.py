"""The system Chromium for the browser tests (``/docs`` offline, the web console), driven by
Playwright in a process of its own, and the flags that keep the whole browser on this
machine: host names resolve to nothing, any proxied request goes to a port where nothing
listens."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.support.stack import free_port

LOOPBACK = "127.0.0.1"


def chromium_or_skip() -> str:
    """The system Chromium: CI must have it (``.ci/run`` installs it); elsewhere its
    absence skips the test with the way to get it."""
    path = os.environ.get("PRM_CHROMIUM") or shutil.which("chromium")
    path = path or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright package (pip install -e '.[dev]')"
    else:
        missing = "" if path else "chromium (apt-get install -y chromium)"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} is missing: .ci/run must install it")
        pytest.skip(f"{missing} is not installed on this machine")
    assert path is not None
    return path


def offline_args() -> list[str]:
    """Chromium flags that keep the whole browser, not only the page, on this machine."""
    return [
        f"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE {LOOPBACK}",
        f"--proxy-server=http://{LOOPBACK}:{free_port()}",
        f"--proxy-bypass-list={LOOPBACK}",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
    ]
