"""Which routes honour ``Idempotency-Key``, checked without any service running.

Every POST that creates something or moves something through its states honours it; the
others are listed here with the reason, so a new POST route without a decision fails.
The gateway passes the key on only for those routes, to service methods that are
``@rpc(idempotent=True)``, and the document says so on those operations alone.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from flask import Flask

from gateway.api.common import IDEMPOTENCY_KEY
from gateway.app import create_app
from gateway.context import issue_access_token
from services.common.config import get_settings
from services.common.entrypoints import Rpc
from services.common.registry import SERVICES
from tests.support.routes import routes_of, views_of

#: POST routes that do not honour a key, and why.
NOT_IDEMPOTENT = {
    "/api/v1/auth/login": "signs in; a retry signs in again",
    "/api/v1/auth/refresh": "rotates a token; a replayed answer would hand out a used one",
    "/api/v1/auth/logout": "ends a session; doing it twice changes nothing",
    "/api/v1/me/password": (
        "a saved answer would stand in for a check of the current password; a retry of a"
        " change that went through fails on the old password, and that says it did"
    ),
    "/api/v1/customers/check": "only reads",
    "/api/v1/customers/<int:customer_id>/reveal": (
        "only reads (each reveal is audited): a saved answer would keep the contact data"
    ),
    "/api/v1/notifications/<int:message_id>/read": "doing it twice changes nothing",
    "/api/v1/notifications/read-all": "doing it twice changes nothing",
    "/api/v1/notification-channels": (
        "its answer shows the channel's signing secret, which is kept sealed only: a saved"
        " answer would keep it in the clear"
    ),
}

HQ_PROFILE = {
    "id": 9,
    "username": "hq",
    "display_name": "hq",
    "partner_id": None,
    "partner_ids": None,
    "roles": ["hq_admin"],
    "permissions": ["lead.create", "customer.create"],
    "language": "zh",
}


class RecordingRpc:
    """Answers every call, and keeps the idempotency key each one carried."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}

    def call(self, service: str, method: str, *args: Any, **kwargs: Any) -> Any:
        if (service, method) == ("partners", "get_caller"):
            return HQ_PROFILE
        self.keys[f"{service}.{method}"] = kwargs.get("idempotency_key")
        return {"conflict": False}


def _app() -> tuple[Flask, RecordingRpc]:
    rpc = RecordingRpc()
    return create_app(get_settings(), rpc=rpc), rpc


def _idempotent_methods() -> set[str]:
    found = set()
    for name, target in SERVICES.items():
        module, cls = target.split(":")
        service = getattr(importlib.import_module(module), cls)
        for attribute in dir(service):
            for entrypoint in getattr(getattr(service, attribute), "nameko_entrypoints", ()):
                if isinstance(entrypoint, Rpc) and entrypoint.idempotent:
                    found.add(f"{name}.{attribute}")
    return found


def _marked_rules(app: Flask) -> set[str]:
    """The rules whose views the gateway's ``@idempotent`` marked (``prm_idempotent``)."""
    return {rule for rule, view in views_of(app) if getattr(view, "prm_idempotent", False)}


def _idempotent_calls(app: Flask) -> dict[str, set[str]]:
    """Rule -> the service methods (``service.method``) that ``@idempotent`` says its view
    passes the key to (``prm_idempotent_calls``), for the marked views."""
    calls = {}
    for rule, view in views_of(app):
        if getattr(view, "prm_idempotent", False):
            named = getattr(view, "prm_idempotent_calls", None)
            assert named is not None, f"{rule}: @idempotent names no service method"
            calls[rule] = set(named)
    return calls


def test_every_post_route_honours_a_key_or_says_why_not() -> None:
    app, _ = _app()
    posts = {rule for method, rule in routes_of(app) if method == "POST"}
    marked = _marked_rules(app)
    assert posts - marked - set(NOT_IDEMPOTENT) == set(), "POST routes without a decision"
    assert marked & set(NOT_IDEMPOTENT) == set()
    assert marked <= posts, "only POST routes take a key"


def test_marked_routes_call_idempotent_methods_and_only_they_do() -> None:
    app, _ = _app()
    called = _idempotent_calls(app)
    assert all(called.values()), called
    reached = set().union(*called.values())
    assert reached == _idempotent_methods()


def test_the_document_shows_the_header_on_those_operations_alone() -> None:
    app, _ = _app()
    document = app.test_client().get("/openapi.json").get_json()
    marked = _marked_rules(app)
    for path, operations in document["paths"].items():
        rule = re.sub(r"\{(\w+)\}", lambda m: f"<int:{m.group(1)}>", path)
        for method, operation in operations.items():
            if method == "parameters":
                continue
            headers = [p for p in operation.get("parameters", []) if p.get("in") == "header"]
            expected = [IDEMPOTENCY_KEY] if method == "post" and rule in marked else []
            assert headers == expected, (method, path)


def test_the_key_goes_to_the_service_only_on_routes_that_honour_it() -> None:
    app, rpc = _app()
    with app.test_request_context():
        token, _ = issue_access_token(9)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k-1"}
    lead = {"name": "某某公司", "contact_name": "李总", "phone": "13900000000"}
    client.post("/api/v1/leads", json=lead, headers=headers)
    client.get("/api/v1/leads", headers=headers)
    client.post("/api/v1/notifications/read-all", headers=headers)
    assert rpc.keys == {
        "filing.create_lead": "k-1",
        "filing.list_leads": None,
        "notify.mark_all_read": None,
    }
