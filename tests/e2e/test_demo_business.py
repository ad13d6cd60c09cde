"""The demo's business data (``manage.py seed --business``), made through the gateway of a
stack that ``make run`` would start (own vhost, SQLite files, ``manage.py seed``): every
page of the console has something to show, and a second run adds nothing."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench._stack import OwnStack
from services.partners.seed import DEMO_PASSWORD
from tests.support.client import Client
from tests.support.stack import ROOT
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnStack]:
    stack = OwnStack(f"demo-{uuid.uuid4().hex[:8]}", Path(tmp_path_factory.mktemp("demo")))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def seed_business(stack: OwnStack) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", "seed", "--business", "--url", stack.url],
        cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def items(client: Client, path: str, **query: object) -> list[dict]:
    response = client.get(path, params={"per_page": 100, **query})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_the_business_demo_fills_the_console_once(demo: OwnStack) -> None:
    assert "demo business data: created" in seed_business(demo)
    assert "demo business data: already there" in seed_business(demo)

    anonymous = Client(demo.url)
    hz_sales = anonymous.login("hz-sales", DEMO_PASSWORD)
    nb_sales = anonymous.login("nb-sales", DEMO_PASSWORD)
    channel = anonymous.login("channel", DEMO_PASSWORD)
    finance = anonymous.login("finance", DEMO_PASSWORD)

    hz_customers = {c["status"] for c in items(hz_sales, "/api/v1/customers")}
    nb_customers = {c["status"] for c in items(nb_sales, "/api/v1/customers")}
    assert {"protected", "pending"} <= hz_customers, hz_customers
    assert {"protected", "pending"} <= nb_customers, nb_customers

    leads = items(channel, "/api/v1/leads")
    assert any(lead["assigned_partner_id"] for lead in leads), leads
    assert any(lead["assigned_partner_id"] is None for lead in leads), leads

    statuses = {o["contract_no"]: o["status"] for o in items(finance, "/api/v1/orders")}
    assert statuses == {
        "HZ-DEMO-2026-001": "draft",
        "HZ-DEMO-2026-002": "submitted",
        "HZ-DEMO-2026-003": "approved",
        "NB-DEMO-2026-001": "approved",
    }
    payments = items(finance, "/api/v1/payments")
    assert [p["kind"] for p in payments] == ["receipt"]

    # Commission follows the orders' events: HZ on approval, NB on what was collected.
    entries = wait_for(
        lambda: (found := items(finance, "/api/v1/commissions")) and len(found) >= 2 and found,
        what="the demo's commission entries",
    )
    assert {e["contract_no"] for e in entries} == {"HZ-DEMO-2026-003", "NB-DEMO-2026-001"}

    east = anonymous.login("east-manager", DEMO_PASSWORD)
    me = east.get("/api/v1/me").json()
    assert sorted(me["regions"]) == ["320000", "330000"]
    assert "filing.approve" in me["permissions"]
