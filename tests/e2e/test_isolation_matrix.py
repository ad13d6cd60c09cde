"""The tenant isolation matrix over HTTP: every gateway route, partner B and a regional HQ
user (区域经理) of B's region against partner A.

The tables at the top say, for the routes of the real app (``gateway.app.create_app``):

- ``ID_ROUTES``: every route and method addressing a tenant row by id, with the rows of A
  it is tried on and what each of B's roles must get. B gets exactly what it gets for an
  id that does not exist (status, code, title, type, detail but for the id, nothing of A's
  data), 404 or a 403 given before any lookup; after a mutating request A's row reads as
  it did before. ``NOT_TENANT_OWNED``: the other routes with a ``<...>`` in the path, and
  why.
- ``LIST_ROUTES``: every route that answers a collection or a report (JSON, CSV, XLSX),
  with queries pointing at A (``partner_id``, A's names, codes, ids). B sees none of A's
  rows, ids or markers, while A's user of the same role, sending the same query, does.
  ``SHARED_ROUTES`` (reference data every partner reads alike) and ``NOT_COLLECTIONS``
  are the other GET routes without an id.
- ``MASS_ASSIGNMENT``: every body route B may call, sent each field that does not belong
  to it (422 naming the field, nothing made or changed), and the fields that do belong
  but may not point at A (``MassRow.guarded``). HQ-only body routes refuse B (403)
  whatever it sends.

The regional HQ user (``REGIONAL``, its role's regions covering B's city and not A's, its
permissions those of ``hq_admin``) is a third column of ``ID_ROUTES`` and ``LIST_ROUTES``:
on A's rows it gets what it gets for an id that does not exist, 404, or a 403 before any
lookup where the route needs a permission it cannot hold (a national one,
``catalogue.NATIONAL_ONLY``, or a partner's); in the lists it sees none of A's rows, while
it sees B's where B's own admin does (the control that the column is not vacuous).
``REGIONAL_GUARDS``: the fields of HQ routes the regional user may call that name another
partner (a receiver, a parent, an assignee), pointed at A from rows in its sight: refused
as a partner that does not exist is, nothing changed.

A route added to the gateway without its row fails one of the ``test_every_*_has_a_row`` tests.
The world (tests/support/isolation_world.py) is made once for the module.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from openpyxl import load_workbook

from gateway.app import create_app
from services.common.config import get_settings
from services.partners.catalogue import HQ, NATIONAL_ONLY, PERMISSIONS_BY_CODE
from tests.support.client import Client
from tests.support.fake_data import mobile, uscc
from tests.support.isolation_world import (
    A_CITY,
    A_DISTRICT,
    B_CITY,
    B_DISTRICT,
    CHANNELS,
    CUSTOMERS,
    EXTENSIONS,
    NOTIFICATIONS,
    ORDERS,
    PARTNER_ROLES,
    QUIET_EVENTS,
    SETTLED_PERIOD,
    IsolationWorld,
    Side,
    build_world,
    items,
    ok,
)
from tests.support.waiting import wait_for
from tests.support.world import PASSWORD

W = IsolationWorld
MISSING_ID = 999_999_999
ADMIN, SALES = PARTNER_ROLES
REGIONAL = "regional_hq"  # the regional HQ user (isolation_world.Regional)
WHO = (*PARTNER_ROLES, REGIONAL)

# What B's roles and the regional user get on A's row (and on a row that does not exist).
NOT_FOUND = {ADMIN: 404, SALES: 404, REGIONAL: 404}
# HQ routes: the gateway refuses partner users before any lookup; the regional user holds
# the permission and is answered by its scope.
HQ_ONLY = {ADMIN: 403, SALES: 403, REGIONAL: 404}
# HQ routes of a national permission (NATIONAL_ONLY): the regional user is refused too.
NATIONAL = {ADMIN: 403, SALES: 403, REGIONAL: 403}
# Routes of a partner's permission (customer.create, order.create, lead.claim, pool.claim):
# an HQ user holds none, refused by the gateway before any lookup.
PARTNERS_ONLY = {ADMIN: 404, SALES: 404, REGIONAL: 403}
# partner_sales lacks user.manage, checked first; national only.
USER_MANAGERS = {ADMIN: 404, SALES: 403, REGIONAL: 403}
CONFIRMERS = {ADMIN: 404, SALES: 403, REGIONAL: 403}  # commission.confirm: partners' only
READERS = {ADMIN: 200, SALES: 403, REGIONAL: 200}  # lists of report.read
USER_READERS = {ADMIN: 200, SALES: 403, REGIONAL: 403}  # the users list: user.manage
EVERYONE = {ADMIN: 200, SALES: 200, REGIONAL: 200}

ORDERS_ALL = ("order.draft", "order.submitted", "order.approved")
CUSTOMERS_ALL = ("customer.pending", "customer.protected", "customer.ordered", "customer.released")
LEADS_ALL = ("lead.assigned", "lead.queued")
CHANNELS_ALL = ("channel.partner", "channel.admin_own", "channel.sales_own")


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


@dataclass(frozen=True)
class IdRow:
    rows: tuple[str, ...]  # labels of A's rows (isolation_world.Side.rows) it is tried on
    expect: dict[str, int]
    body: Callable[[W], dict] | None = None


# (method, rule) -> IdRow. The rows named are in the state in which their owner could do
# the action, so that a request that got through would change them. The regional user's
# column differs from B's on HQ routes (it may call them: its scope answers, 404) and on
# partners' routes (it holds no partner permission: 403 before any lookup).
ID_ROUTES: dict[tuple[str, str], IdRow] = {
    ("GET", "/api/v1/partners/<int:partner_id>"): IdRow(("partner",), NOT_FOUND),
    ("PATCH", "/api/v1/partners/<int:partner_id>"): IdRow(
        ("partner",), HQ_ONLY, lambda w: {"name": "改名"}
    ),
    ("POST", "/api/v1/partners/<int:partner_id>/suspend"): IdRow(("partner",), HQ_ONLY),
    ("POST", "/api/v1/partners/<int:partner_id>/activate"): IdRow(("partner",), HQ_ONLY),
    ("POST", "/api/v1/partners/<int:partner_id>/terminate"): IdRow(
        ("partner",), HQ_ONLY, lambda w: {"customers": "release", "reason": "终止合作"}
    ),
    ("GET", "/api/v1/partners/<int:partner_id>/handover"): IdRow(("partner",), HQ_ONLY),
    ("PUT", "/api/v1/partners/<int:partner_id>/territory"): IdRow(
        ("partner",), HQ_ONLY, lambda w: {"territory": [B_CITY]}
    ),
    ("GET", "/api/v1/partners/<int:partner_id>/credit"): IdRow(("partner.credit",), NOT_FOUND),
    ("PUT", "/api/v1/partners/<int:partner_id>/credit"): IdRow(
        ("partner.credit",), HQ_ONLY, lambda w: {"limit": "1.00"}
    ),
    ("GET", "/api/v1/users/<int:user_id>"): IdRow(
        ("user.partner_admin", "user.partner_sales"), USER_MANAGERS
    ),
    ("PATCH", "/api/v1/users/<int:user_id>"): IdRow(
        ("user.partner_admin", "user.partner_sales"),
        USER_MANAGERS,
        lambda w: {"display_name": "改名", "active": False},
    ),
    ("PATCH", "/api/v1/roles/<int:role_id>"): IdRow(
        ("role",), NATIONAL, lambda w: {"permissions": ["report.read"]}
    ),
    ("PATCH", "/api/v1/products/<int:product_id>"): IdRow(
        ("product",), NATIONAL, lambda w: {"list_price": "1.00"}
    ),
    # A's customer in the pool is a row of no partner in A's region: neither B nor the
    # regional user (whose regions do not hold it) tells it from one that does not exist.
    ("GET", "/api/v1/customers/<int:customer_id>"): IdRow(CUSTOMERS_ALL, NOT_FOUND),
    ("POST", "/api/v1/customers/<int:customer_id>/transfer"): IdRow(
        ("customer.protected",), HQ_ONLY, lambda w: {"partner_id": w.b.id, "reason": "想要"}
    ),
    ("POST", "/api/v1/customers/<int:customer_id>/reveal"): IdRow(
        CUSTOMERS_ALL, NOT_FOUND, lambda w: {"reason": "核实联系方式"}
    ),
    ("POST", "/api/v1/customers/<int:customer_id>/release"): IdRow(
        ("customer.protected", "customer.ordered"), PARTNERS_ONLY, lambda w: {"reason": "不要了"}
    ),
    ("GET", "/api/v1/customers/<int:customer_id>/follow-ups"): IdRow(CUSTOMERS_ALL, NOT_FOUND),
    ("POST", "/api/v1/customers/<int:customer_id>/follow-ups"): IdRow(
        ("customer.pending", "customer.protected"),
        PARTNERS_ONLY,
        lambda w: {"kind": "call", "body": "打个电话"},
    ),
    # customer.protected has an extension pending (a request that got through: 409),
    # customer.ordered none (201).
    ("POST", "/api/v1/customers/<int:customer_id>/extensions"): IdRow(
        ("customer.protected", "customer.ordered"),
        PARTNERS_ONLY,
        lambda w: {"days": 10, "reason": "还要谈"},
    ),
    # A's customer in the pool is outside B's territory: B cannot claim it, nor tell it
    # from a customer that does not exist.
    ("POST", "/api/v1/pool/<int:customer_id>/claim"): IdRow(("customer.released",), PARTNERS_ONLY),
    ("GET", "/api/v1/filings/<int:filing_id>"): IdRow(
        ("filing.pending", "filing.protected", "filing.ordered"), NOT_FOUND
    ),
    ("POST", "/api/v1/filings/<int:filing_id>/approve"): IdRow(
        ("filing.pending",), HQ_ONLY, lambda w: {"comment": "同意"}
    ),
    ("POST", "/api/v1/filings/<int:filing_id>/reject"): IdRow(
        ("filing.pending",), HQ_ONLY, lambda w: {"comment": "不同意"}
    ),
    ("GET", "/api/v1/extensions/<int:extension_id>"): IdRow(("extension.pending",), NOT_FOUND),
    ("POST", "/api/v1/extensions/<int:extension_id>/approve"): IdRow(
        ("extension.pending",), HQ_ONLY, lambda w: {"comment": "同意"}
    ),
    ("POST", "/api/v1/extensions/<int:extension_id>/reject"): IdRow(
        ("extension.pending",), HQ_ONLY, lambda w: {"comment": "不同意"}
    ),
    # lead.queued: declined by A, waiting in the HQ queue, a row of no partner in A's region.
    ("GET", "/api/v1/leads/<int:lead_id>"): IdRow(LEADS_ALL, NOT_FOUND),
    ("POST", "/api/v1/leads/<int:lead_id>/claim"): IdRow(("lead.assigned",), PARTNERS_ONLY),
    ("POST", "/api/v1/leads/<int:lead_id>/decline"): IdRow(
        ("lead.assigned",), PARTNERS_ONLY, lambda w: {"reason": "不要"}
    ),
    ("POST", "/api/v1/leads/<int:lead_id>/assign"): IdRow(
        LEADS_ALL, HQ_ONLY, lambda w: {"partner_id": w.b.id, "reason": "给海口"}
    ),
    ("GET", "/api/v1/orders/<int:order_id>"): IdRow(ORDERS_ALL, NOT_FOUND),
    ("PATCH", "/api/v1/orders/<int:order_id>"): IdRow(
        ("order.draft",), PARTNERS_ONLY, lambda w: {"notes": "改了"}
    ),
    ("POST", "/api/v1/orders/<int:order_id>/submit"): IdRow(("order.draft",), PARTNERS_ONLY),
    ("POST", "/api/v1/orders/<int:order_id>/approve"): IdRow(
        ("order.submitted",), HQ_ONLY, lambda w: {"comment": "同意"}
    ),
    ("POST", "/api/v1/orders/<int:order_id>/reject"): IdRow(
        ("order.submitted",), HQ_ONLY, lambda w: {"comment": "不同意"}
    ),
    ("POST", "/api/v1/orders/<int:order_id>/complete"): IdRow(("order.approved",), HQ_ONLY),
    ("POST", "/api/v1/orders/<int:order_id>/cancel"): IdRow(
        ORDERS_ALL, NOT_FOUND, lambda w: {"reason": "不要了"}
    ),
    ("GET", "/api/v1/orders/<int:order_id>/comments"): IdRow(ORDERS_ALL, NOT_FOUND),
    ("POST", "/api/v1/orders/<int:order_id>/comments"): IdRow(
        ORDERS_ALL, NOT_FOUND, lambda w: {"body": "看看"}
    ),
    ("GET", "/api/v1/orders/<int:order_id>/payment-plan"): IdRow(("order.payments",), NOT_FOUND),
    ("PUT", "/api/v1/orders/<int:order_id>/payment-plan"): IdRow(
        ("order.payments",),
        HQ_ONLY,
        lambda w: {"installments": [{"due_date": "2099-01-01", "amount": "9600.00"}]},
    ),
    ("GET", "/api/v1/orders/<int:order_id>/payments"): IdRow(("order.payments",), NOT_FOUND),
    ("POST", "/api/v1/orders/<int:order_id>/payments"): IdRow(
        ("order.payments",),
        HQ_ONLY,
        lambda w: {"amount": "1.00", "received_on": _today(), "method": "cash"},
    ),
    ("GET", "/api/v1/commissions/<int:entry_id>"): IdRow(
        ("entry.order", "entry.settled"), NOT_FOUND
    ),
    ("GET", "/api/v1/commission/statements/<int:statement_id>"): IdRow(
        ("statement.issued",), NOT_FOUND
    ),
    ("POST", "/api/v1/commission/statements/<int:statement_id>/confirm"): IdRow(
        ("statement.issued",), CONFIRMERS
    ),
    ("POST", "/api/v1/commission/statements/<int:statement_id>/pay"): IdRow(
        ("statement.issued",), NATIONAL, lambda w: {"payment_ref": "CMB-1"}
    ),
    ("POST", "/api/v1/notifications/<int:message_id>/read"): IdRow(
        ("message.partner_admin", "message.partner_sales"), NOT_FOUND
    ),
    ("GET", "/api/v1/notification-channels/<int:channel_id>"): IdRow(CHANNELS_ALL, NOT_FOUND),
    ("PATCH", "/api/v1/notification-channels/<int:channel_id>"): IdRow(
        CHANNELS_ALL, NOT_FOUND, lambda w: {"active": False}
    ),
    ("DELETE", "/api/v1/notification-channels/<int:channel_id>"): IdRow(CHANNELS_ALL, NOT_FOUND),
    ("GET", "/api/v1/notification-channels/<int:channel_id>/deliveries"): IdRow(
        CHANNELS_ALL, NOT_FOUND
    ),
}

NOT_TENANT_OWNED: dict[tuple[str, str], str] = {
    ("GET", "/<page:path>"): "the web console's files (its page for a route of its own): "
    "the same for everyone, no data",
    ("GET", "/api/v1/approval-flows/<string:kind>"): "kind names a flow (filing, order) of "
    "HQ's configuration, not a row of a partner; HQ only, and national (flow.manage): "
    "the regional user is refused too",
    ("PUT", "/api/v1/approval-flows/<string:kind>"): "as GET; HQ only, national",
    ("PUT", "/api/v1/partner-types/<string:code>"): "code names a partner type, reference "
    "data every partner shares; HQ only, and a setting of the whole country: the regional "
    "user is refused (403 regional_staff, tests/e2e/test_regional_hq.py)",
    ("GET", "/api/v1/products/<int:product_id>"): "HQ's product catalogue is read by every "
    "partner alike (PATCH is in ID_ROUTES: HQ only)",
    ("GET", "/api/v1/leads/imports/<path:job_id>"): "a lead import is HQ's own work, no "
    "partner's row; HQ only (lead.create, national: the regional user is refused too)",
    ("GET", "/api/v1/roles/<int:role_id>"): "roles are global; a partner admin reads the "
    "partner roles it may hand out, like every other partner admin (PATCH: HQ only)",
}


@dataclass(frozen=True)
class ListRow:
    kind: str | None  # the kind of the listed items (their ids are checked), if any
    queries: Callable[[W], list[dict]]
    expect: dict[str, int] = field(default_factory=lambda: EVERYONE)
    #: Whether A's user of the same role sees A's rows with a query (the control that the
    #: query reaches A's rows at all): always, never, or as (role, query) says.
    control: bool | Callable[[str, dict], bool] = True
    #: Whether the regional user sees B's rows where B's admin does, with the same query
    #: (False where what it lists is its own, not its partners': its messages, its
    #: channels).
    regional_control: bool = True

    def controls(self, role: str, query: dict) -> bool:
        return self.control(role, query) if callable(self.control) else self.control


def _a(w: W, label: str) -> int:
    return w.a.rows[label].id


LIST_ROUTES: dict[str, ListRow] = {
    "/api/v1/partners": ListRow(
        "partner",
        lambda w: [
            {},
            {"q": w.a.partner["code"]},
            {"q": w.a.partner["name"]},
            {"region_code": A_CITY},
            {"region_code": A_DISTRICT},
            {"status": "active", "type": "city_partner"},
        ],
    ),
    "/api/v1/users": ListRow(
        "user",
        lambda w: [
            {},
            {"partner_id": w.a.id},
            {"q": w.a.users[SALES]["username"]},
            {"active": "true"},
        ],
        USER_READERS,
    ),
    "/api/v1/customers": ListRow(
        "customer",
        lambda w: [
            {},
            {"partner_id": w.a.id},
            {"q": w.a.rows["customer.ordered"].read()["name"]},
            {"q": w.a.rows["customer.pending"].read()["phone"]},
            {"region_code": A_CITY},
            {"region_code": A_DISTRICT},
            {"status": "protected", "source": "partner"},
            {"status": "pending"},
        ],
    ),
    "/api/v1/pool": ListRow(
        "customer",
        lambda w: [
            {},
            {"region_code": A_CITY},
            {"region_code": A_DISTRICT},
            {"q": w.a.rows["customer.released"].read()["name"]},
            {"industry": "软件"},
        ],
        # Only a query that names what A's released customer is shows it to A.
        control=lambda role, query: "industry" not in query,
    ),
    "/api/v1/filings": ListRow(
        "filing",
        lambda w: [{}, {"partner_id": w.a.id}, {"status": "pending"}, {"status": "approved"}],
    ),
    "/api/v1/leads": ListRow(
        "lead",
        lambda w: [
            {},
            {"partner_id": w.a.id},
            {"status": "assigned"},
            {"status": "unassigned"},
            {"q": w.a.rows["lead.assigned"].read()["name"]},
        ],
        # A declined lead.queued: A sees it no more; its assigned lead is in no such list.
        control=lambda role, query: query.get("status") != "unassigned",
    ),
    "/api/v1/extensions": ListRow(
        "extension",
        lambda w: [
            {},
            {"partner_id": w.a.id},
            {"customer_id": _a(w, "customer.protected")},
            {"status": "pending"},
        ],
    ),
    "/api/v1/orders": ListRow(
        "order",
        lambda w: [
            {},
            {"partner_id": w.a.id},
            {"customer_id": _a(w, "customer.ordered")},
            {"q": w.a.rows["order.draft"].read()["contract_no"]},
            {"region_code": A_DISTRICT},
            {"status": "draft"},
            {"status": "approved", "from": "2020-01-01"},
        ],
    ),
    "/api/v1/commissions": ListRow(
        "entry",
        lambda w: [
            {},
            {"partner_id": w.a.id},
            {"order_id": _a(w, "order.approved")},
            {"statement_id": _a(w, "statement.issued")},
            {"period": SETTLED_PERIOD, "settled": "true"},
        ],
    ),
    "/api/v1/payments": ListRow(
        "payment",
        lambda w: [
            {},
            {"partner_id": w.a.id},
            {"order_id": _a(w, "order.approved")},
            {"kind": "receipt", "from": "2020-01-01"},
        ],
    ),
    "/api/v1/commission/statements": ListRow(
        "statement",
        lambda w: [
            {},
            {"partner_id": w.a.id},
            {"period": SETTLED_PERIOD, "status": "issued"},
        ],
    ),
    "/api/v1/notifications": ListRow(
        "message",
        lambda w: [{}, {"unread": "true"}, {"kind": "lead_assigned"}],
        regional_control=False,
    ),
    "/api/v1/notifications/unread-count": ListRow(
        None, lambda w: [{}], control=False, regional_control=False
    ),
    "/api/v1/notification-channels": ListRow(
        "channel",
        lambda w: [{}, {"scope": "user"}, {"scope": "partner"}],
        # partner_sales does not manage its partner's channels: it lists its own only.
        control=lambda role, query: not (role == SALES and query.get("scope") == "partner"),
        regional_control=False,
    ),
    "/api/v1/reports/sales": ListRow(
        None,
        lambda w: [
            {"group_by": "partner,city,product,status"},
            {"group_by": "partner", "partner_id": w.a.id},
            {"group_by": "partner,month", "status": "draft,submitted,approved"},
            {"group_by": "partner,product", "format": "csv"},
            {"group_by": "partner", "partner_id": w.a.id, "format": "csv"},
            {"group_by": "partner,city", "format": "xlsx"},
            {"group_by": "partner", "partner_id": w.a.id, "format": "xlsx"},
        ],
        READERS,
    ),
    # What A's approved order still owes (9,600 less its 1,000 receipt), and the receipt.
    "/api/v1/reports/receivables": ListRow(
        None,
        lambda w: [
            {"group_by": "partner,city"},
            {"group_by": "partner", "partner_id": w.a.id},
            {"group_by": "partner", "format": "csv"},
            {"group_by": "partner", "partner_id": w.a.id, "format": "xlsx"},
        ],
        READERS,
    ),
    "/api/v1/reports/collections": ListRow(
        None,
        lambda w: [
            {"group_by": "partner,month"},
            {"group_by": "partner", "partner_id": w.a.id},
            {"group_by": "partner", "from": "2020-01-01", "format": "csv"},
            {"group_by": "partner,city", "format": "xlsx"},
        ],
        READERS,
    ),
    "/api/v1/reports/orders-summary": ListRow(
        None, lambda w: [{}, {"partner_id": w.a.id}, {"from": "2020-01-01"}], READERS
    ),
    "/api/v1/reports/commissions": ListRow(
        None,
        lambda w: [
            {},
            {"group_by": "partner,period,source"},
            {"partner_id": w.a.id},
            {"from": SETTLED_PERIOD, "to": SETTLED_PERIOD},
            {"format": "csv"},
            {"partner_id": w.a.id, "format": "csv"},
            {"group_by": "partner,source", "format": "xlsx"},
            {"partner_id": w.a.id, "format": "xlsx"},
        ],
        READERS,
    ),
    "/api/v1/commission/rates": ListRow(
        None, lambda w: [{}, {"partner_id": w.a.id}], NATIONAL, control=False
    ),
    "/api/v1/commission/rates/in-force": ListRow(
        None, lambda w: [{"partner_id": w.a.id}], NATIONAL, control=False
    ),
    "/api/v1/audit": ListRow(
        None,
        lambda w: [
            {},
            {"actor_id": w.a.users[ADMIN]["id"]},
            {"subject_type": "partner", "subject_id": str(w.a.id)},
        ],
        NATIONAL,
        control=False,
    ),
}

# Reference data every partner reads alike: B's answer equals A's, query for query.
SHARED_ROUTES: dict[str, tuple[Callable[[W], list[dict]], dict[str, int]]] = {
    "/api/v1/products": (lambda w: [{}, {"q": w.product["sku"]}], EVERYONE),
    # A partner admin reads the roles it hands out (user.manage); HQ needs role.manage,
    # national, which the regional user does not hold.
    "/api/v1/roles": (lambda w: [{}, {"scope": "partner"}], USER_READERS),
    "/api/v1/partner-types": (lambda w: [{}], EVERYONE),
    "/api/v1/partner-grades": (lambda w: [{}], EVERYONE),
    "/api/v1/permissions": (lambda w: [{}], EVERYONE),
    "/api/v1/regions": (lambda w: [{}, {"parent": "450000"}, {"parent": A_CITY}], EVERYONE),
    "/api/v1/regions/resolve": (lambda w: [{"address": "广西南宁市兴宁区民主路1号"}], EVERYONE),
}

NOT_COLLECTIONS: dict[str, str] = {
    "/api/v1/me": "the caller's own profile (test_me_is_about_b_only)",
    "/api/v1/leads/imports": "HQ's lead imports, no partner's rows; HQ only (lead.create)",
    "/": "the web console's page, no data",
    "/docs": "the API's documentation page",
    "/openapi.json": "the API's description",
    "/healthz": "process liveness, no data",
    "/readyz": "service readiness, no data",
}

# Fields a body route never takes from a partner (unless its schema has them: GUARDED).
FOREIGN_FIELDS: dict[str, Callable[[W], Any]] = {
    "partner_id": lambda w: w.a.id,
    "owner_partner_id": lambda w: w.a.id,
    "status": lambda w: "approved",
    "source": lambda w: "hq",
    "roles": lambda w: ["hq_admin"],
    "id": lambda w: _a(w, "order.approved"),
    "created_at": lambda w: "2020-01-01T00:00:00Z",
}


@dataclass(frozen=True)
class Guard:
    """A field of the route's schema that may not point at A: ``value`` does, with the
    answer's ``code``; ``missing`` (if given) is the value of a row that does not exist,
    which must be answered the same."""

    value: Callable[[W], Any]
    code: str
    missing: Any = None


@dataclass(frozen=True)
class MassRow:
    client: str  # which of B's clients sends it: a role, or "anonymous"
    path: Callable[[W], str]
    body: Callable[[W], dict]  # a valid body
    #: What a request that got through would make or change, read before and after.
    probe: Callable[[W], Any] = lambda w: None
    guarded: dict[str, Guard] = field(default_factory=dict)


def _b(w: W, label: str) -> int:
    return w.b.rows[label].id


def _total(client: Client, path: str, **query: Any) -> int:
    return ok(client.get(path, params=query))["total"]


MASS_ASSIGNMENT: dict[tuple[str, str], MassRow] = {
    ("POST", "/api/v1/auth/login"): MassRow(
        "anonymous",
        lambda w: "/api/v1/auth/login",
        lambda w: {"username": w.b.users[ADMIN]["username"], "password": PASSWORD},
    ),
    ("POST", "/api/v1/auth/refresh"): MassRow(
        "anonymous", lambda w: "/api/v1/auth/refresh", lambda w: {"refresh_token": "r" * 40}
    ),
    ("POST", "/api/v1/auth/logout"): MassRow(
        ADMIN, lambda w: "/api/v1/auth/logout", lambda w: {"refresh_token": "r" * 40}
    ),
    # B's admin's own password: no field names another user (nor A's), and nothing sent
    # with a foreign field ends B's admin's session.
    ("POST", "/api/v1/me/password"): MassRow(
        ADMIN,
        lambda w: "/api/v1/me/password",
        lambda w: {"current_password": PASSWORD, "new_password": "Copper-meadow-4172"},
        lambda w: w.b.clients[ADMIN].get("/api/v1/me").status_code,
    ),
    ("POST", "/api/v1/customers/check"): MassRow(
        ADMIN, lambda w: "/api/v1/customers/check", lambda w: {"name": "海口查重有限公司"}
    ),
    ("POST", "/api/v1/customers"): MassRow(
        ADMIN,
        lambda w: "/api/v1/customers",
        lambda w: {
            "name": f"海口{w.b.partner['code']}新客户有限公司",
            "uscc": uscc(B_DISTRICT),
            "contact_name": "陈",
            "phone": mobile(),
            "region_code": B_DISTRICT,
        },
        lambda w: _total(w.hq, "/api/v1/customers", q=f"海口{w.b.partner['code']}新客户"),
        {"region_code": Guard(lambda w: A_DISTRICT, "region_not_in_territory")},
    ),
    ("POST", "/api/v1/users"): MassRow(
        ADMIN,
        lambda w: "/api/v1/users",
        lambda w: {
            "username": f"{w.b.partner['code']}-new",
            "password": PASSWORD,
            "display_name": "新人",
            "roles": ["partner_sales"],
        },
        lambda w: _total(w.hq, "/api/v1/users", q=f"{w.b.partner['code']}-new"),
        {
            "partner_id": Guard(lambda w: w.a.id, "invalid_input", MISSING_ID),
            "roles": Guard(lambda w: ["hq_admin"], "invalid_roles"),
        },
    ),
    ("PATCH", "/api/v1/users/<int:user_id>"): MassRow(
        ADMIN,
        lambda w: f"/api/v1/users/{_b(w, 'user.partner_sales')}",
        lambda w: {"display_name": "改名"},
        lambda w: w.b.rows["user.partner_sales"].read(),
        {"roles": Guard(lambda w: ["hq_admin"], "invalid_roles")},
    ),
    ("POST", "/api/v1/customers/<int:customer_id>/reveal"): MassRow(
        ADMIN,
        lambda w: f"/api/v1/customers/{_b(w, 'customer.protected')}/reveal",
        lambda w: {"reason": "核实联系方式"},
        lambda w: w.b.rows["customer.protected"].read(),
    ),
    ("POST", "/api/v1/customers/<int:customer_id>/release"): MassRow(
        ADMIN,
        lambda w: f"/api/v1/customers/{_b(w, 'customer.protected')}/release",
        lambda w: {"reason": "不要了"},
        lambda w: w.b.rows["customer.protected"].read(),
    ),
    ("POST", "/api/v1/customers/<int:customer_id>/follow-ups"): MassRow(
        ADMIN,
        lambda w: f"/api/v1/customers/{_b(w, 'customer.protected')}/follow-ups",
        lambda w: {"kind": "call", "body": "打个电话"},
        lambda w: _total(w.hq, f"/api/v1/customers/{_b(w, 'customer.protected')}/follow-ups"),
    ),
    ("POST", "/api/v1/leads/<int:lead_id>/decline"): MassRow(
        ADMIN,
        lambda w: f"/api/v1/leads/{_b(w, 'lead.assigned')}/decline",
        lambda w: {"reason": "不要"},
        lambda w: w.b.rows["lead.assigned"].read(),
    ),
    ("POST", "/api/v1/orders"): MassRow(
        ADMIN,
        lambda w: ORDERS,
        lambda w: {
            "customer_id": _b(w, "customer.protected"),
            "contract_no": f"HT-{w.b.partner['code']}",
            "lines": [{"product_id": w.product["id"], "quantity": 1, "unit_price": "5000.00"}],
        },
        lambda w: _total(w.hq, ORDERS, q=f"HT-{w.b.partner['code']}"),
        {
            "customer_id": Guard(
                lambda w: _a(w, "customer.ordered"), "customer_not_owned", MISSING_ID
            )
        },
    ),
    ("POST", "/api/v1/customers/<int:customer_id>/extensions"): MassRow(
        ADMIN,
        lambda w: f"{CUSTOMERS}/{_b(w, 'customer.protected')}/extensions",
        lambda w: {"days": 10, "reason": "还要谈"},
        lambda w: _total(w.b.clients[ADMIN], EXTENSIONS, customer_id=_b(w, "customer.protected")),
    ),
    ("PATCH", "/api/v1/orders/<int:order_id>"): MassRow(
        ADMIN,
        lambda w: f"{ORDERS}/{_b(w, 'order.draft')}",
        lambda w: {"notes": "改了"},
        lambda w: w.b.rows["order.draft"].read(),
    ),
    ("POST", "/api/v1/orders/<int:order_id>/cancel"): MassRow(
        ADMIN,
        lambda w: f"{ORDERS}/{_b(w, 'order.draft')}/cancel",
        lambda w: {"reason": "不要了"},
        lambda w: w.b.rows["order.draft"].read(),
    ),
    ("POST", "/api/v1/orders/<int:order_id>/comments"): MassRow(
        ADMIN,
        lambda w: f"{ORDERS}/{_b(w, 'order.draft')}/comments",
        lambda w: {"body": "评论"},
        lambda w: w.b.rows["order.draft"].read(),
    ),
    ("POST", "/api/v1/notification-channels"): MassRow(
        ADMIN,
        lambda w: CHANNELS,
        lambda w: {
            "kind": "webhook",
            "target": "http://127.0.0.1:9/new",
            "scope": "partner",
            "events": QUIET_EVENTS,
        },
        lambda w: [_total(c, CHANNELS) for c in (*w.a.clients.values(), *w.b.clients.values())],
    ),
    ("PATCH", "/api/v1/notification-channels/<int:channel_id>"): MassRow(
        ADMIN,
        lambda w: f"{CHANNELS}/{_b(w, 'channel.partner')}",
        lambda w: {"active": False},
        lambda w: w.b.rows["channel.partner"].read(),
    ),
}


@dataclass(frozen=True)
class RegionalGuard:
    """A field of an HQ route's body that the regional user may not point at A: sent on a
    row in its sight (``path``), ``body`` (pointing at A) is refused as ``missing`` (the
    same body pointing at nothing) is, and ``probe`` reads the same after."""

    path: Callable[[W], str]
    body: Callable[[W], dict]
    missing: Callable[[W], dict]
    probe: Callable[[W], Any]


def _spare(w: W) -> str:
    return f"/api/v1/partners/{w.regional.spare['id']}"


def _new_partner(parent_id: int) -> dict:
    return {
        "code": "P-REG-NEW",
        "name": "区域新伙伴",
        "type": "city_partner",
        "territory": [B_CITY],
        "parent_id": parent_id,
    }


# (method, rule) -> the field of the regional user's request that points at A.
REGIONAL_GUARDS: dict[tuple[str, str], RegionalGuard] = {
    ("POST", "/api/v1/partners"): RegionalGuard(
        lambda w: "/api/v1/partners",
        lambda w: _new_partner(w.a.id),
        lambda w: _new_partner(MISSING_ID),
        lambda w: _total(w.hq, "/api/v1/partners", q="P-REG-NEW"),
    ),
    ("PATCH", "/api/v1/partners/<int:partner_id>"): RegionalGuard(
        _spare,
        lambda w: {"parent_id": w.a.id},
        lambda w: {"parent_id": MISSING_ID},
        lambda w: ok(w.hq.get(_spare(w))),
    ),
    # Terminating a partner of its region, its customers handed to A.
    ("POST", "/api/v1/partners/<int:partner_id>/terminate"): RegionalGuard(
        lambda w: f"{_spare(w)}/terminate",
        lambda w: {"customers": "transfer", "to_partner_id": w.a.id, "reason": "合并"},
        lambda w: {"customers": "transfer", "to_partner_id": MISSING_ID, "reason": "合并"},
        lambda w: (ok(w.hq.get(_spare(w))), w.a.rows["partner"].read()),
    ),
    ("POST", "/api/v1/customers/<int:customer_id>/transfer"): RegionalGuard(
        lambda w: f"{CUSTOMERS}/{_b(w, 'customer.protected')}/transfer",
        lambda w: {"partner_id": w.a.id, "reason": "给南宁"},
        lambda w: {"partner_id": MISSING_ID, "reason": "给南宁"},
        lambda w: w.b.rows["customer.protected"].read(),
    ),
    ("POST", "/api/v1/leads/<int:lead_id>/assign"): RegionalGuard(
        lambda w: f"/api/v1/leads/{_b(w, 'lead.assigned')}/assign",
        lambda w: {"partner_id": w.a.id, "reason": "给南宁"},
        lambda w: {"partner_id": MISSING_ID, "reason": "给南宁"},
        lambda w: w.b.rows["lead.assigned"].read(),
    ),
}


# -- the routes of the real app ---------------------------------------------------------


class _NoRpc:
    def call(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the route table needs no service")


APP = create_app(get_settings(), rpc=_NoRpc())
ENDPOINTS: dict[tuple[str, str], str] = {
    (method, rule.rule): rule.endpoint
    for rule in APP.url_map.iter_rules()
    if rule.endpoint != "static"
    for method in rule.methods - {"HEAD", "OPTIONS"}
}


def _has_id(rule: str) -> bool:
    return "<" in rule


def _body_schema(key: tuple[str, str]) -> Any:
    view = APP.view_functions[ENDPOINTS[key]]
    for parameter in getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", []):
        if parameter.get("in") == "json":
            schema = parameter["schema"]
            return schema() if isinstance(schema, type) else schema
    return None


def _body_fields(key: tuple[str, str]) -> set[str]:
    schema = _body_schema(key)
    return {f.data_key or name for name, f in schema.fields.items() if not f.dump_only}


def _hq_only(key: tuple[str, str]) -> bool:
    access = getattr(APP.view_functions[ENDPOINTS[key]], "prm_access", None)
    return access is not None and access[1]


def _regional_may_call(key: tuple[str, str]) -> bool:
    """Whether the gateway lets the regional user through: the route's permission, if any,
    is an HQ one and not national (``catalogue.NATIONAL_ONLY``)."""
    access = getattr(APP.view_functions[ENDPOINTS[key]], "prm_access", None)
    permission = access and access[0]
    if not permission:
        return True
    return permission not in NATIONAL_ONLY and HQ in PERMISSIONS_BY_CODE[permission].scopes


def _partner_body_routes() -> set[tuple[str, str]]:
    return {
        key
        for key in ENDPOINTS
        if key[0] in ("POST", "PUT", "PATCH") and _body_schema(key) is not None
        if not _hq_only(key)
    }


def _hq_body_routes() -> list[tuple[str, str]]:
    return sorted(
        key
        for key in ENDPOINTS
        if key[0] in ("POST", "PUT", "PATCH") and not _has_id(key[1]) and _hq_only(key)
    )


def test_every_id_route_has_a_row() -> None:
    id_routes = {key for key in ENDPOINTS if _has_id(key[1])}
    assert id_routes - set(ID_ROUTES) - set(NOT_TENANT_OWNED) == set(), "id routes without a row"
    assert set(ID_ROUTES) - id_routes == set(), "rows without a route"
    assert set(NOT_TENANT_OWNED) - id_routes == set(), "rows without a route"
    assert set(ID_ROUTES) & set(NOT_TENANT_OWNED) == set()
    for key, row in ID_ROUTES.items():
        # An HQ route refuses every partner user before it looks anything up.
        assert (row.expect[ADMIN] == row.expect[SALES] == 403) == _hq_only(key), key
        # ...and a route of a permission the regional user cannot hold refuses it.
        assert _regional_may_call(key) or row.expect[REGIONAL] == 403, key
        assert set(row.expect) == set(WHO), key
        assert (row.body is not None) == (_body_schema(key) is not None), key


def test_every_get_route_without_an_id_has_a_row() -> None:
    plain = {rule for method, rule in ENDPOINTS if method == "GET" and not _has_id(rule)}
    rows = [set(LIST_ROUTES), set(SHARED_ROUTES), set(NOT_COLLECTIONS)]
    assert plain - set().union(*rows) == set(), "GET routes without a row"
    assert set().union(*rows) - plain == set(), "rows without a route"
    assert sum(len(r) for r in rows) == len(set().union(*rows)), "a route in two tables"
    for path, row in LIST_ROUTES.items():
        assert set(row.expect) == set(WHO), path
        assert _regional_may_call(("GET", path)) or row.expect[REGIONAL] == 403, path


def test_every_body_route_a_partner_may_call_has_a_row() -> None:
    assert _partner_body_routes() - set(MASS_ASSIGNMENT) == set(), "body routes without a row"
    assert set(MASS_ASSIGNMENT) - _partner_body_routes() == set(), "rows without a route"
    for key, row in MASS_ASSIGNMENT.items():
        in_schema = set(FOREIGN_FIELDS) & _body_fields(key)
        assert in_schema <= set(row.guarded), (key, "fields of the schema without a guard")
        assert set(row.guarded) <= _body_fields(key), key


# -- the world --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def iso(admin: Client, anonymous: Client) -> IsolationWorld:
    return build_world(admin, anonymous)


def _is_problem(response: requests.Response) -> bool:
    return response.headers.get("Content-Type", "").startswith("application/problem+json")


def _text(response: requests.Response) -> str:
    """The answer as text: a workbook's cells, a CSV file, or the JSON document."""
    kind = response.headers.get("Content-Type", "")
    if kind.startswith("application/vnd.openxmlformats"):
        book = load_workbook(io.BytesIO(response.content), read_only=True)
        return "\n".join(
            "\t".join("" if value is None else str(value) for value in row)
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
        )
    if kind.startswith("application/json") or _is_problem(response):
        return json.dumps(response.json(), ensure_ascii=False)
    return response.content.decode("utf-8-sig")


PARTNER_KEYS = {"partner_id", "owner_partner_id", "assigned_partner_id", "author_partner_id"}


def _pairs(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key, inner
            yield from _pairs(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _pairs(inner)


def sightings(response: requests.Response, side: Side, kind: str | None) -> list[str]:
    """What of ``side``'s rows the answer shows: its markers, its partner id under a
    partner key, the ids of its rows of ``kind`` among the listed items."""
    text = _text(response)
    found = [marker for marker in side.markers if marker in text]
    if response.headers.get("Content-Type", "").startswith("application/json"):
        body = response.json()
        found += [f"{k}={v}" for k, v in _pairs(body) if k in PARTNER_KEYS and v == side.id]
        if kind and isinstance(body, dict):
            listed = {item.get("id") for item in body.get("items", [])}
            found += [f"{kind} {i}" for i in sorted(listed & side.ids(kind))]
    return found


# -- id routes --------------------------------------------------------------------------


def _concrete(rule: str, row_id: int) -> str:
    return re.sub(r"<[^>]+>", str(row_id), rule)


def assert_same_answer(theirs: requests.Response, missing: requests.Response, row_id: int) -> None:
    """A's row is answered exactly as a row that does not exist."""
    assert theirs.status_code == missing.status_code, (theirs.text, missing.text)
    assert _is_problem(theirs) and _is_problem(missing), theirs.text
    mine, none = theirs.json(), missing.json()
    assert mine.keys() == none.keys()
    for key in ("type", "title", "status", "code", "errors"):
        assert mine.get(key) == none.get(key), key
    detail = re.sub(rf"(?<![0-9]){row_id}(?![0-9])", "ID", mine["detail"])
    assert detail == re.sub(rf"(?<![0-9]){MISSING_ID}(?![0-9])", "ID", none["detail"])


def _client(iso: IsolationWorld, who: str) -> Client:
    """B's user of role ``who``, or the regional user."""
    return iso.regional.client if who == REGIONAL else iso.b.clients[who]


ID_CASES = [(key, role) for key in sorted(ID_ROUTES) for role in WHO]


@pytest.mark.parametrize(
    ("key", "role"), ID_CASES, ids=[f"{m} {r} {role}" for (m, r), role in ID_CASES]
)
def test_b_gets_for_a_row_what_it_gets_for_no_row(
    iso: IsolationWorld, key: tuple[str, str], role: str
) -> None:
    method, rule = key
    row = ID_ROUTES[key]
    client = _client(iso, role)
    body = row.body(iso) if row.body else None
    status = row.expect[role]
    for label in row.rows:
        target = iso.row(label)
        before = target.read()
        assert before, (label, "A's row must be there to begin with")

        theirs = client.request(method, _concrete(rule, target.id), json=body)
        missing = client.request(method, _concrete(rule, MISSING_ID), json=body)

        assert theirs.status_code == status, (label, theirs.text)
        assert theirs.json()["code"] == {403: "forbidden", 404: "not_found"}[status]
        assert_same_answer(theirs, missing, target.id)
        assert sightings(theirs, iso.a, None) == [], label
        if method != "GET":
            assert target.read() == before, (label, "A's row changed")


# -- lists and reports ------------------------------------------------------------------


LIST_CASES = [(path, role) for path in sorted(LIST_ROUTES) for role in PARTNER_ROLES]


@pytest.mark.parametrize(("path", "role"), LIST_CASES, ids=[f"{p} {r}" for p, r in LIST_CASES])
def test_b_lists_none_of_a_rows(iso: IsolationWorld, path: str, role: str) -> None:
    row = LIST_ROUTES[path]
    status = row.expect[role]
    for query in row.queries(iso):
        theirs = iso.b.clients[role].get(path, params=query)
        mine = iso.a.clients[role].get(path, params=query)

        assert theirs.status_code == status, (query, theirs.text)
        assert mine.status_code == status, (query, mine.text)
        if status != 200:
            assert theirs.json()["code"] == "forbidden"
            continue
        assert sightings(theirs, iso.a, row.kind) == [], query
        if row.controls(role, query):
            assert sightings(mine, iso.a, row.kind), (query, "A sees nothing of its own")


@pytest.mark.parametrize("path", sorted(LIST_ROUTES))
def test_the_regional_user_lists_none_of_a_rows_and_b_rows_as_b_does(
    iso: IsolationWorld, path: str
) -> None:
    row = LIST_ROUTES[path]
    status = row.expect[REGIONAL]
    seen_b = False
    # The queries pointing at A's partner, and the same pointing at B's.
    queries = row.queries(iso)
    queries += [q | {"partner_id": iso.b.id} for q in queries if q.get("partner_id") == iso.a.id]
    for query in queries:
        theirs = iso.regional.client.get(path, params=query)
        b_own = iso.b.clients[ADMIN].get(path, params=query)

        assert theirs.status_code == status, (query, theirs.text)
        if status != 200:
            assert theirs.json()["code"] == "forbidden"
            continue
        assert sightings(theirs, iso.a, row.kind) == [], query
        if row.regional_control and b_own.status_code == 200 and sightings(b_own, iso.b, row.kind):
            assert sightings(theirs, iso.b, row.kind), (query, "B's rows out of its sight")
            seen_b = True
    if status == 200 and row.regional_control:
        assert seen_b, "no query shows B's rows to B's admin and the regional user"


SHARED_CASES = [(path, role) for path in sorted(SHARED_ROUTES) for role in PARTNER_ROLES]


@pytest.mark.parametrize(("path", "role"), SHARED_CASES, ids=[f"{p} {r}" for p, r in SHARED_CASES])
def test_reference_data_reads_alike_for_a_and_b(iso: IsolationWorld, path: str, role: str) -> None:
    queries, expect = SHARED_ROUTES[path]
    for query in queries(iso):
        theirs = iso.b.clients[role].get(path, params=query)
        mine = iso.a.clients[role].get(path, params=query)
        assert theirs.status_code == mine.status_code == expect[role], (query, theirs.text)
        if expect[role] == 200:
            assert theirs.json() == mine.json(), query
            assert sightings(theirs, iso.a, None) == [], query


@pytest.mark.parametrize("path", sorted(SHARED_ROUTES))
def test_the_regional_user_reads_reference_data_with_nothing_of_a(
    iso: IsolationWorld, path: str
) -> None:
    queries, expect = SHARED_ROUTES[path]
    for query in queries(iso):
        theirs = iso.regional.client.get(path, params=query)
        assert theirs.status_code == expect[REGIONAL], (query, theirs.text)
        assert sightings(theirs, iso.a, None) == [], query


def test_me_is_about_b_only(iso: IsolationWorld) -> None:
    for role in PARTNER_ROLES:
        me = ok(iso.b.clients[role].get("/api/v1/me"))
        assert (me["partner_id"], me["partner_ids"]) == (iso.b.id, [iso.b.id])
        assert sightings(iso.b.clients[role].get("/api/v1/me"), iso.a, None) == []


def test_the_regional_user_is_of_b_region_and_sees_b_not_a(iso: IsolationWorld) -> None:
    me = ok(iso.regional.client.get("/api/v1/me"))
    assert me["partner_id"] is None and me["regions"] == [B_CITY], me
    assert iso.b.id in me["partner_ids"] and iso.a.id not in me["partner_ids"], me
    assert not set(me["permissions"]) & NATIONAL_ONLY, me
    # The control of the column: what B holds (and B's customer in the pool, a row of no
    # partner in the regional user's region), the regional user reads.
    for path in (
        f"/api/v1/partners/{iso.b.id}",
        f"{CUSTOMERS}/{_b(iso, 'customer.protected')}",
        f"{CUSTOMERS}/{_b(iso, 'customer.released')}",
        f"/api/v1/leads/{_b(iso, 'lead.assigned')}",
        f"{ORDERS}/{_b(iso, 'order.approved')}/payments",
        f"{EXTENSIONS}/{_b(iso, 'extension.pending')}",
    ):
        assert ok(iso.regional.client.get(path)), path


def test_unread_count_counts_b_own_messages_only(iso: IsolationWorld) -> None:
    for side in (iso.a, iso.b):
        for role in PARTNER_ROLES:
            client = side.clients[role]

            def consistent(client: Client = client) -> bool:
                count = ok(client.get(f"{NOTIFICATIONS}/unread-count"))["count"]
                return count == _total(client, NOTIFICATIONS, unread="true")

            assert wait_for(consistent, timeout=10, what="the count of the own unread")


def test_b_marking_all_read_leaves_a_messages_unread(iso: IsolationWorld) -> None:
    labels = ("message.partner_admin", "message.partner_sales")
    before = {label: iso.a.rows[label].read() for label in labels}
    assert all(message["read_at"] is None for message in before.values())
    for role in WHO:
        ok(_client(iso, role).post(f"{NOTIFICATIONS}/read-all"))
    assert {label: iso.a.rows[label].read() for label in labels} == before


# -- mass assignment --------------------------------------------------------------------


def _sender(iso: IsolationWorld, who: str) -> Client:
    return iso.anonymous if who == "anonymous" else iso.b.clients[who]


MASS_CASES = sorted(MASS_ASSIGNMENT)


@pytest.mark.parametrize("key", MASS_CASES, ids=[f"{m} {r}" for m, r in MASS_CASES])
def test_fields_that_do_not_belong_are_refused_and_change_nothing(
    iso: IsolationWorld, key: tuple[str, str]
) -> None:
    row = MASS_ASSIGNMENT[key]
    client, path = _sender(iso, row.client), row.path(iso)
    foreign = sorted(set(FOREIGN_FIELDS) - _body_fields(key))
    assert foreign, key
    before = row.probe(iso)
    for name in foreign:
        body = row.body(iso) | {name: FOREIGN_FIELDS[name](iso)}

        response = client.request(key[0], path, json=body)

        assert response.status_code == 422, (name, response.text)
        problem = response.json()
        assert problem["code"] == "invalid_input", problem
        assert set(problem["errors"]) == {name}, problem
        assert row.probe(iso) == before, (name, "something was made or changed")


GUARD_CASES = [(key, name) for key in MASS_CASES for name in sorted(MASS_ASSIGNMENT[key].guarded)]


@pytest.mark.parametrize(
    ("key", "name"), GUARD_CASES, ids=[f"{m} {r} {n}" for (m, r), n in GUARD_CASES]
)
def test_fields_of_the_schema_cannot_point_at_a(
    iso: IsolationWorld, key: tuple[str, str], name: str
) -> None:
    row = MASS_ASSIGNMENT[key]
    guard = row.guarded[name]
    client, path = _sender(iso, row.client), row.path(iso)
    before = row.probe(iso)

    response = client.request(key[0], path, json=row.body(iso) | {name: guard.value(iso)})

    assert response.status_code == 422, response.text
    assert response.json()["code"] == guard.code, response.text
    assert sightings(response, iso.a, None) == []
    assert row.probe(iso) == before, "something was made or changed"
    if guard.missing is not None:
        missing = client.request(key[0], path, json=row.body(iso) | {name: guard.missing})
        assert_same_answer(response, missing, guard.value(iso))


def _without_ids(value: Any, *ids: int) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    for row_id in ids:
        text = re.sub(rf"(?<![0-9]){row_id}(?![0-9])", "ID", text)
    return text


GUARD_KEYS = sorted(REGIONAL_GUARDS)


@pytest.mark.parametrize("key", GUARD_KEYS, ids=[f"{m} {r}" for m, r in GUARD_KEYS])
def test_the_regional_user_cannot_point_its_rows_at_a(
    iso: IsolationWorld, key: tuple[str, str]
) -> None:
    guard = REGIONAL_GUARDS[key]
    client, path = iso.regional.client, guard.path(iso)
    before = guard.probe(iso)

    theirs = client.request(key[0], path, json=guard.body(iso))
    missing = client.request(key[0], path, json=guard.missing(iso))

    assert 400 <= theirs.status_code < 500, theirs.text
    assert theirs.status_code == missing.status_code, (theirs.text, missing.text)
    mine, none = theirs.json(), missing.json()
    for name in ("type", "title", "code", "detail", "errors"):
        assert _without_ids(mine.get(name), iso.a.id) == _without_ids(none.get(name), MISSING_ID), (
            name
        )
    assert sightings(theirs, iso.a, None) == []
    assert guard.probe(iso) == before, "something was made or changed"


def test_every_regional_guard_is_of_a_route_the_regional_user_may_call() -> None:
    for key in REGIONAL_GUARDS:
        assert key in ENDPOINTS and _hq_only(key) and _regional_may_call(key), key


@pytest.mark.parametrize("key", _hq_body_routes(), ids=[f"{m} {r}" for m, r in _hq_body_routes()])
def test_hq_body_routes_refuse_b_whatever_it_sends(
    iso: IsolationWorld, key: tuple[str, str]
) -> None:
    def a_state() -> Any:
        return (
            iso.a.rows["partner"].read(),
            items(iso.hq, "/api/v1/commission/statements", partner_id=iso.a.id),
            ok(iso.hq.get("/api/v1/commission/rates/in-force", params={"partner_id": iso.a.id})),
        )

    body = {name: value(iso) for name, value in FOREIGN_FIELDS.items()}
    body |= {"period": "2025-02", "territory": [A_CITY], "self_sourced_rate": "0.99"}
    before = a_state()
    for role in PARTNER_ROLES:
        response = iso.b.clients[role].request(key[0], key[1], json=body)
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "forbidden"
    assert a_state() == before
