"""Property-based fuzzing of every operation of the gateway's /openapi.json (schemathesis).

The run has a stack of its own (its own vhost, databases, state directory and admin,
started for this module and dropped after it): whatever the generated requests change,
no other test sees it.

Each operation gets generated requests, valid and invalid, sent by two signed-in users:
an HQ admin (every HQ permission) and a partner admin of a partner made for the run (see
``tests/support/fuzz_sandbox.py``, which keeps state-changing calls away from the rows
the fuzzing users themselves rely on; the settings and checks are
``tests/support/fuzzing.py``). Every answer must be free of server errors and conform to the
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

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from schemathesis.checks import negative_data_rejection

from services.common.registry import NAMES as SERVICES
from tests.support import infra
from tests.support.client import Client
from tests.support.fuzz_sandbox import CountingSession, FuzzUser, Sandbox
from tests.support.fuzzing import (
    CHECKS,
    COVERAGE,
    DOCUMENT,
    EXAMPLES,
    SEED,
    UNDOCUMENTED_MET,
    schema,
)
from tests.support.stack import Stack
from tests.support.world import ADMIN_PASSWORD


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
def test_fuzz_as_hq_admin(case, served_document, sandbox, session):
    _call(case, served_document, sandbox.hq, sandbox, session)


@schema.parametrize()
def test_fuzz_as_partner_admin(case, served_document, sandbox, session):
    _call(case, served_document, sandbox.partner, sandbox, session)
