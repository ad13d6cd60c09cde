"""The access matrix: every gateway route and who may call it.

A route added without a row here fails the first test; a row that says something the
route does not check fails the second; the third proves, without any service running,
that the gateway refuses partner users on every headquarters route and anonymous callers
on every route that needs a user, before the request reaches a service.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from gateway.app import create_app
from services.common.config import get_settings
from services.common.errors import ServiceUnavailable
from services.partners import catalogue
from tests.support.routes import routes_of

HQ, USER = "hq", "user"

# (method, route) -> "public", or (who, permission): who is HQ (headquarters users only)
# or USER (any signed-in user); permission None means no particular permission (the
# service decides on the row).
ROUTES: dict[tuple[str, str], Any] = {
    ("GET", "/api/v1/approval-flows/<string:kind>"): (HQ, "flow.manage"),
    ("PUT", "/api/v1/approval-flows/<string:kind>"): (HQ, "flow.manage"),
    ("GET", "/api/v1/audit"): (HQ, "audit.read"),
    ("POST", "/api/v1/auth/login"): "public",
    ("POST", "/api/v1/auth/logout"): (USER, None),
    ("POST", "/api/v1/auth/refresh"): "public",
    ("GET", "/api/v1/commission/rates"): (HQ, "commission.manage"),
    ("PUT", "/api/v1/commission/rates"): (HQ, "commission.manage"),
    ("GET", "/api/v1/commission/rates/in-force"): (HQ, "commission.manage"),
    ("GET", "/api/v1/commission/statements"): (USER, None),
    ("POST", "/api/v1/commission/statements"): (HQ, "commission.manage"),
    ("GET", "/api/v1/commission/statements/<int:statement_id>"): (USER, None),
    ("POST", "/api/v1/commission/statements/<int:statement_id>/confirm"): (
        USER,
        "commission.confirm",
    ),
    ("POST", "/api/v1/commission/statements/<int:statement_id>/pay"): (HQ, "commission.pay"),
    ("GET", "/api/v1/commissions"): (USER, None),
    ("GET", "/api/v1/commissions/<int:entry_id>"): (USER, None),
    ("POST", "/api/v1/customers"): (USER, "customer.create"),
    ("GET", "/api/v1/customers"): (USER, None),
    ("GET", "/api/v1/customers/<int:customer_id>"): (USER, None),
    ("POST", "/api/v1/customers/<int:customer_id>/transfer"): (HQ, "customer.transfer"),
    ("POST", "/api/v1/customers/<int:customer_id>/reveal"): (USER, "customer.pii.reveal"),
    ("POST", "/api/v1/customers/check"): (USER, "customer.create"),
    ("POST", "/api/v1/customers/<int:customer_id>/release"): (USER, "customer.create"),
    ("GET", "/api/v1/customers/<int:customer_id>/follow-ups"): (USER, None),
    ("POST", "/api/v1/customers/<int:customer_id>/follow-ups"): (USER, "customer.create"),
    ("GET", "/api/v1/pool"): (USER, None),
    ("GET", "/api/v1/partner-grades"): (USER, None),
    ("PUT", "/api/v1/partner-grades"): (HQ, "partner.manage"),
    ("POST", "/api/v1/pool/<int:customer_id>/claim"): (USER, "pool.claim"),
    ("POST", "/api/v1/customers/<int:customer_id>/extensions"): (USER, "customer.create"),
    ("GET", "/api/v1/extensions"): (USER, None),
    ("GET", "/api/v1/extensions/<int:extension_id>"): (USER, None),
    ("POST", "/api/v1/extensions/<int:extension_id>/approve"): (HQ, None),
    ("POST", "/api/v1/extensions/<int:extension_id>/reject"): (HQ, None),
    ("GET", "/api/v1/filings"): (USER, None),
    ("GET", "/api/v1/filings/<int:filing_id>"): (USER, None),
    ("POST", "/api/v1/filings/<int:filing_id>/approve"): (HQ, None),
    ("POST", "/api/v1/filings/<int:filing_id>/reject"): (HQ, None),
    ("POST", "/api/v1/leads"): (HQ, "lead.create"),
    ("GET", "/api/v1/leads"): (USER, None),
    ("GET", "/api/v1/leads/<int:lead_id>"): (USER, None),
    ("POST", "/api/v1/leads/<int:lead_id>/claim"): (USER, "lead.claim"),
    ("POST", "/api/v1/leads/<int:lead_id>/decline"): (USER, "lead.claim"),
    ("POST", "/api/v1/leads/<int:lead_id>/assign"): (HQ, "lead.assign"),
    ("POST", "/api/v1/leads/import"): (HQ, "lead.create"),
    ("GET", "/api/v1/leads/imports"): (HQ, "lead.create"),
    ("GET", "/api/v1/leads/imports/<path:job_id>"): (HQ, "lead.create"),
    ("GET", "/api/v1/me"): (USER, None),
    ("POST", "/api/v1/me/password"): (USER, None),
    ("GET", "/api/v1/notification-channels"): (USER, None),
    ("POST", "/api/v1/notification-channels"): (USER, None),
    ("GET", "/api/v1/notification-channels/<int:channel_id>"): (USER, None),
    ("PATCH", "/api/v1/notification-channels/<int:channel_id>"): (USER, None),
    ("DELETE", "/api/v1/notification-channels/<int:channel_id>"): (USER, None),
    ("GET", "/api/v1/notification-channels/<int:channel_id>/deliveries"): (USER, None),
    ("GET", "/api/v1/notifications"): (USER, None),
    ("POST", "/api/v1/notifications/<int:message_id>/read"): (USER, None),
    ("POST", "/api/v1/notifications/read-all"): (USER, None),
    ("GET", "/api/v1/notifications/unread-count"): (USER, None),
    ("GET", "/api/v1/orders"): (USER, None),
    ("POST", "/api/v1/orders"): (USER, "order.create"),
    ("GET", "/api/v1/orders/<int:order_id>"): (USER, None),
    ("PATCH", "/api/v1/orders/<int:order_id>"): (USER, "order.create"),
    ("POST", "/api/v1/orders/<int:order_id>/approve"): (HQ, None),
    ("POST", "/api/v1/orders/<int:order_id>/cancel"): (USER, None),
    ("GET", "/api/v1/orders/<int:order_id>/comments"): (USER, None),
    ("POST", "/api/v1/orders/<int:order_id>/comments"): (USER, None),
    ("POST", "/api/v1/orders/<int:order_id>/complete"): (HQ, "order.fulfil"),
    ("POST", "/api/v1/orders/<int:order_id>/reject"): (HQ, None),
    ("POST", "/api/v1/orders/<int:order_id>/submit"): (USER, "order.create"),
    ("GET", "/api/v1/orders/<int:order_id>/payment-plan"): (USER, None),
    ("PUT", "/api/v1/orders/<int:order_id>/payment-plan"): (HQ, "payment.manage"),
    ("GET", "/api/v1/orders/<int:order_id>/payments"): (USER, None),
    ("POST", "/api/v1/orders/<int:order_id>/payments"): (HQ, "payment.record"),
    ("GET", "/api/v1/payments"): (USER, None),
    ("GET", "/api/v1/partners/<int:partner_id>/credit"): (USER, None),
    ("PUT", "/api/v1/partners/<int:partner_id>/credit"): (HQ, "payment.manage"),
    ("GET", "/api/v1/partner-types"): (USER, None),
    ("PUT", "/api/v1/partner-types/<string:code>"): (HQ, "partner.manage"),
    ("GET", "/api/v1/partners"): (USER, None),
    ("POST", "/api/v1/partners"): (HQ, "partner.manage"),
    ("GET", "/api/v1/partners/<int:partner_id>"): (USER, None),
    ("PATCH", "/api/v1/partners/<int:partner_id>"): (HQ, "partner.manage"),
    ("POST", "/api/v1/partners/<int:partner_id>/activate"): (HQ, "partner.manage"),
    ("GET", "/api/v1/partners/<int:partner_id>/handover"): (HQ, "partner.manage"),
    ("POST", "/api/v1/partners/<int:partner_id>/suspend"): (HQ, "partner.manage"),
    ("POST", "/api/v1/partners/<int:partner_id>/terminate"): (HQ, "partner.manage"),
    ("PUT", "/api/v1/partners/<int:partner_id>/territory"): (HQ, "partner.manage"),
    ("GET", "/api/v1/permissions"): (USER, None),
    ("GET", "/api/v1/products"): (USER, None),
    ("POST", "/api/v1/products"): (HQ, "product.manage"),
    ("GET", "/api/v1/products/<int:product_id>"): (USER, None),
    ("PATCH", "/api/v1/products/<int:product_id>"): (HQ, "product.manage"),
    ("GET", "/api/v1/regions"): (USER, None),
    ("GET", "/api/v1/regions/resolve"): (USER, None),
    ("GET", "/api/v1/reports/commissions"): (USER, "report.read"),
    ("GET", "/api/v1/reports/orders-summary"): (USER, "report.read"),
    ("GET", "/api/v1/reports/sales"): (USER, "report.read"),
    ("GET", "/api/v1/reports/receivables"): (USER, "report.read"),
    ("GET", "/api/v1/reports/collections"): (USER, "report.read"),
    ("GET", "/api/v1/roles"): (USER, None),
    ("POST", "/api/v1/roles"): (HQ, "role.manage"),
    ("GET", "/api/v1/roles/<int:role_id>"): (USER, None),
    ("PATCH", "/api/v1/roles/<int:role_id>"): (HQ, "role.manage"),
    ("GET", "/api/v1/users"): (USER, "user.manage"),
    ("POST", "/api/v1/users"): (USER, "user.manage"),
    ("GET", "/api/v1/users/<int:user_id>"): (USER, None),
    ("PATCH", "/api/v1/users/<int:user_id>"): (USER, "user.manage"),
    ("GET", "/"): "public",
    ("GET", "/<page:path>"): "public",
    ("GET", "/docs"): "public",
    ("GET", "/healthz"): "public",
    ("GET", "/openapi.json"): "public",
    ("GET", "/readyz"): "public",
}

PUBLIC_SIGN_IN = {("POST", "/api/v1/auth/login"), ("POST", "/api/v1/auth/refresh")}


class FakeRpc:
    """Answers the gateway's ``partners.get_caller``; any other call means the gateway let
    the request through to a service."""

    def __init__(self, profile: dict) -> None:
        self.profile = profile
        self.passed: list[str] = []

    def call(self, service: str, method: str, *args: Any, **kwargs: Any) -> Any:
        if (service, method) == ("partners", "get_caller"):
            return self.profile
        self.passed.append(f"{service}.{method}")
        raise ServiceUnavailable("no service in this test")


def partner_profile(permissions: list[str]) -> dict:
    return {
        "id": 7,
        "username": "p",
        "display_name": "p",
        "partner_id": 3,
        "partner_ids": [3],
        "roles": ["partner_admin"],
        "permissions": permissions,
        "language": "zh",
    }


def app_with(profile: dict) -> tuple[Flask, FakeRpc]:
    rpc = FakeRpc(profile)
    return create_app(get_settings(), rpc=rpc), rpc


def concrete(rule: str) -> str:
    return (
        rule.replace("<int:", "<")
        .replace("<string:kind>", "order")
        .replace("<string:code>", "city_partner")
        .replace("<partner_id>", "1")
        .replace("<statement_id>", "1")
        .replace("<entry_id>", "1")
        .replace("<customer_id>", "1")
        .replace("<filing_id>", "1")
        .replace("<extension_id>", "1")
        .replace("<lead_id>", "1")
        .replace("<channel_id>", "1")
        .replace("<message_id>", "1")
        .replace("<order_id>", "1")
        .replace("<product_id>", "1")
        .replace("<role_id>", "1")
        .replace("<user_id>", "1")
    )


def test_every_route_has_a_row_in_the_access_matrix() -> None:
    app, _ = app_with(partner_profile([]))
    assert routes_of(app) - set(ROUTES) == set(), "routes without a row"
    assert set(ROUTES) - routes_of(app) == set(), "rows without a route"


def test_each_route_checks_what_its_row_says() -> None:
    app, _ = app_with(partner_profile([]))
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        access = getattr(app.view_functions[rule.endpoint], "prm_access", None)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            row = ROUTES[(method, rule.rule)]
            if row == "public":
                assert access is None, (method, rule.rule)
            else:
                who, permission = row
                assert access == (permission, who == HQ), (method, rule.rule)


@pytest.mark.parametrize(
    ("method", "rule"),
    sorted(key for key, row in ROUTES.items() if row != "public" and row[0] == HQ),
)
def test_partner_user_with_every_partner_permission_is_refused_on_hq_routes(
    method: str, rule: str
) -> None:
    everything = [
        "customer.create",
        "lead.claim",
        "order.create",
        "report.read",
        "user.manage",
        "commission.confirm",
        "channel.manage",
    ]
    app, rpc = app_with(partner_profile(everything))
    response = app.test_client().open(
        concrete(rule), method=method, json={}, headers={"Authorization": "Bearer x"}
    )
    # The access token is checked first: sign one for the fake user.
    assert response.status_code == 401
    from gateway.context import issue_access_token

    with app.test_request_context():
        token, _ = issue_access_token(7)
    response = app.test_client().open(
        concrete(rule), method=method, json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403, (method, rule, response.get_json())
    assert response.get_json()["code"] == "forbidden"
    assert rpc.passed == []


@pytest.mark.parametrize(
    ("method", "rule"),
    sorted(key for key, row in ROUTES.items() if row != "public"),
)
def test_anonymous_caller_is_refused_on_every_route_that_needs_a_user(
    method: str, rule: str
) -> None:
    app, rpc = app_with(partner_profile([]))
    response = app.test_client().open(concrete(rule), method=method, json={"bogus": 1})
    assert response.status_code == 401, (method, rule)
    assert response.get_json()["code"] == "unauthenticated"
    assert rpc.passed == []


def regional_profile() -> dict:
    """A regional HQ user (区域经理) as ``partners.get_caller`` answers: every HQ permission
    but the national ones (``catalogue.NATIONAL_ONLY``), whatever its roles list."""
    held = sorted(
        code
        for code, permission in catalogue.PERMISSIONS_BY_CODE.items()
        if catalogue.HQ in permission.scopes and code not in catalogue.NATIONAL_ONLY
    )
    return {
        **partner_profile(held),
        "partner_id": None,
        "partner_ids": [3],
        "regions": ["460100"],
        "roles": ["regional"],
    }


@pytest.mark.parametrize(
    ("method", "rule"),
    sorted(key for key, row in ROUTES.items() if row != "public"),
)
def test_a_regional_hq_user_is_refused_before_any_service_where_it_holds_no_permission(
    method: str, rule: str
) -> None:
    """National permissions and partners' permissions: 403 in the gateway; the other
    routes reach the service, which answers by the user's regions."""
    from gateway.context import issue_access_token

    _, permission = ROUTES[(method, rule)]
    refused = permission is not None and (
        permission in catalogue.NATIONAL_ONLY
        or catalogue.HQ not in catalogue.PERMISSIONS_BY_CODE[permission].scopes
    )
    app, rpc = app_with(regional_profile())
    with app.test_request_context():
        token, _ = issue_access_token(7)
    response = app.test_client().open(
        concrete(rule), method=method, json={}, headers={"Authorization": f"Bearer {token}"}
    )
    if refused:
        assert response.status_code == 403, (method, rule, response.get_json())
        assert response.get_json()["code"] == "forbidden"
        assert rpc.passed == []
    else:
        assert response.status_code not in (401, 403), (method, rule, response.get_json())
