"""PNG screenshots of the console's main pages, for the docs:

    python -m tests.support.console_screenshots --url http://127.0.0.1:8000 --out docs/screenshots

Signs in as the demo users (``manage.py seed``; the demo's customers, leads and orders come
from ``manage.py seed --business``) and saves each main page on a desktop screen, and the
partner's dashboard and customer list on a phone. With ``--admin-password`` (or
``PRM_ADMIN_PASSWORD``) the HQ admin's pages too (users, roles, audit). Needs Chromium
(``apt-get install chromium``) and, for the Chinese text, a CJK font
(``apt-get install fonts-wqy-zenhei``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from tests.support.browser_driver import PHONE, Browser, browser_for
from tests.support.browser_scenarios import FRAME, go, sign_in

DEMO_PASSWORD = "demo-pass-2026"
#: (user, [(file name, path)]): who shows which pages.
DESKTOP_PAGES: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "hz-sales",
        [
            ("partner-dashboard", "/"),
            ("customers", "/customers"),
            ("customer-new", "/customers/new"),
            ("leads-partner", "/leads"),
            ("pool", "/pool"),
            ("orders-partner", "/orders"),
            ("order-new", "/orders/new"),
        ],
    ),
    (
        "channel",
        [
            ("hq-dashboard", "/"),
            ("approvals", "/approvals"),
            ("leads", "/leads"),
            ("partners", "/partners"),
            ("messages", "/messages"),
        ],
    ),
    ("salesops", [("orders", "/orders"), ("products", "/products")]),
    (
        "finance",
        [
            ("payments", "/payments"),
            ("commissions", "/commissions"),
            ("statements", "/commissions/statements"),
            ("reports", "/reports"),
        ],
    ),
    ("director", [("flows", "/settings/flows")]),
]
ADMIN_PAGES = [("users", "/users"), ("roles", "/roles"), ("audit", "/audit")]


def shoot(b: Browser, page: Any, name: str, path: str) -> str:
    go(page, path)
    page.wait_for_timeout(600)  # charts animate in
    return b.shot(name, page, full_page=True)


def first_order(b: Browser, page: Any) -> str | None:
    """The page of the first order in the list, if there is one."""
    go(page, "/orders")
    hrefs = page.locator('.paged a[href^="/orders/"]').evaluate_all(
        "links => links.map(a => a.href)"
    )
    shown = [href for href in hrefs if re.search(r"/orders/\d+$", href)]
    if not shown:
        return None
    go(page, shown[0])
    page.wait_for_timeout(300)
    return b.shot("order-detail", page, full_page=True)


def take(url: str, out: Path, chromium: str, admin_password: str | None) -> list[str]:
    saved: list[str] = []
    with browser_for(url, chromium, out) as b:
        page = b.open()
        page.goto("/login")
        page.get_by_label("用户名").wait_for()
        saved.append(b.shot("login", page))
        for user, pages in DESKTOP_PAGES:
            page = b.open()
            sign_in(page, user, DEMO_PASSWORD)
            for name, path in pages:
                saved.append(shoot(b, page, name, path))
            if user == "hz-sales":
                shown = first_order(b, page)
                if shown:
                    saved.append(shown)
            page.context.close()
        if admin_password:
            page = b.open()
            sign_in(page, "admin", admin_password)
            for name, path in ADMIN_PAGES:
                saved.append(shoot(b, page, name, path))
        phone = b.open(PHONE)
        sign_in(phone, "hz-sales", DEMO_PASSWORD)
        phone.locator(FRAME).wait_for()
        saved.append(shoot(b, phone, "phone-partner-dashboard", "/"))
        saved.append(shoot(b, phone, "phone-customers", "/customers"))
        phone.get_by_role("button", name="打开菜单").click()
        phone.locator(".el-drawer .el-menu-item").first.wait_for()
        phone.wait_for_timeout(400)
        saved.append(b.shot("phone-menu", phone))
        if b.page_errors:
            print("errors in the pages:", *b.page_errors, sep="\n  ", file=sys.stderr)
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("PRM_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--admin-password", default=os.environ.get("PRM_ADMIN_PASSWORD"))
    parser.add_argument(
        "--chromium",
        default=os.environ.get("PRM_CHROMIUM") or shutil.which("chromium") or "chromium",
    )
    args = parser.parse_args()
    for path in take(args.url, args.out, args.chromium, args.admin_password):
        print(path)


if __name__ == "__main__":
    main()
