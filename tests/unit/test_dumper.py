"""The compiled dumper (``services.common.schemas.dumper``) answers what marshmallow's own
``Schema.dump`` answers, for every schema of the services and any value of each field: a
key present or absent, ``None``, a value of the field's kind or of another (an integer
where text is expected), read from a dict or from an object's attributes."""

from __future__ import annotations

import importlib
import pkgutil
from datetime import UTC
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, fields

import services
from services.common.schemas import IsoDateTime, Money, Rate, WireSchema, dumper, shared


def _service_schemas() -> list[type[Schema]]:
    for module in pkgutil.walk_packages(services.__path__, "services."):
        if module.name.rsplit(".", 1)[-1] in ("schemas", "events", "audit") or (
            module.name.startswith("services.common.")
        ):
            try:
                importlib.import_module(module.name)
            except ImportError:  # a module that needs a running service's extras
                continue
    found: dict[str, type[Schema]] = {}
    todo = list(Schema.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("services."):
            found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [found[name] for name in sorted(found)]


SCHEMAS = _service_schemas()

_ANY = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=4))
_DECIMALS = st.decimals(allow_nan=False, allow_infinity=False, places=2, max_value=10**9)


def _values(field: fields.Field, depth: int) -> st.SearchStrategy[Any]:
    """Values of ``field``'s kind, ``None`` and, where marshmallow takes them, others."""
    if isinstance(field, fields.Nested):
        nested = field.schema
        one = _objects(type(nested), depth + 1)
        return st.none() | (st.lists(one, max_size=2) if field.many or nested.many else one)
    if isinstance(field, fields.List):
        return st.none() | st.lists(_values(field.inner, depth), max_size=3)
    if isinstance(field, fields.Dict):
        return st.none() | st.dictionaries(st.text(max_size=3), _ANY, max_size=3)
    if isinstance(field, IsoDateTime | fields.AwareDateTime):
        return st.none() | st.datetimes(timezones=st.just(UTC))
    if isinstance(field, fields.DateTime):
        return st.none() | st.datetimes()
    if isinstance(field, fields.Date):
        return st.none() | st.dates()
    if isinstance(field, Money | Rate | fields.Decimal):
        return st.none() | _DECIMALS
    if isinstance(field, fields.Integer):
        return st.none() | st.integers() | st.booleans()
    if isinstance(field, fields.Float):
        return st.none() | st.floats(allow_nan=False) | st.integers()
    if isinstance(field, fields.String):
        return st.none() | st.text(max_size=6) | st.integers()
    return _ANY


def _objects(schema: type[Schema], depth: int = 0) -> st.SearchStrategy[Any]:
    """A dict or an object with some of ``schema``'s fields, each a value of its kind."""
    if depth > 2:
        return st.just({})
    present = {
        field.attribute or name: _values(field, depth)
        for name, field in shared(schema).dump_fields.items()
    }
    as_dict = st.fixed_dictionaries({}, optional=present)
    return as_dict | as_dict.map(lambda values: SimpleNamespace(**values))


def _outcome(dump: Any, data: Any) -> Any:
    try:
        return ("answer", dump(data))
    except Exception as exc:  # both must fail alike where one fails
        return ("error", type(exc))


def test_every_schema_of_the_services_is_covered() -> None:
    names = {cls.__name__ for cls in SCHEMAS}
    assert {"CustomerOut", "FilingOut", "PartnerOut", "OrderOut", "EntryOut"} <= names
    assert len(SCHEMAS) > 100
    assert all(issubclass(cls, WireSchema) or cls.__module__ for cls in SCHEMAS)


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_dumper_answers_what_marshmallow_answers(schema: type[Schema], data: Any) -> None:
    try:
        instance = shared(schema)
    except TypeError:  # a schema made only with arguments of its own
        return
    value = data.draw(_objects(schema))
    assert _outcome(dumper(instance), value) == _outcome(instance.dump, value)


def test_a_list_of_schemas_many_and_fields_read_otherwise() -> None:
    class Inner(Schema):
        n = fields.Integer()

    class Outer(Schema):
        inners = fields.Nested(Inner, many=True)
        method = fields.Method("twice")
        dotted = fields.String(attribute="a.b")
        renamed = fields.String(data_key="other")
        default = fields.Integer(dump_default=7)

        def twice(self, obj: Any) -> int:
            return obj["n"] * 2

    data = {"inners": [{"n": "3"}, {"n": 4}], "n": 2, "a": {"b": 5}, "renamed": 1}
    expected = {"inners": [{"n": 3}, {"n": 4}], "method": 4, "dotted": "5", "other": "1",
                "default": 7}  # fmt: skip
    assert dumper(Outer())(data) == Outer().dump(data) == expected
    many = Outer(many=True)
    assert dumper(many)([data, data]) == many.dump([data, data]) == [expected, expected]


def test_a_field_that_reads_its_value_itself_is_given_its_name() -> None:
    class Named(fields.String):
        def get_value(self, obj: Any, attr: str, accessor: Any = None, default: Any = None) -> Any:
            return attr

    class WithNamed(Schema):
        f = Named(attribute="other")

    assert dumper(WithNamed())({}) == WithNamed().dump({}) == {"f": "f"}
