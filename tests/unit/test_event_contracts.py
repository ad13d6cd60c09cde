"""Every event on the bus has one contract: a schema in its producer's ``events.py``, which the
producer builds through and every consumer reads through.

The catalogue below is read from the code (the producers' ``EVENTS``, the services' event
handlers), never written by hand; ``pytest -s`` prints it.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from marshmallow import Schema

from services.common.audit import AUDIT_RECORDED, AuditRecorded
from services.common.entrypoints import EventHandler
from services.common.errors import InvalidInput
from services.common.events import EventSchema, event_data, load_event, occurred_at
from services.common.schemas import Money

SERVICES = ("partners", "filing", "orders", "commission", "notify")
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Contract:
    kind: str
    producer: str
    schema: type[Schema]
    consumers: list[str] = field(default_factory=list)


def _service_class(name: str) -> type:
    module = importlib.import_module(f"services.{name}.service")
    return next(
        value
        for value in vars(module).values()
        if inspect.isclass(value) and getattr(value, "name", None) == name
    )


def _handlers() -> list[tuple[str, str, str, str]]:
    """(consumer service, method, producer, kind) of every event handler."""
    found = []
    for name in SERVICES:
        cls = _service_class(name)
        for attr in dir(cls):
            for entrypoint in getattr(getattr(cls, attr), "nameko_entrypoints", ()):
                if isinstance(entrypoint, EventHandler):
                    found.append((name, attr, entrypoint.source_service, entrypoint.event_type))
    return found


def catalogue() -> dict[str, Contract]:
    contracts: dict[str, Contract] = {}
    for name in SERVICES:
        events = importlib.import_module(f"services.{name}.events")
        for kind, schema in events.EVENTS.items():
            assert kind not in contracts, f"{kind} is declared by two producers"
            contracts[kind] = Contract(kind, name, schema)
    # The kit's own kind: every service records audit events through the kit's schema.
    assert AUDIT_RECORDED not in contracts, f"{AUDIT_RECORDED} is the kit's, not a service's"
    contracts[AUDIT_RECORDED] = Contract(AUDIT_RECORDED, "every service", AuditRecorded)
    for consumer, method, producer, kind in _handlers():
        contract = contracts.get(kind)
        assert contract is not None, f"{consumer}.{method} consumes {kind}, which has no schema"
        assert contract.producer in (producer, "every service"), (
            f"{consumer}.{method} listens for {kind} from {producer}; {contract.producer} makes it"
        )
        contract.consumers.append(f"{consumer}.{method}")
    return contracts


def test_every_event_kind_has_one_schema_its_producer_owns_and_the_consumers_are_listed() -> None:
    contracts = catalogue()
    print()
    for contract in sorted(contracts.values(), key=lambda c: (c.producer, c.kind)):
        print(
            f"{contract.kind:32} {contract.producer:11} {contract.schema.__name__:28}"
            f" {', '.join(contract.consumers) or '-'}"
        )
        assert issubclass(contract.schema, EventSchema), contract.kind
    consumed = {kind for contract in contracts.values() for kind in [contract.kind]}
    assert {"order_approved", "order_cancelled", "partner_created"} <= consumed


def _events_module_imports(name: str) -> set[str]:
    tree = ast.parse((ROOT / "services" / name / "events.py").read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


@pytest.mark.parametrize("name", SERVICES)
def test_a_producers_events_module_depends_on_nothing_else_of_its_service(name: str) -> None:
    """Consumers import it; it must not drag the producer's models or use cases along."""
    for module in _events_module_imports(name):
        assert not module.startswith("services.") or module.startswith("services.common"), (
            f"services/{name}/events.py imports {module}"
        )


def _handler_source(consumer: str, method: str) -> ast.FunctionDef:
    function = getattr(_service_class(consumer), method)
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    node = tree.body[0]
    assert isinstance(node, ast.FunctionDef)
    return node


def _loaded_names(handler: ast.FunctionDef) -> tuple[set[str], list[ast.Call]]:
    """Names bound to ``load_event(...)`` in the handler, and the ``load_event`` calls."""
    names, calls = set(), []
    for node in ast.walk(handler):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "load_event"
        ):
            calls.append(node)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Name) and func.id == "load_event":
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names, calls


def _fields_read(handler: ast.FunctionDef, names: set[str]) -> set[str]:
    """String keys the handler reads from the loaded data: ``data["x"]``, ``data.get("x")``."""
    read = set()
    for node in ast.walk(handler):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id in names
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            read.add(node.slice.value)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in names
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            read.add(node.args[0].value)
    return read


def _consumers() -> list[tuple[str, str, str]]:
    return [(consumer, method, kind) for consumer, method, _producer, kind in _handlers()]


@pytest.mark.parametrize(("consumer", "method", "kind"), _consumers())
def test_each_consumer_reads_its_event_through_the_producers_schema(
    consumer: str, method: str, kind: str
) -> None:
    contract = catalogue()[kind]
    handler = _handler_source(consumer, method)
    names, calls = _loaded_names(handler)
    assert calls, f"{consumer}.{method} does not read {kind} through load_event"
    schema_fields = set(contract.schema().fields)
    read = _fields_read(handler, names)
    service_module = importlib.import_module(f"services.{consumer}.service")
    for function, parameter in _passed_to(handler, names, vars(service_module)):
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
        read |= _fields_read(tree.body[0], {parameter})
    missing = read - schema_fields
    assert not missing, f"{consumer}.{method} reads {sorted(missing)}, not in {kind}'s schema"


def _passed_to(handler: ast.FunctionDef, names: set[str], scope: dict) -> list[tuple]:
    """(function, its parameter) for each ``module.function(...)`` call of the handler that
    is handed the loaded data: where the use case reads it."""
    found = []
    for node in ast.walk(handler):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and inspect.ismodule(scope.get(node.func.value.id))
        ):
            continue
        function = getattr(scope[node.func.value.id], node.func.attr, None)
        if not inspect.isfunction(function):
            continue
        parameters = list(inspect.signature(function).parameters)
        for position, argument in enumerate(node.args):
            if isinstance(argument, ast.Name) and argument.id in names:
                found.append((function, parameters[position]))
    return found


class _Example(EventSchema):
    amount = Money(signed=True)


def test_reading_a_field_the_schema_does_not_declare_fails_loudly() -> None:
    data = load_event(_Example, {"type": "x", "data": {"amount": "-12.00", "extra": 1}})
    assert data["amount"] == data.get("amount")
    with pytest.raises(KeyError, match="_Example has no field 'extra'"):
        data["extra"]
    with pytest.raises(KeyError, match="_Example has no field 'secret'"):
        data.get("secret")


def test_a_producer_cannot_emit_what_its_schema_would_refuse() -> None:
    with pytest.raises(ValueError, match="_Example refuses"):
        event_data(_Example, {"amount": "99999999999999.00"})


def _id_fields() -> list[tuple[str, str]]:
    from services.common.schemas import Id

    found = []
    for kind, contract in sorted(catalogue().items()):
        for name, schema_field in contract.schema().fields.items():
            if isinstance(schema_field, Id):
                found.append((kind, name))
    return found


@pytest.mark.parametrize(("kind", "name"), _id_fields())
@pytest.mark.parametrize("hostile", [1.5, "5", 0, -1, 10**30, True])
def test_an_event_naming_a_row_by_anything_but_a_real_id_is_refused(kind, name, hostile) -> None:
    """A forged or broken event cannot point at row 1 with ``1.5``, nor write id 0."""
    schema = catalogue()[kind].schema
    errors = schema().validate({name: hostile})
    assert name in errors, f"{kind}.{name} took {hostile!r}"


@pytest.mark.parametrize(
    "moment", ["9000-01-01T00:00:00+00:00", "9999-12-31T23:59:59-14:00", "2026-01-01T00:00:00"]
)
def test_an_event_from_the_future_or_without_a_zone_is_refused_not_believed(moment) -> None:
    """A partner event dated in the future would outrank every real one after it."""
    with pytest.raises(InvalidInput):
        occurred_at({"type": "partner_updated", "occurred_at": moment})
    from services.orders.events import OrderApproved

    assert "approved_at" in OrderApproved().validate({"approved_at": moment})


def test_a_body_that_is_not_an_event_is_refused_as_input() -> None:
    with pytest.raises(InvalidInput):
        load_event(_Example, ["not", "an", "event"])
