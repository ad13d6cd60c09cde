"""Property-based fuzzing of every operation of the gateway's /openapi.json (schemathesis).

Each operation gets generated requests, valid and invalid, sent by two signed-in users:
an HQ admin (every HQ permission) and a partner admin of a partner made for the run (see
``fuzz_sandbox``, which also keeps state-changing calls away from rows other tests and
the fuzzing users themselves rely on). Every answer must be free of server errors and
conform to the document: a documented status code, the documented content type, the
documented headers and body schema. A request the document calls invalid (a wrong type, a
region code or amount off its pattern, a field too long, an unknown field) must be
refused with a 4xx, never done.

No operation is left out. POST /auth/logout is fuzzed too: it revokes only the refresh
token in its body, and the fuzzing users never hand theirs out (they sign in again when
their access token runs out).

Environment:

- ``PRM_FUZZ_EXAMPLES``: generated examples per operation and user (default 10: the file
  runs in about a minute). A long run, a few thousand requests and more:
  ``PRM_FUZZ_EXAMPLES=100 make test PYTEST_ARGS="tests/e2e/test_fuzz.py"``.
- ``PRM_FUZZ_COVERAGE``: ``1`` or ``0`` for schemathesis' coverage phase (boundary and
  invalid values of every parameter, about 7,000 requests); on by default from 20
  examples.
- ``PRM_FUZZ_SEED``: the seed (default fixed, so that a run is reproducible); an
  integer, or ``random`` for a new one each run (printed at the end).

The number of requests sent is printed at the end of the module.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from schemathesis.checks import negative_data_rejection, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import ADMIN_PASSWORD
from tests.e2e.fuzz_sandbox import CountingSession, FuzzUser, Sandbox
from tests.support.client import Client
from tests.support.stack import Stack

EXAMPLES = int(os.environ.get("PRM_FUZZ_EXAMPLES", "10"))
_SEED = os.environ.get("PRM_FUZZ_SEED", "20260101")
SEED = random.randrange(2**32) if _SEED == "random" else int(_SEED)
_COVERAGE = os.environ.get("PRM_FUZZ_COVERAGE", "")
COVERAGE = _COVERAGE == "1" if _COVERAGE else EXAMPLES >= 20

NEGATIVE_REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "414", "415", "422"]
NEGATIVE_REFUSALS += ["428", "429", "5xx"]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
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
            "generation": {"max-examples": EXAMPLES, "database": "none"},
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
            "phases": {"coverage": {"enabled": COVERAGE}},
            # gunicorn refuses a request line over 4094 bytes with 414 (documented):
            # that is a refusal too.
            "checks": {"negative_data_rejection": {"expected-statuses": NEGATIVE_REFUSALS}},
        }
    ),
)


@pytest.fixture(scope="module")
def served_document(stack: Stack) -> str:
    """The stack's base URL, once its /openapi.json is the document the tests were made of."""
    response = requests.get(f"{stack.url}/openapi.json", timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == DOCUMENT
    return stack.url


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
    # Shown whether or not output is captured (-s), like a terminal summary line.
    plugins = request.config.pluginmanager
    capture = plugins.get_plugin("capturemanager")
    reporter = plugins.get_plugin("terminalreporter")
    if capture is None or reporter is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(line)


@pytest.fixture(scope="module")
def sandbox(anonymous: Client) -> Iterator[Sandbox]:
    # The session's admin, signed in afresh whenever its token runs out (``admin`` is not).
    box = Sandbox(FuzzUser(anonymous, "admin", ADMIN_PASSWORD))
    box.set_up()
    yield box
    box.restore()


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
