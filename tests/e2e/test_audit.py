"""The audit log over HTTP: sign-ins, a failed sign-in, a change of roles and report
exports, recorded by the services that saw them and kept by partners, read by HQ with
``audit.read`` through its filters; a partner user is refused and learns nothing."""

from __future__ import annotations

from datetime import timedelta

from services.common.timeutil import iso, utcnow
from tests.support.answers import assert_problem
from tests.support.client import Client
from tests.support.waiting import wait_for
from tests.support.world import World

AUDIT = "/api/v1/audit"
LOGIN = "/api/v1/auth/login"


def audit_page(admin: Client, **params: object) -> dict:
    response = admin.get(AUDIT, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_hq_reads_who_did_what_and_partner_users_are_refused(
    admin: Client, anonymous: Client, world: World
) -> None:
    started = utcnow() - timedelta(seconds=5)
    me = admin.get("/api/v1/me").json()
    user = world.user(None, ["marketing"])
    world.login(user)
    refused = anonymous.post(LOGIN, {"username": user["username"], "password": "wrong-pass-31"})
    assert refused.status_code == 401
    changed = admin.patch(f"/api/v1/users/{user['id']}", {"roles": ["finance"]})
    assert changed.status_code == 200, changed.text
    sales = admin.get("/api/v1/reports/sales", params={"group_by": "month", "format": "csv"})
    assert sales.status_code == 200, sales.text
    commissions = admin.get(
        "/api/v1/reports/commissions", params={"group_by": "partner", "format": "xlsx"}
    )
    assert commissions.status_code == 200, commissions.text

    # Each service's outbox, then partners' handler: the records arrive in a moment.
    subject = {"subject_type": "user", "subject_id": str(user["id"])}
    expected = {"user_created", "sign_in", "sign_in_failed", "roles_changed"}
    items = wait_for(
        lambda: (
            (found := audit_page(admin, **subject)["items"])
            and expected <= {item["action"] for item in found}
            and found
        ),
        what="the user's audit records",
    )
    by_action = {item["action"]: item for item in items}
    assert [item["action"] for item in items] == [
        "roles_changed",
        "sign_in_failed",
        "sign_in",
        "user_created",
    ]  # newest first
    signed_in = by_action["sign_in"]
    assert signed_in["actor_id"] == user["id"] and signed_in["source"] == "partners"
    assert signed_in["address"] == "127.0.0.1"
    failed = by_action["sign_in_failed"]
    assert failed["actor_id"] is None and failed["detail"] == {"reason": "wrong_password"}
    roles = by_action["roles_changed"]
    assert roles["actor_id"] == me["id"] and roles["actor_name"] == me["display_name"]
    assert roles["detail"] == {"added": "finance", "removed": "marketing", "roles": "finance"}
    assert "wrong-pass-31" not in str(items)

    exports = wait_for(
        lambda: (
            (found := audit_page(admin, action="report_exported", actor_id=me["id"])["items"])
            and {"orders", "commission"} <= {item["source"] for item in found}
            and found
        ),
        what="the exports' audit records",
    )
    sources = {item["source"]: item for item in exports}
    assert sources["orders"]["subject_id"] == "sales"
    assert sources["orders"]["detail"]["format"] == "csv"
    assert sources["commission"]["subject_id"] == "commissions"
    assert sources["commission"]["detail"]["format"] == "xlsx"

    # The filters: by actor, by time, and a page at a time.
    assert [i["action"] for i in audit_page(admin, actor_id=user["id"])["items"]] == ["sign_in"]
    window = {"from": iso(started), "to": iso(utcnow() + timedelta(minutes=1))}
    assert audit_page(admin, **subject, **window)["total"] == 4
    assert audit_page(admin, **subject, **{"to": iso(started)})["total"] == 0
    page = audit_page(admin, **subject, per_page=1, page=2)
    assert page["total"] == 4 and [i["action"] for i in page["items"]] == ["sign_in_failed"]
    assert_problem(admin.get(AUDIT, params={"from": "yesterday"}), 422, "invalid_input")

    # A partner admin, even one that could ask with any filter, is refused before the
    # service is asked: nothing tells whether records exist.
    partner = world.partner(["330100"])
    partner_admin = world.login(world.user(partner["id"], ["partner_admin"]))
    for params in ({}, subject, {"from": "not a time"}):
        assert_problem(partner_admin.get(AUDIT, params=params), 403, "forbidden")
    # An HQ user without audit.read too.
    finance = world.login(user)
    assert_problem(finance.get(AUDIT), 403, "forbidden")
