"""The stack answers: health, readiness, metrics, API docs, and the shape of every error."""

from __future__ import annotations

import re

import pytest
import requests

from tests.support.client import Client, unique
from tests.support.stack import Stack


def test_admin_signs_in_and_sees_itself(admin: Client) -> None:
    response = admin.get("/api/v1/me")
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "admin"
    assert body["partner_id"] is None
    assert "partner.manage" in body["permissions"]


# -- operations -------------------------------------------------------------------------


def test_healthz_answers_ok_without_a_token(anonymous: Client) -> None:
    response = anonymous.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_answers_ready_with_a_check_per_service(anonymous: Client) -> None:
    response = anonymous.get("/readyz")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert "partners" in body["checks"]
    assert all(value == "ok" for value in body["checks"].values()), body


def test_metrics_count_http_requests(stack: Stack, anonymous: Client) -> None:
    anonymous.get("/healthz")

    response = requests.get(stack.metrics_url, timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert re.search(
        r'^prm_http_requests_total\{[^}]*endpoint="/healthz"[^}]*\} [1-9]',
        response.text,
        re.MULTILINE,
    ), response.text[:2000]


def test_openapi_document_is_openapi_3_and_lists_the_contract(anonymous: Client) -> None:
    response = anonymous.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path, method in [
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/me", "get"),
        ("/api/v1/me/password", "post"),
        ("/api/v1/partners", "get"),
        ("/api/v1/partners", "post"),
        ("/api/v1/partners/{partner_id}", "patch"),
        ("/api/v1/partners/{partner_id}/suspend", "post"),
        ("/api/v1/partners/{partner_id}/activate", "post"),
        ("/api/v1/partners/{partner_id}/terminate", "post"),
        ("/api/v1/partners/{partner_id}/handover", "get"),
        ("/api/v1/partners/{partner_id}/territory", "put"),
        ("/api/v1/partner-types", "get"),
        ("/api/v1/partner-grades", "get"),
        ("/api/v1/partner-grades", "put"),
        ("/api/v1/pool", "get"),
        ("/api/v1/pool/{customer_id}/claim", "post"),
        ("/api/v1/leads/{lead_id}/assign", "post"),
        ("/api/v1/customers/{customer_id}/release", "post"),
        ("/api/v1/customers/{customer_id}/follow-ups", "get"),
        ("/api/v1/customers/{customer_id}/follow-ups", "post"),
        ("/api/v1/customers/{customer_id}/extensions", "post"),
        ("/api/v1/extensions", "get"),
        ("/api/v1/extensions/{extension_id}", "get"),
        ("/api/v1/extensions/{extension_id}/approve", "post"),
        ("/api/v1/extensions/{extension_id}/reject", "post"),
        ("/api/v1/orders/{order_id}/payment-plan", "get"),
        ("/api/v1/orders/{order_id}/payment-plan", "put"),
        ("/api/v1/orders/{order_id}/payments", "get"),
        ("/api/v1/orders/{order_id}/payments", "post"),
        ("/api/v1/payments", "get"),
        ("/api/v1/reports/receivables", "get"),
        ("/api/v1/reports/collections", "get"),
        ("/api/v1/partners/{partner_id}/credit", "get"),
        ("/api/v1/partners/{partner_id}/credit", "put"),
        ("/api/v1/partner-types/{code}", "put"),
        ("/api/v1/regions", "get"),
        ("/api/v1/regions/resolve", "get"),
        ("/api/v1/users", "post"),
        ("/api/v1/users/{user_id}", "patch"),
        ("/api/v1/permissions", "get"),
        ("/api/v1/roles", "post"),
        ("/api/v1/roles/{role_id}", "patch"),
    ]:
        assert method in paths.get(path, {}), f"{method.upper()} {path} is not documented"
    assert "bearerAuth" in document["components"]["securitySchemes"]


def test_docs_page_is_html(anonymous: Client) -> None:
    response = anonymous.get("/docs")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "swagger" in response.text.lower()
    assert "openapi.json" in response.text


# -- errors -----------------------------------------------------------------------------


ERROR_CASES = {
    "401-no-token": ("anonymous", "GET", "/api/v1/partners", None, 401, "unauthenticated"),
    "401-bad-login": (
        "anonymous",
        "POST",
        "/api/v1/auth/login",
        {"username": unique("nobody"), "password": "wrong-password"},
        401,
        "unauthenticated",
    ),
    "404-no-such-route": ("anonymous", "GET", "/api/v1/nowhere", None, 404, "not_found"),
    "404-no-such-partner": ("admin", "GET", "/api/v1/partners/2000000000", None, 404, "not_found"),
    "405-method": ("admin", "DELETE", "/api/v1/partners", None, 405, "method_not_allowed"),
    "409-state": (
        "admin",
        "POST",
        "/api/v1/partners/{partner}/activate",
        None,
        409,
        "invalid_state",
    ),
    "422-body": ("admin", "POST", "/api/v1/partners", {"bogus": 1}, 422, "invalid_input"),
    "422-query": ("admin", "GET", "/api/v1/partners?per_page=101", None, 422, "invalid_input"),
    "422-sort": ("admin", "GET", "/api/v1/partners?sort=nope", None, 422, "invalid_input"),
}


@pytest.fixture(scope="module")
def partner_id(admin: Client) -> int:
    body = {"code": unique("P"), "name": "冒烟", "type": "city_partner", "territory": []}
    response = admin.post("/api/v1/partners", body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.mark.parametrize("case", ERROR_CASES)
def test_every_error_is_problem_json_with_code_status_and_request_id(
    anonymous: Client, admin: Client, partner_id: int, case: str
) -> None:
    who, method, path, body, status, code = ERROR_CASES[case]
    client = admin if who == "admin" else anonymous

    response = client.request(method, path.format(partner=partner_id), json=body)

    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == code
    assert problem["status"] == status
    assert problem["request_id"] == response.headers["X-Request-ID"]
    assert problem["title"] and problem["detail"] and problem["type"]


def test_malformed_json_is_a_400_problem(admin: Client) -> None:
    response = admin.post(
        "/api/v1/partners", data=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "malformed"


def test_too_large_a_body_is_a_413_problem(admin: Client) -> None:
    response = admin.post(
        "/api/v1/partners", {"code": "big", "name": "x" * (2 * 1024 * 1024), "type": "x"}
    )

    assert response.status_code == 413, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "payload_too_large"


# -- request ids ------------------------------------------------------------------------


def test_a_request_id_sent_is_echoed_back(anonymous: Client, admin: Client) -> None:
    ok = anonymous.get("/healthz", headers={"X-Request-ID": "trace-abc.123"})
    failed = admin.get("/api/v1/partners/2000000000", headers={"X-Request-ID": "trace-xyz_9"})

    assert ok.headers["X-Request-ID"] == "trace-abc.123"
    assert failed.headers["X-Request-ID"] == "trace-xyz_9"
    assert failed.json()["request_id"] == "trace-xyz_9"


def test_a_request_gets_a_request_id_when_none_or_a_malformed_one_is_sent(
    anonymous: Client,
) -> None:
    first = anonymous.get("/healthz")
    second = anonymous.get("/healthz")
    malformed = requests.get(
        f"{anonymous.base_url}/healthz",
        headers={"X-Request-ID": "no spaces; or <tags>"},
        timeout=30,
    )

    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", malformed.headers["X-Request-ID"])
