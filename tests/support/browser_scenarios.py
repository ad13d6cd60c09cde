"""What people do in the console, step by step, in a real browser: each function is one
scenario run by ``tests/browser/driver.py`` in a process of its own; it takes the
:class:`~tests.support.browser_driver.Browser` and JSON arguments and returns what the test checks
(JSON). Steps find elements by role and label as people do; ``data-test`` hooks only where
those are not enough."""

from __future__ import annotations

import contextlib
import json
import re
import time
from pathlib import Path
from typing import Any

from tests.support.browser_driver import PHONE, Browser

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "console" / "node_modules" / "axe-core" / "axe.min.js"
#: The frame is up once the user's menu button is there.
FRAME = '[data-test="user-menu"]'
#: Rows of a PagedList: table rows on a wide screen, cards on a phone.
ROWS = ".paged .el-table__body-wrapper tr.el-table__row, .paged [data-test=card]"
#: True once no loading mask is shown (Element Plus hides a finished one, or removes it).
NOT_LOADING = """() => [...document.querySelectorAll('.el-loading-mask')]
    .every((mask) => mask.offsetParent === null || getComputedStyle(mask).display === 'none')"""


# -- steps ----------------------------------------------------------------------------------


def sign_in(page: Any, username: str, password: str, path: str = "/login") -> None:
    """Sign in through the form and wait for the frame."""
    page.goto(path)
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录").click()
    page.locator(FRAME).wait_for()


def settled(page: Any) -> None:
    """Wait until the page's heading is shown and no list or panel is loading."""
    page.locator("h1").first.wait_for()
    page.wait_for_load_state("networkidle")
    page.wait_for_function(NOT_LOADING)


def go(page: Any, path: str) -> None:
    """Open ``path`` inside the console (a fresh load of the page) and let it settle."""
    page.goto(path)
    settled(page)


def rows(page: Any) -> list[str]:
    """The text of every row (or card) of the page's list, once it has loaded."""
    page.locator(".paged").first.wait_for()
    page.wait_for_load_state("networkidle")
    page.wait_for_function(NOT_LOADING)
    return [text.strip() for text in page.locator(ROWS).all_inner_texts()]


def menu_items(page: Any) -> list[str]:
    """The entries of the main menu the user sees (the side menu, or the drawer on a phone)."""
    menu = page.get_by_role("menubar", name="主菜单").or_(page.locator('[aria-label="主菜单"]'))
    menu.first.wait_for()
    return [
        t.strip()
        for t in page.locator('[aria-label="主菜单"] .el-menu-item').all_inner_texts()
        if t.strip()
    ]


def tokens(page: Any) -> dict | None:
    raw = page.evaluate("() => localStorage.getItem('prm.tokens')")
    return json.loads(raw) if raw else None


def choose_region(page: Any, control: Any, *names: str) -> None:
    """Pick ``names`` (province, city, district) in a region cascader."""
    control.click()
    width = page.viewport_size["width"]
    for name in names:
        node = page.locator(".el-cascader-node", has_text=re.compile(f"^{re.escape(name)}$")).last
        node.wait_for()
        box = node.bounding_box()
        if box and box["x"] + box["width"] / 2 > width:
            # On a phone the third column opens beyond the screen's edge, where no finger
            # reaches; the click is sent to the node itself.
            node.dispatch_event("click")
        else:
            node.click()
    page.keyboard.press("Escape")


def message(page: Any, kind: str = "success") -> str:
    """The text of the latest Element Plus message of ``kind`` (success, error)."""
    box = page.locator(f".el-message--{kind}").last
    box.wait_for()
    return box.inner_text().strip()


# -- scenarios ------------------------------------------------------------------------------


def sign_in_and_out(b: Browser, username: str, password: str) -> dict:
    """A wrong password is refused with a message; the right one opens the console;
    signing out forgets the tokens and the pages need a sign-in again."""
    page = b.open()
    page.goto("/customers")
    page.wait_for_url(re.compile(r"/login\?next="))
    seen: dict[str, Any] = {"asked_to_sign_in": page.url}
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码", exact=True).fill(f"{password}-wrong")
    page.get_by_role("button", name="登录").click()
    seen["wrong"] = page.get_by_role("alert").inner_text().strip()
    seen["tokens_after_wrong"] = tokens(page)

    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录").click()
    page.locator(FRAME).wait_for()
    page.wait_for_load_state("networkidle")
    seen["signed_in_at"] = page.url
    seen["user_menu"] = page.locator(FRAME).inner_text().strip()
    seen["heading"] = page.locator("h1").first.inner_text().strip()
    seen["has_tokens"] = tokens(page) is not None

    page.locator(FRAME).click()
    page.locator('[data-test="sign-out"]').click()
    page.wait_for_url(re.compile(r"/login"))
    seen["tokens_after_sign_out"] = tokens(page)
    page.goto("/")
    page.wait_for_url(re.compile(r"/login"))
    seen["after_sign_out"] = page.url
    return seen


def menus_and_doors(b: Browser, username: str, password: str, paths: list[str]) -> dict:
    """The menu a user sees, and where each of ``paths`` really lands when typed in."""
    page = b.open()
    sign_in(page, username, password)
    seen: dict[str, Any] = {"menu": menu_items(page), "landed": {}}
    for path in paths:
        page.goto(path)
        page.locator(FRAME).wait_for()
        page.wait_for_load_state("networkidle")
        seen["landed"][path] = re.sub(r"^https?://[^/]+", "", page.url)
    return seen


def list_rows(b: Browser, username: str, password: str, paths: list[str]) -> dict:
    """The rows each list page of ``paths`` shows the user."""
    page = b.open()
    sign_in(page, username, password)
    found = {}
    for path in paths:
        page.goto(path)
        found[path] = {
            "rows": rows(page),
            "buttons": [
                t.strip()
                for t in page.locator("main button:visible").all_inner_texts()
                if t.strip()
            ],
        }
    return found


def expired_access_token(b: Browser, username: str, password: str) -> dict:
    """With its access token overwritten by garbage, the console refreshes the tokens on
    the first 401 and carries on: the user is not sent to the sign-in page."""
    page = b.open()
    sign_in(page, username, password)
    # The first page's requests done: none of them stores tokens after they are spoiled.
    page.wait_for_load_state("networkidle")
    before = tokens(page)
    page.evaluate(
        """() => {
        const tokens = JSON.parse(localStorage.getItem('prm.tokens'))
        tokens.access_token = 'garbage.' + tokens.access_token.slice(8, 20) + '.expired'
        localStorage.setItem('prm.tokens', JSON.stringify(tokens))
    }"""
    )
    page.goto("/")
    page.locator(FRAME).wait_for()
    page.wait_for_load_state("networkidle")
    after_reload = re.sub(r"^https?://[^/]+", "", page.url)
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):  # no refresh at all: the asserts say so
        page.wait_for_function(
            "before => { const t = JSON.parse(localStorage.getItem('prm.tokens') || 'null');"
            " return t !== null && t.refresh_token !== before }",
            arg=before["refresh_token"],
            timeout=10_000,
        )
    refreshed = tokens(page)
    # And once more inside the running page: a menu entry, no reload.
    page.evaluate(
        "() => { const t = JSON.parse(localStorage.getItem('prm.tokens')); t.access_token = 'x';"
        " localStorage.setItem('prm.tokens', JSON.stringify(t)) }"
    )
    page.locator('[aria-label="主菜单"] .el-menu-item', has_text="客户").first.click()
    page.wait_for_url(re.compile(r"/customers$"))
    rows(page)
    page.locator(FRAME).wait_for()
    return {
        "after_reload": after_reload,
        "after_click": re.sub(r"^https?://[^/]+", "", page.url),
        "user_menu": page.locator(FRAME).inner_text().strip(),
        "access_changed": bool(refreshed) and refreshed["access_token"] != before["access_token"],
        "refresh_changed": bool(refreshed)
        and refreshed["refresh_token"] != before["refresh_token"],
        "still_signed_in": tokens(page) is not None and tokens(page)["access_token"] != "x",
    }


def first_load(b: Browser, username: str, password: str) -> dict:
    """Milliseconds from navigation to the dashboard's content, on a cold cache (a new
    context that has only the tokens), and the page's own navigation timings."""
    page = b.open()
    sign_in(page, username, password)
    saved = page.evaluate("() => localStorage.getItem('prm.tokens')")
    cold = b.open()
    cold.context.add_init_script(
        "if (!localStorage.getItem('prm.tokens'))"
        f" localStorage.setItem('prm.tokens', {json.dumps(saved)})"
    )
    started = time.perf_counter()
    cold.goto("/", wait_until="commit")
    cold.locator(FRAME).wait_for()
    cold.locator("h1").first.wait_for()
    visible_ms = (time.perf_counter() - started) * 1000
    cold.wait_for_load_state("networkidle")
    idle_ms = (time.perf_counter() - started) * 1000
    timing = cold.evaluate(
        """() => {
        const [n] = performance.getEntriesByType('navigation')
        const resources = performance.getEntriesByType('resource')
        return {
          dom_content_loaded_ms: Math.round(n.domContentLoadedEventEnd),
          load_ms: Math.round(n.loadEventEnd),
          requests: resources.length,
          transferred_bytes: resources.reduce((s, r) => s + (r.transferSize || 0), 0)
            + (n.transferSize || 0),
          scripts_bytes: resources.filter((r) => r.name.endsWith('.js'))
            .reduce((s, r) => s + (r.encodedBodySize || 0), 0),
        }
    }"""
    )
    warm_started = time.perf_counter()
    cold.reload(wait_until="commit")
    cold.locator(FRAME).wait_for()
    cold.locator("h1").first.wait_for()
    warm_ms = (time.perf_counter() - warm_started) * 1000
    return {
        "content_visible_ms": round(visible_ms),
        "network_idle_ms": round(idle_ms),
        "reload_content_visible_ms": round(warm_ms),
        **timing,
    }


def axe_pages(
    b: Browser, username: str, password: str, paths: list[str], login: bool = True
) -> dict:
    """axe-core's violations of impact serious or critical on the sign-in page (``login``)
    and on each of ``paths`` once signed in: ``{path: [{id, impact, help, targets}]}``."""
    # The console's policy refuses inline scripts, and axe is added as one.
    page = b.open(bypass_csp=True)
    found: dict[str, Any] = {}
    if login:
        page.goto("/login")
        page.get_by_label("用户名").wait_for()
        found["/login"] = _axe(page)
    sign_in(page, username, password)
    for path in paths:
        go(page, path)
        found[path] = _axe(page)
    return found


def _axe(page: Any) -> list[dict]:
    page.add_script_tag(content=AXE.read_text())
    results = page.evaluate(
        "async () => (await axe.run(document, { resultTypes: ['violations'] })).violations"
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "targets": [" ".join(map(str, n["target"])) for n in v["nodes"]][:5],
        }
        for v in results
        if v["impact"] in ("serious", "critical")
    ]


def _path(page: Any) -> str:
    return re.sub(r"^https?://[^/]+", "", page.url)


def file_customer(
    page: Any, name: str, phone: str, regions: list[str], taken_name: str | None = None
) -> dict:
    """Fill in and send the filing form (客户报备) on ``page``, signed in as a partner's
    user: with ``taken_name`` first, the pre-check's answer for a customer already held."""
    seen: dict[str, Any] = {}
    go(page, "/customers/new")
    check = page.locator('[data-test="precheck"]')
    name_box = page.get_by_label("客户名称")
    if taken_name:
        name_box.fill(taken_name)
        check.get_by_text("该客户已被报备保护").wait_for()
        seen["precheck_taken"] = check.inner_text().strip()
    name_box.fill(name)
    page.get_by_label("联系人").fill("李经理")
    page.get_by_label("联系电话").fill(phone)
    check.get_by_text("可以报备").wait_for()
    seen["precheck_clear"] = check.inner_text().strip()
    choose_region(page, page.get_by_label("地区", exact=True).first, *regions)
    page.get_by_role("button", name="提交报备").click()
    page.wait_for_url(re.compile(r"/customers/\d+$"))
    settled(page)
    seen["customer_path"] = _path(page)
    seen["status_after_filing"] = page.locator(".el-tag").first.inner_text().strip()
    return seen


def approve_in_center(page: Any, tab: str, text: str) -> str:
    """Approve the row showing ``text`` in 审批中心's tab ``tab`` (报备, 订单): the approve
    button, then 通过 in the comment box (the comment is optional); the message shown."""
    go(page, "/approvals")
    page.locator(f'[data-test="approvals-tab-{tab}"]').click()
    row = page.locator(ROWS, has_text=text).first
    row.wait_for()
    row.locator('[data-test="approve"]').click()
    box = page.locator(".el-message-box")
    box.wait_for()
    box.get_by_role("button", name="通过").click()
    return message(page)


def filing_approved(
    b: Browser,
    partner: dict,
    hq: dict,
    name: str,
    phone: str,
    regions: list[str],
    taken_name: str | None = None,
) -> dict:
    """A partner's user files a customer; an HQ user approves it in 审批中心; the partner
    sees it 保护中."""
    sales = b.open()
    sign_in(sales, **partner)
    seen = file_customer(sales, name, phone, regions, taken_name)

    approver = b.open()
    sign_in(approver, **hq)
    seen["approved_message"] = approve_in_center(approver, "filing", name)
    b.shot("filing-approved", approver)

    go(sales, seen["customer_path"])
    sales.get_by_text("保护中").first.wait_for()
    seen["status_after_approval"] = sales.locator(".el-tag").first.inner_text().strip()
    seen["page_text"] = sales.locator("main").inner_text()
    return seen


def lead_claimed(
    b: Browser, hq: dict, partner: dict, name: str, phone: str, regions: list[str]
) -> dict:
    """HQ enters a lead (录入线索) on the leads page; the partner it went to claims it from
    the dashboard and lands on the customer, 保护中."""
    marketing = b.open()
    sign_in(marketing, **hq)
    go(marketing, "/leads")
    marketing.locator('[data-test="lead-create"]').click()
    dialog = marketing.get_by_role("dialog", name="录入线索")
    dialog.wait_for()
    dialog.get_by_label("客户名称").fill(name)
    dialog.get_by_label("联系人").fill("赵女士")
    dialog.get_by_label("电话").fill(phone)
    choose_region(marketing, dialog.get_by_label("地区", exact=True).first, *regions)
    dialog.locator('[data-test="lead-create-confirm"]').click()
    seen: dict[str, Any] = {"entered_message": message(marketing)}
    seen["hq_row"] = rows(marketing)[0] if name in "\n".join(rows(marketing)) else ""

    sales = b.open()
    sign_in(sales, **partner)
    settled(sales)
    lead = sales.locator('[data-test="card-leads"] [data-test="lead"]', has_text=name)
    lead.wait_for()
    seen["countdown"] = lead.locator('[data-test="countdown"]').inner_text().strip()
    lead.get_by_role("button", name="申领").click()
    seen["claimed_message"] = message(sales)
    sales.wait_for_url(re.compile(r"/customers/\d+$"))
    settled(sales)
    sales.get_by_text("保护中").first.wait_for()
    seen["customer_path"] = _path(sales)
    seen["customer_text"] = sales.locator("main").inner_text()
    return seen


def pick(page: Any, select: Any, typed: str, option: str) -> None:
    """Type ``typed`` into a searching select and choose the option showing ``option``."""
    select.click()
    page.keyboard.type(typed)
    choice = page.locator(".el-select-dropdown__item:visible", has_text=option).first
    choice.wait_for()
    choice.click()


def confirm_box(page: Any, comment: str | None = None) -> None:
    """Confirm the open message box (with ``comment`` typed into its input, if any)."""
    box = page.locator(".el-message-box")
    box.wait_for()
    if comment is not None:
        box.locator("textarea, input").first.fill(comment)
    box.locator(".el-button--primary, .el-button--danger").last.click()
    box.wait_for(state="hidden")


def order_approved(
    b: Browser,
    partner: dict,
    approvers: list[dict],
    customer: str,
    product: str,
    contract_no: str,
    quantity: int = 2,
) -> dict:
    """A partner's user drafts an order (customer and product pickers), saves and submits
    it; each HQ approver approves its step on the order's page; the partner then sees the
    order approved and its commission."""
    sales = b.open()
    sign_in(sales, **partner)
    go(sales, "/orders/new")
    pick(sales, sales.locator('[data-test="customer"]'), customer[:6], customer)
    sales.locator("#order-contract-no").fill(contract_no)
    line = sales.locator('[data-test="line"]').first
    pick(sales, line.locator('[data-test="line-product"]'), product[:4], product)
    quantity_box = line.locator('[data-test="line-quantity"] input')
    quantity_box.fill(str(quantity))
    quantity_box.press("Tab")
    seen: dict[str, Any] = {
        "form_total": sales.locator('[data-test="order-total"]').inner_text().strip()
    }
    sales.locator('[data-test="save-order"]').click()
    sales.wait_for_url(re.compile(r"/orders/\d+$"))
    settled(sales)
    seen["order_path"] = _path(sales)
    seen["status_saved"] = sales.locator("h1 .el-tag").first.inner_text().strip()
    sales.locator('[data-test="submit-order"]').click()
    confirm_box(sales)
    sales.locator('[data-test="submit-order"]').wait_for(state="detached")
    settled(sales)
    seen["status_submitted"] = sales.locator("h1 .el-tag").first.inner_text().strip()

    seen["approved"] = []
    for login in approvers:
        hq = b.open()
        sign_in(hq, **login)
        go(hq, seen["order_path"])
        hq.locator('[data-test="approve-order"]').click()
        confirm_box(hq, "同意")
        seen["approved"].append(message(hq))
        hq.context.close()
        b.pages.remove(hq)

    # The commission comes from another service, a moment after the approval.
    deadline = time.monotonic() + 30
    while True:
        go(sales, seen["order_path"])
        if sales.locator('[data-test="commission"]').count() or time.monotonic() > deadline:
            break
        time.sleep(1)
    seen["status_approved"] = sales.locator("h1 .el-tag").first.inner_text().strip()
    seen["commission"] = sales.locator('[data-test="commission"]').inner_text().strip()
    seen["total"] = sales.locator('[data-test="order-total"]').inner_text().strip()
    b.shot("order-approved", sales, full_page=True)
    return seen


def on_a_phone(b: Browser, partner: dict, name: str, phone: str, regions: list[str]) -> dict:
    """A partner's user on a phone: the dashboard and the customer list as cards, the
    menu in a drawer opened from its button, and a filing made from the phone."""
    page = b.open(PHONE)
    sign_in(page, **partner)
    settled(page)
    seen: dict[str, Any] = {
        "side_menu_visible": page.locator(".el-aside").count() > 0
        and page.locator(".el-aside").is_visible(),
        "dashboard_cards": page.locator("main .el-card:visible").count(),
        "dashboard_width": page.evaluate("() => document.documentElement.scrollWidth"),
    }
    b.shot("phone-dashboard", page)
    page.get_by_role("button", name="打开菜单").click()
    drawer = page.locator(".el-drawer")
    drawer.wait_for()
    seen["drawer_menu"] = [
        t.strip() for t in drawer.locator(".el-menu-item").all_inner_texts() if t.strip()
    ]
    drawer.locator(".el-menu-item", has_text="客户").first.click()
    page.wait_for_url(re.compile(r"/customers$"))
    drawer.wait_for(state="hidden")
    seen["customer_cards"] = rows(page)
    seen["tables"] = page.locator(".paged .el-table").count()
    b.shot("phone-customers", page)
    seen |= file_customer(page, name, phone, regions)
    return seen


def report_download(b: Browser, hq: dict, tab: str = "sales") -> dict:
    """An HQ user opens 报表 and downloads the report of ``tab`` as Excel: where the file
    was saved, its suggested name, and the rows the page showed."""
    page = b.open()
    sign_in(page, **hq)
    go(page, f"/reports?tab={tab}")
    report = page.locator(f'[data-test="report-{tab}"]')
    table = report.locator('[data-test="report-table"]')
    table.wait_for()
    page.wait_for_function(NOT_LOADING)
    shown = [t.strip() for t in table.locator("tr").all_inner_texts()]
    with page.expect_download() as waiting:
        report.locator('[data-test="download-xlsx"]').click()
    download = waiting.value
    path = b.out_dir / f"report-{tab}.xlsx"
    download.save_as(str(path))
    return {"path": str(path), "suggested": download.suggested_filename, "shown": shown}


def page_texts(b: Browser, username: str, password: str, paths: list[str]) -> dict:
    """The text of the page's main part at each of ``paths``, once it has settled."""
    page = b.open()
    sign_in(page, username, password)
    found = {}
    for path in paths:
        page.goto(path)
        page.locator(FRAME).wait_for()
        page.wait_for_load_state("networkidle")
        page.wait_for_function(NOT_LOADING)
        found[path] = page.locator("main").inner_text()
    return found
