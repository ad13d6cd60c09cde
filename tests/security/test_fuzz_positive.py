"""The API fuzzing (tests/e2e/test_fuzz.py) holds the document to what it promises both
ways, and cannot harm the stack other tests share.

- A request the document calls valid must be accepted: a refusal that neither the state
  it met nor a listed rule explains fails the run (positive data acceptance).
- The fuzzing works on a stack of its own: a generated request that empties a role or
  changes a password (as one did to the shared admin) reaches nobody else's data.

These tests need no stack: they judge made-up answers with the fuzzing's own check, and
read which fixtures the fuzzing uses.
"""

from __future__ import annotations

import ast
import datetime
import functools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup

from tests.support import fuzzing as fuzz

#: The session-wide stack fixtures (tests/support/fixtures.py): the fuzzing must use none.
SHARED_STACK_FIXTURES = {"stack", "anonymous", "admin", "world"}


#: The first generated example will do: no search, no shrinking, no example database.
FIRST_EXAMPLE = hypothesis.settings(
    database=None, phases=[hypothesis.Phase.generate], derandomize=True
)


@functools.cache
def _positive_case(path: str, method: str) -> Any:
    """A request the document calls valid, as the fuzzing generates one."""
    operation = fuzz.schema[path][method]
    strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
    case = hypothesis.find(strategy, lambda _: True, settings=FIRST_EXAMPLE)
    assert case.meta is not None and case.meta.generation.mode.is_positive
    return case


def _answer(case: Any, status: int, body: dict) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.headers["Content-Type"] = "application/problem+json"
    response.url = f"http://127.0.0.1:9{case.formatted_path}"
    body = case.body if isinstance(case.body, dict | list) else None
    response.request = requests.Request(case.method, response.url, json=body).prepare()
    response.elapsed = datetime.timedelta(0)
    return response


def _accepted(case: Any, status: int, body: dict | None = None) -> bool:
    try:
        case.validate_response(
            _answer(case, status, body or {}), checks=[fuzz.positive_data_accepted]
        )
    except FailureGroup:
        return False
    return True


def _invalid(field: str, code: str = "invalid_input") -> dict:
    return {"status": 422, "code": code, "errors": {field: ["not valid"]}}


def test_a_valid_request_refused_for_a_rule_the_document_leaves_out_fails_the_run() -> None:
    case = _positive_case("/api/v1/products", "POST")
    assert not _accepted(case, 422, _invalid("name"))
    assert not _accepted(case, 400, {"status": 400, "code": "bad_request"})
    assert not _accepted(case, 413, {"status": 413, "code": "payload_too_large"})
    assert _accepted(case, 201, {})


@pytest.mark.parametrize("status", [403, 404, 409])
def test_refusals_the_document_cannot_foresee_pass(status: int) -> None:
    # Who may call what, rows that do not exist or are another tenant's, states.
    case = _positive_case("/api/v1/products", "POST")
    assert _accepted(case, status, {"status": status, "code": "refused"})


@pytest.mark.parametrize("code", sorted(fuzz.STATE_REFUSALS))
def test_a_422_that_the_state_explains_passes(code: str) -> None:
    case = _positive_case("/api/v1/orders", "POST")
    assert _accepted(case, 422, _invalid("lines.0.product_id", code))


def test_a_401_passes_only_where_credentials_are_sent() -> None:
    assert _accepted(_positive_case("/api/v1/auth/login", "POST"), 401)
    assert _accepted(_positive_case("/api/v1/auth/refresh", "POST"), 401)
    # The fuzzing users' tokens are always valid: a 401 elsewhere is a fault.
    assert not _accepted(_positive_case("/api/v1/products", "POST"), 401)


@pytest.fixture
def listed_rule(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """One rule listed as left out of the document (``list_price`` of POST /products);
    returns the tally of the refusals it let through."""
    rules = {"POST /api/v1/products": {"list_price": "more than 0"}}
    monkeypatch.setattr(fuzz, "UNDOCUMENTED_RULES", rules)
    met: Counter = Counter()
    monkeypatch.setattr(fuzz, "UNDOCUMENTED_MET", met)
    return met


def test_a_listed_rule_passes_only_for_its_operation_and_field(listed_rule: Counter) -> None:
    case = _positive_case("/api/v1/products", "POST")
    assert _accepted(case, 422, _invalid("list_price"))
    assert listed_rule == {"POST /api/v1/products list_price": 1}
    both = {"code": "invalid_input", "errors": {"list_price": ["x"], "name": ["x"]}}
    assert not _accepted(case, 422, both)
    other = _positive_case("/api/v1/products/{product_id}", "PATCH")
    assert not _accepted(other, 422, _invalid("list_price"))


def test_the_strict_run_lets_no_listed_rule_through(
    listed_rule: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fuzz, "STRICT", True)
    assert not _accepted(_positive_case("/api/v1/products", "POST"), 422, _invalid("list_price"))


def test_the_fuzzing_checks_positive_data_acceptance() -> None:
    assert fuzz.positive_data_accepted in fuzz.CHECKS
    assert fuzz.schema.config.generation.deterministic is True


FUZZ_MODULE = Path(__file__).resolve().parents[1] / "e2e" / "test_fuzz.py"


def _parameters_by_function(source: Path) -> dict[str, list[str]]:
    """Each top-level function of ``source`` (its tests and fixtures) with its parameter
    names: read from the text, so that no test module is imported by another."""
    tree = ast.parse(source.read_text(encoding="utf-8"))
    return {
        node.name: [argument.arg for argument in node.args.args]
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
    }


def _fixture_closure(functions: dict[str, list[str]], names: list[str]) -> set[str]:
    """Every fixture name that ``names`` reach, through the module's own fixtures."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += functions.get(name, [])
    return seen


def test_the_fuzzing_runs_on_a_stack_of_its_own() -> None:
    functions = _parameters_by_function(FUZZ_MODULE)
    tests = ["test_fuzz_as_hq_admin", "test_fuzz_as_partner_admin"]
    used = _fixture_closure(functions, [p for t in tests for p in functions[t]])
    assert "fuzz_stack" in used
    assert not used & SHARED_STACK_FIXTURES, used & SHARED_STACK_FIXTURES
