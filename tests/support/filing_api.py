"""The filing service through the API (customers, filings, leads), and what the e2e tests
read of its database or ask of its test-only admin commands."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

import manage
from services.common.db import make_engine
from tests.support.answers import ok
from tests.support.client import Client, unique
from tests.support.events import approved_event, publish
from tests.support.fake_data import company, mobile, uscc

CUSTOMERS = "/api/v1/customers"
FILINGS = "/api/v1/filings"
LEADS = "/api/v1/leads"
FLOW = "/api/v1/approval-flows/filing"


def customer_body(region_code: str = "330106", **extra: Any) -> dict:
    """A new customer's filing body, unique in name, credit code and phone."""
    return {
        "name": f"{company()}科技有限公司",
        "uscc": uscc(),
        "contact_name": "王经理",
        "phone": mobile(),
        "address": "文三路 90 号",
        "region_code": region_code,
        "industry": "软件",
        **extra,
    }


def file_customer(client: Client, body: dict) -> dict:
    """The customer ``client`` filed with ``body`` (201)."""
    response = client.post(CUSTOMERS, body)
    assert response.status_code == 201, response.text
    return response.json()


def age_customer(customer_id: int, until: datetime, clear_reminder: bool = False) -> None:
    """The customer's protection ends at ``until`` (``manage.py testing age-customer``)."""
    manage.age_customer(customer_id, until, clear_reminder)


def age_lead(lead_id: int | list[int], until: datetime) -> None:
    """The lead's claim deadline is ``until`` (``manage.py testing age-lead``); a list of
    leads is aged in one transaction."""
    manage.age_lead(lead_id, until)


def age_idle(customer_id: int, since: datetime) -> None:
    """The customer's protection began at ``since`` (``manage.py testing age-idle``)."""
    manage.age_idle(customer_id, since)


def age_release(customer_id: int, partner_id: int, at: datetime) -> None:
    """The partner's releases of the customer happened at ``at`` (``manage.py testing
    age-release``)."""
    manage.age_release(customer_id, partner_id, at)


@cache
def _filing_db() -> Engine:
    return make_engine(os.environ["FILING_DATABASE_URL"], pool_size=2, max_overflow=2)


def filing_rows(sql: str, **params: Any) -> list:
    """Rows the filing service keeps and the API does not show (its outbox, its
    bookkeeping of applied events), read only."""
    with _filing_db().connect() as connection:
        return list(connection.execute(text(sql), params))


def publish_order_approved(customer_id: int, partner_id: int, approved_at: str) -> str:
    """Publish the orders service's ``order_approved`` of an order of ``partner_id`` for
    ``customer_id``, approved at ``approved_at`` (ISO 8601); the event id."""
    return publish(approved_event(partner_id, at=approved_at, customer_id=customer_id))["id"]


def event_applied(event_id: str) -> bool:
    """Whether the filing service has applied event ``event_id``."""
    return bool(filing_rows("SELECT 1 FROM processed_events WHERE event_id = :id", id=event_id))


@contextmanager
def sole_coverage(admin: Client, regions: list[str], keep: list[dict]) -> Iterator[None]:
    """While inside, the partners in ``keep`` are the only active ones covering ``regions``.

    ``regions`` are the exact codes the test's leads name (a district partner of 330106
    covers a lead in 330106 but not one in 330100, so 330100 alone would not do).

    Every test of the session shares one stack, and earlier tests leave partners covering
    杭州 and 浙江; lead assignment looks at all of them. The others are suspended for the
    test and activated again afterwards.
    """
    keep_ids = {p["id"] for p in keep}
    suspended: list[int] = []
    try:
        for region in regions:
            while True:
                response = admin.get(
                    f"/api/v1/partners?region_code={region}&status=active&per_page=100"
                )
                assert response.status_code == 200, response.text
                others = [p["id"] for p in response.json()["items"] if p["id"] not in keep_ids]
                if not others:
                    break
                for partner_id in others:
                    answer = admin.post(f"/api/v1/partners/{partner_id}/suspend")
                    assert answer.status_code == 200, answer.text
                    suspended.append(partner_id)
        yield
    finally:
        for partner_id in suspended:
            admin.post(f"/api/v1/partners/{partner_id}/activate")


@contextmanager
def graded(admin: Client, partner: dict, max_protected: int) -> Iterator[None]:
    """While inside, ``partner`` has a grade of its own capping it at ``max_protected``."""
    grades = ok(admin.get("/api/v1/partner-grades"))
    code = unique("g").replace("_", "-")[:20]
    mine = {"code": code, "name": "公海测试", "max_protected_customers": max_protected}
    ok(admin.put("/api/v1/partner-grades", {"grades": [*grades, mine]}))
    ok(admin.patch(f"/api/v1/partners/{partner['id']}", {"grade": code}))
    try:
        yield
    finally:
        ok(admin.patch(f"/api/v1/partners/{partner['id']}", {"grade": None}))
        current = ok(admin.get("/api/v1/partner-grades"))
        ok(
            admin.put(
                "/api/v1/partner-grades", {"grades": [g for g in current if g["code"] != code]}
            )
        )


EXTENSIONS = "/api/v1/extensions"
EXTENSION_FLOW = "/api/v1/approval-flows/extension"


def request_extension(
    client: Client, customer_id: int, days: int, reason: str = "客户采购流程长"
) -> dict:
    """The extension (延期) ``client``'s partner asked for on its customer (201)."""
    response = client.post(
        f"{CUSTOMERS}/{customer_id}/extensions", {"days": days, "reason": reason}
    )
    assert response.status_code == 201, response.text
    return response.json()


def customer_events(customer_id: int, kind: str) -> list:
    """The payloads of the filing outbox's events of ``kind`` about ``customer_id``."""
    return filing_rows(
        "SELECT payload FROM outbox WHERE event_type = :kind"
        " AND (payload -> 'data' ->> 'customer_id')::bigint = :id ORDER BY id",
        kind=kind,
        id=customer_id,
    )


@contextmanager
def grades_given(admin: Client, given: list[tuple[dict, dict]]) -> Iterator[None]:
    """While inside, each partner of ``given`` has a grade of its own with the values paired
    with it (``lead_weight``, ``max_protected_customers``, ``protection_days``)."""
    codes = {unique("g").replace("_", "-")[:20]: (partner, values) for partner, values in given}
    grades = ok(admin.get("/api/v1/partner-grades"))
    mine = [{"code": code, "name": "分配测试", **values} for code, (_, values) in codes.items()]
    ok(admin.put("/api/v1/partner-grades", {"grades": [*grades, *mine]}))
    for code, (partner, _) in codes.items():
        ok(admin.patch(f"/api/v1/partners/{partner['id']}", {"grade": code}))
    try:
        yield
    finally:
        for partner, _ in codes.values():
            ok(admin.patch(f"/api/v1/partners/{partner['id']}", {"grade": None}))
        current = ok(admin.get("/api/v1/partner-grades"))
        ok(
            admin.put(
                "/api/v1/partner-grades", {"grades": [g for g in current if g["code"] not in codes]}
            )
        )
