"""Property-based fuzzing of every operation of the gateway's /openapi.json (schemathesis).

The run has a stack of its own (its own vhost, databases, state directory and admin,
started for this module and dropped after it): whatever the generated requests change,
no other test sees it.

Each operation gets generated requests, valid and invalid, sent by two signed-in users:
an HQ admin (every HQ permission) and a partner admin of a partner made for the run (see
``fuzz_sandbox``, which keeps state-changing calls away from the rows the fuzzing users
themselves rely on). Every answer must be free of server errors and conform to the
document: a documented status code, the documented content type, the documented headers
and body schema. A request the document calls invalid (a wrong type, a region code or
amount off its pattern, a field too long, an unknown field) must be refused with a 4xx,
never done. A request the document calls valid must be accepted (``ACCEPTED``): a 400 or
a 422 for it means the document leaves a rule out.

No operation is left out. POST /auth/logout is fuzzed too: it revokes only the refresh
token in its body, and the fuzzing users never hand theirs out (they sign in again when
their access token runs out).

Environment:

- ``PRM_FUZZ_EXAMPLES``: generated examples per operation and user (default 10: about
  1,600 requests, the file runs in about a minute, its stack's start included). A long
  run, a few thousand requests and more:
  ``PRM_FUZZ_EXAMPLES=100 make test PYTEST_ARGS="tests/e2e/test_fuzz.py"``.
- ``PRM_FUZZ_COVERAGE``: ``1`` or ``0`` for schemathesis' coverage phase (boundary and
  invalid values of every parameter, about 8,000 more requests); on by default from 20
  examples.
- ``PRM_FUZZ_SEED``: the seed (default fixed, so that a run is reproducible); an
  integer, or ``random`` for a new one each run (printed at the end).
- ``PRM_FUZZ_STRICT``: ``1`` to let none of ``UNDOCUMENTED_RULES`` through (each such
  refusal fails its operation): the list of what the document still leaves out.

The number of requests sent is printed at the end of the module.
"""

from __future__ import annotations

import os
import random
import secrets
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from schemathesis.checks import negative_data_rejection, not_a_server_error
from schemathesis.core.failures import Failure
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.registry import NAMES as SERVICES
from tests.e2e.conftest import ADMIN_PASSWORD
from tests.e2e.fuzz_sandbox import CountingSession, FuzzUser, Sandbox
from tests.support import infra
from tests.support.client import Client
from tests.support.stack import Stack

EXAMPLES = int(os.environ.get("PRM_FUZZ_EXAMPLES", "10"))
_SEED = os.environ.get("PRM_FUZZ_SEED", "20260101")
SEED = random.randrange(2**32) if _SEED == "random" else int(_SEED)
_COVERAGE = os.environ.get("PRM_FUZZ_COVERAGE", "")
COVERAGE = _COVERAGE == "1" if _COVERAGE else EXAMPLES >= 20

NEGATIVE_REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "414", "415", "422"]
NEGATIVE_REFUSALS += ["428", "429", "5xx"]

#: What a schema-valid request may be answered, whoever sends it. The document describes
#: the shape of a request, not the state it meets nor who may send it:
#: - 2xx: done;
#: - 403: the caller's permissions or a rule of duties (a partner admin calling an HQ
#:   operation, granting a permission it does not hold, approving a step twice): who may
#:   do what is the role matrix, not the document;
#: - 404: a generated id of no row, or of a row of another partner (a tenant is told
#:   "not found", never "forbidden");
#: - 409: a state or a uniqueness the request cannot know (a code or user name taken, an
#:   order no longer a draft, a customer another partner protects);
#: - 5xx: left to ``not_a_server_error``, which reports it once.
#: Any other answer (400, 413, 422, ...) is a rule the document leaves out, except the
#: refusals of ``_explained_refusal``.
ACCEPTED = ["2xx", "403", "404", "409", "5xx"]
#: Operations that take credentials in their body: 401 (no such credentials) and 429 (too
#: many tries) answer a well-formed request.
CREDENTIAL_OPERATIONS = ("POST /api/v1/auth/login", "POST /api/v1/auth/refresh")
#: 422s that the state a request meets explains, by problem code.
STATE_REFUSALS = {
    # The header's documented answer to a key sent before with another request.
    "idempotency_key_reused",
    # An earlier request deactivated the product an order names.
    "product_inactive",
    # Whether a month has ended depends on the day the request is sent.
    "period_not_ended",
    # An id or a code in the body that names no row: the body's 404.
    "unknown_partner",
    "unknown_partner_type",
    "unknown_product",
    "unknown_region",
    # The customer an order names: not protected for the caller's partner, or kept with
    # a region code no longer valid.
    "customer_not_owned",
    "customer_region_invalid",
    # Filing in a region outside the caller's territory: who may do what, as a 403.
    "region_not_in_territory",
    # More rows than one answer may hold.
    "report_too_large",
    "statement_too_large",
}
#: 422s for rules that JSON Schema cannot state, per operation and the field named.
RULES_BEYOND_SCHEMA: dict[str, dict[str, str]] = {
    "GET /api/v1/orders": {"from": "not after to"},
    "GET /api/v1/reports/sales": {"from": "not after to"},
    "GET /api/v1/reports/orders-summary": {"from": "not after to"},
    "GET /api/v1/reports/commissions": {"to": "not before from"},
    "POST /api/v1/leads/import": {"file": "what the file holds (a sheet, its encoding)"},
    "POST /api/v1/users": {"password": "its strength (a common password, the user name)"},
    "PATCH /api/v1/users/{user_id}": {"password": "its strength"},
    "PUT /api/v1/approval-flows/{kind}": {"steps": "distinct step names"},
    # Described, beyond a pattern: no private-use or unassigned code points, at most 400
    # characters once normalised (NFKC).
    "POST /api/v1/customers/check": {"name": "code points the name rule can key"},
    "POST /api/v1/customers": {"name": "code points the name rule can key"},
    "POST /api/v1/leads": {"name": "code points the name rule can key"},
    # Described: no invisible or control code points (a unique name that reads the same).
    "POST /api/v1/partners": {"name": "no invisible or control characters"},
    "PATCH /api/v1/partners/{partner_id}": {"name": "no invisible or control characters"},
}
#: 422s for rules the document does not state yet, per operation and the field named:
#: findings of this fuzzing, each to be left out of here once the document states it.
#: ``PRM_FUZZ_STRICT=1`` lets none of them through.
UNDOCUMENTED_RULES: dict[str, dict[str, str]] = {
    # An unknown partner is invalid_input here, unknown_partner elsewhere; another
    # partner's id from a partner admin is 422 "not allowed" where 403 would say it.
    # Role codes that name no role are invalid_roles, as are roles the caller may not give.
    "POST /api/v1/users": {
        "partner_id": "a partner that exists, the caller's own",
        "roles": "role codes that exist",
    },
    "PATCH /api/v1/users/{user_id}": {"roles": "role codes that exist"},
    # The permission codes are an enum; which of them a role may hold hangs on its scope
    # (sent, or the stored role's), as do partner types and sub-partners: OpenAPI 3.0 has
    # no if/then, and partner types are rows HQ keeps, not a fixed list.
    "POST /api/v1/roles": {
        "permissions": "the scope's codes (hq or partner)",
        "partner_types": "codes of GET /partner-types; partner roles only",
        "include_sub_partners": "partner roles only",
    },
    "PATCH /api/v1/roles/{role_id}": {
        "permissions": "the role's scope's codes",
        "partner_types": "codes of GET /partner-types; partner roles only",
        "include_sub_partners": "partner roles only",
    },
    # Line counts and unit prices are documented; a product on two lines, and a line's
    # quantity x unit price or the order's total beyond NUMERIC(14, 2), are not.
    "POST /api/v1/orders": {"lines": "each product once; amounts within NUMERIC(14, 2)"},
    "PATCH /api/v1/orders/{order_id}": {
        "lines": "each product once; amounts within NUMERIC(14, 2)",
    },
    # The rates' pattern is documented; the scope is one of two fields, a cross-field rule.
    "PUT /api/v1/commission/rates": {
        "partner_type": "either it or partner_id",
        "partner_id": "either it or partner_type",
    },
    "POST /api/v1/customers/{customer_id}/transfer": {
        "partner_id": "another partner than the holder (a state: 409 would say so)",
    },
    # The robot secret's pattern is documented; which channels take one is a cross-field
    # rule (kind and format, sent or stored), as is the target's form per kind.
    "POST /api/v1/notification-channels": {
        "target": "an e-mail address or a URL, by kind",
        "robot_secret": "webhooks of format dingtalk only",
    },
    "PATCH /api/v1/notification-channels/{channel_id}": {
        "robot_secret": "channels of format dingtalk only",
    },
    # The shape is documented (18 characters); the check character is beyond a pattern.
    "POST /api/v1/customers/check": {"uscc": "the GB 32100 check character"},
    "POST /api/v1/customers": {"uscc": "the GB 32100 check character"},
}
STRICT = os.environ.get("PRM_FUZZ_STRICT") == "1"
#: How often each undocumented rule refused a valid request during the run.
UNDOCUMENTED_MET: Counter[str] = Counter()


def _problem(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _explained_refusal(case: schemathesis.Case, response: requests.Response) -> bool:
    """Whether a refusal of a schema-valid request is explained by the state it met or by
    a rule listed above."""
    operation = f"{case.method.upper()} {case.path}"
    if operation in CREDENTIAL_OPERATIONS and response.status_code in (401, 429):
        return True
    if response.status_code != 422:
        return False
    problem = _problem(response)
    if problem.get("code") in STATE_REFUSALS:
        return True
    fields = set(problem.get("errors") or {})
    explained = set(RULES_BEYOND_SCHEMA.get(operation, {}))
    undocumented = set() if STRICT else set(UNDOCUMENTED_RULES.get(operation, {}))
    if not fields or not fields <= explained | undocumented:
        return False
    UNDOCUMENTED_MET.update(f"{operation} {field}" for field in fields - explained)
    return True


def positive_data_accepted(ctx, response, case):  # type: ignore[no-untyped-def]
    """schemathesis' ``positive_data_acceptance`` (statuses of ``ACCEPTED``), letting the
    refusals of ``_explained_refusal`` through."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except Failure:
        if _explained_refusal(case, response):
            return None
        raise


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_accepted,
]


def _document() -> dict:
    """The OpenAPI document the gateway serves, built in this process at collection (the
    stack starts later, in a fixture); ``served_document`` checks the two are the same."""
    from gateway.app import create_app

    return create_app().test_client().get("/openapi.json").get_json()


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "max-examples": EXAMPLES,
                "database": "none",
                "deterministic": True,
                # Every text field refuses a NUL character or an unpaired surrogate (422:
                # no column can store them, tests/e2e/test_fuzz_findings.py); JSON Schema
                # has no way to say it of every string, so generated text leaves them out.
                "allow-x00": False,
                "codec": "utf-8",
            },
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
            "phases": {"coverage": {"enabled": COVERAGE}},
            # gunicorn refuses a request line over 4094 bytes with 414 (documented):
            # that is a refusal too.
            "checks": {
                "negative_data_rejection": {"expected-statuses": NEGATIVE_REFUSALS},
                "positive_data_acceptance": {"expected-statuses": ACCEPTED},
            },
        }
    ),
)


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Every service and the gateway in a vhost, databases and state directory of their own,
    with an admin of their own."""
    run = secrets.token_hex(4)
    vhost = f"prm-fuzz-{run}"
    databases = {service: f"prm_fuzz_{run}_{service}" for service in SERVICES}
    env = {
        "AMQP_URI": infra.create_vhost(vhost),
        "PRM_VAR_DIR": str(tmp_path_factory.mktemp("fuzz-var")),
        # The keeper signs in once; a long run outlasts the default 15 minutes of a token.
        "PRM_ACCESS_TOKEN_TTL": "14400",
    }
    try:
        for service, database in databases.items():
            env[f"{service.upper()}_DATABASE_URL"] = infra.create_database(database)
        stack = Stack(SERVICES, Path(tmp_path_factory.mktemp("fuzz-logs")), env=env)
        try:
            stack.start()
            yield stack
        finally:
            stack.stop()
    finally:
        infra.delete_vhost(vhost)
        for database in databases.values():
            infra.drop_database(database)


@pytest.fixture(scope="module")
def served_document(fuzz_stack: Stack) -> str:
    """The stack's base URL, once its /openapi.json is the document the tests were made of."""
    response = requests.get(f"{fuzz_stack.url}/openapi.json", timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == DOCUMENT
    return fuzz_stack.url


@pytest.fixture(scope="module")
def session(request: pytest.FixtureRequest, sandbox: Sandbox) -> Iterator[CountingSession]:
    counting = CountingSession()
    yield counting
    counting.close()
    summary = ", ".join(f"{key} {value}" for key, value in sorted(counting.by_class.items()))
    line = (
        f"fuzz: {counting.sent} requests ({summary}); {EXAMPLES} examples per operation "
        f"and user, coverage phase {'on' if COVERAGE else 'off'}, seed {SEED}; "
        f"{sandbox.redirected} ids pointed at the sandbox's rows"
    )
    lines = [line]
    if UNDOCUMENTED_MET:
        met = ", ".join(f"{rule} ({count})" for rule, count in sorted(UNDOCUMENTED_MET.items()))
        lines.append(f"fuzz: valid requests refused by rules the document leaves out: {met}")
    # Shown whether or not output is captured (-s), like a terminal summary line.
    plugins = request.config.pluginmanager
    capture = plugins.get_plugin("capturemanager")
    reporter = plugins.get_plugin("terminalreporter")
    if capture is None or reporter is None:
        print("\n".join(lines))
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        for text in lines:
            reporter.write_line(text)


@pytest.fixture(scope="module")
def sandbox(fuzz_stack: Stack) -> Sandbox:
    # The fuzz stack's own admin, signed in afresh whenever its token runs out.
    box = Sandbox(FuzzUser(Client(fuzz_stack.url), "admin", ADMIN_PASSWORD))
    box.set_up()
    return box


def _checks(case: schemathesis.Case) -> list:
    """The checks of ``case``. A negative case that left out the bearer token is made
    valid again by the token every call carries: it cannot be held to being refused."""
    data = case.meta.phase.data if case.meta is not None else None
    mutations = getattr(data, "mutations", None) or ()
    if any((mutation.parameter or "").lower() == "authorization" for mutation in mutations):
        return [check for check in CHECKS if check is not negative_data_rejection]
    return CHECKS


def _call(
    case: schemathesis.Case,
    base_url: str,
    user: FuzzUser | None,
    sandbox: Sandbox,
    session: CountingSession,
) -> None:
    assert user is not None
    sandbox.guard(case, user)
    case.call_and_validate(
        base_url=base_url,
        session=session,
        headers=user.headers(),
        checks=_checks(case),
        timeout=30,
    )


@schema.parametrize()
def test_fuzz_as_hq_admin(case, served_document, sandbox, session):  # type: ignore[no-untyped-def]
    _call(case, served_document, sandbox.hq, sandbox, session)


@schema.parametrize()
def test_fuzz_as_partner_admin(case, served_document, sandbox, session):  # type: ignore[no-untyped-def]
    _call(case, served_document, sandbox.partner, sandbox, session)
