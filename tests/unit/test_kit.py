"""The shared kit's pure rules: money, typed errors on the wire, the caller, scoping."""

from __future__ import annotations

import importlib
import io
from datetime import timedelta
from decimal import Decimal

import jwt
import pytest
from marshmallow import Schema, ValidationError, fields
from nameko.exceptions import serialize
from openpyxl import load_workbook
from sqlalchemy import Column, Integer, MetaData, Table, select

from services.common.config import get_settings
from services.common.context import Caller, caller_of_accepted_call, sign_caller, verify_caller
from services.common.errors import Forbidden, InvalidInput, NotFound, Unauthenticated, from_wire
from services.common.money import apply_rate, money, money_str, to_decimal
from services.common.report_files import Table as FileTable
from services.common.report_files import to_xlsx
from services.common.schemas import PageArgs, Rate, load, load_id
from services.common.scoping import scoped
from services.common.timeutil import utcnow


def test_money_rounds_half_up_to_the_cent() -> None:
    assert money("999.995") == Decimal("1000.00")
    assert money("0.004") == Decimal("0.00")
    assert money_str("1250") == "1250.00"


def test_commission_of_33333_33_at_3_percent_is_1000_00() -> None:
    assert apply_rate("33333.33", "0.03") == Decimal("1000.00")


def test_money_refuses_floats_and_non_numbers() -> None:
    with pytest.raises(TypeError):
        to_decimal(0.1)
    with pytest.raises(ValueError):
        to_decimal("abc")
    with pytest.raises(ValueError):
        to_decimal("NaN")


def test_typed_error_survives_nameko_serialisation() -> None:
    error = InvalidInput("bad", "region_not_in_territory", {"region_code": ["outside"]})
    rebuilt = from_wire(serialize(error))
    assert isinstance(rebuilt, InvalidInput)
    assert rebuilt.status == 422
    assert rebuilt.code == "region_not_in_territory"
    assert rebuilt.errors == {"region_code": ["outside"]}


def test_foreign_exception_is_not_taken_for_a_typed_error() -> None:
    class NotFound(Exception):  # same name, other module
        pass

    assert from_wire(serialize(NotFound("x"))) is None
    assert from_wire(serialize(KeyError("x"))) is None


def test_signed_caller_round_trips() -> None:
    caller = Caller(
        user_id=5,
        partner_id=2,
        partner_ids=frozenset({2, 9}),
        permissions=frozenset({"customer.create"}),
        request_id="r1",
    )
    assert verify_caller(sign_caller(caller)) == caller


def test_caller_signed_with_other_key_is_refused() -> None:
    with pytest.raises(Unauthenticated):
        verify_caller(sign_caller(Caller(user_id=1), key="k" * 40))


def test_missing_caller_is_refused() -> None:
    with pytest.raises(Unauthenticated):
        verify_caller(None)


def _expired(caller: Caller, key: str | None = None) -> str:
    """A caller token that expired a minute ago, never verified before (not cached)."""
    settings = get_settings()
    now = utcnow()
    claims = caller.to_claims() | {
        "aud": "prm-internal",
        "iat": now - timedelta(minutes=10),
        "exp": now - timedelta(minutes=1),
    }
    return jwt.encode(claims, key or settings.internal_key, algorithm="HS256")


def test_an_expired_caller_is_refused_but_a_call_accepted_before_keeps_its_caller() -> None:
    # A long call (a lead import) outlives its caller token: what it saves at the end is
    # still its caller's, whether the token is in the cache or not.
    caller = Caller(user_id=5, permissions=frozenset({"lead.create"}), request_id="long-1")
    assert caller_of_accepted_call(_expired(caller)) == caller  # first seen: not cached
    with pytest.raises(Unauthenticated):
        verify_caller(_expired(caller))
    assert caller_of_accepted_call(_expired(caller)) == caller  # cached
    with pytest.raises(Unauthenticated):
        caller_of_accepted_call(_expired(caller, key="k" * 40))


def test_partner_user_sees_only_partners_in_scope() -> None:
    caller = Caller(user_id=1, partner_id=2, partner_ids=frozenset({2, 3}))
    assert caller.sees_partner(3)
    assert not caller.sees_partner(4)
    assert not caller.sees_partner(None)
    assert Caller(user_id=1).sees_partner(4)  # HQ


def test_require_raises_forbidden_without_the_permission() -> None:
    with pytest.raises(Forbidden):
        Caller(user_id=1, partner_id=2, partner_ids=frozenset({2})).require("partner.manage")
    with pytest.raises(Forbidden):
        Caller(
            user_id=1,
            partner_id=2,
            partner_ids=frozenset({2}),
            permissions=frozenset({"user.manage"}),
        ).require_hq("user.manage")
    Caller.system_caller("test").require("anything")


def test_scoped_query_filters_partner_rows_and_leaves_hq_unfiltered() -> None:
    table = Table("rows", MetaData(), Column("id", Integer), Column("partner_id", Integer))
    stmt = select(table)
    partner = scoped(
        stmt, table.c.partner_id, Caller(user_id=1, partner_id=2, partner_ids=frozenset({2}))
    )
    assert "partner_id IN" in str(partner)
    assert "WHERE" not in str(scoped(stmt, table.c.partner_id, Caller(user_id=1)))
    empty = scoped(
        stmt, table.c.partner_id, Caller(user_id=1, partner_id=2, partner_ids=frozenset())
    )
    assert "false" in str(empty).lower() or "0 = 1" in str(empty)


def test_unknown_field_is_invalid_input_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as error:
        load(PageArgs, {"page": 1, "bogus": 2})
    assert "bogus" in error.value.errors


def test_per_page_is_capped_at_100() -> None:
    with pytest.raises(InvalidInput):
        load(PageArgs, {"per_page": 101})
    assert load(PageArgs, {}) == {"page": 1, "per_page": 20}


@pytest.mark.parametrize("value", [0, -1, "3", True, None, 1.5])
def test_ids_must_be_positive_integers(value: object) -> None:
    with pytest.raises(InvalidInput):
        load_id(value)


def test_not_found_is_404() -> None:
    assert NotFound("x").status == 404


def test_an_id_beyond_bigint_is_not_found_rather_than_a_database_error() -> None:
    from services.common.schemas import MAX_ID

    assert load_id(MAX_ID) == MAX_ID
    with pytest.raises(NotFound):
        load_id(MAX_ID + 1)


def test_a_failed_statement_does_not_quote_its_parameters() -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import StatementError

    from services.common.db import make_engine

    engine = make_engine("sqlite://")
    with engine.connect() as connection, pytest.raises(StatementError) as raised:
        connection.execute(text("SELECT * FROM no_such_table WHERE x = :x"), {"x": "13900001111"})
    assert "no_such_table" in str(raised.value) and "13900001111" not in str(raised.value)


@pytest.mark.parametrize("text", ["1e999999999999", "1E-999999999999", "0.0000001"])
def test_a_rate_too_large_or_too_fine_is_refused_not_an_error(text: str) -> None:
    class RateBody(Schema):
        rate = Rate(required=True)

    with pytest.raises(ValidationError):
        RateBody().load({"rate": text})


def _input_schemas() -> list[type[Schema]]:
    found = []
    for module in ("commission", "filing", "notify", "orders", "partners"):
        loaded = importlib.import_module(f"services.{module}.schemas")
        for name, cls in vars(loaded).items():
            if (
                isinstance(cls, type)
                and issubclass(cls, Schema)
                and cls.__module__ == loaded.__name__
                and not name.endswith(("Out", "Summary"))
            ):
                found.append(cls)
    return found


def test_every_id_a_request_or_event_carries_is_refused_beyond_bigint() -> None:
    # SQLite cannot even compare such a number (OverflowError: a 500); PostgreSQL has no
    # row with it. Every id field read from a body, a query or an event says so (422).
    taking_any = []
    for schema in _input_schemas():
        for name, field in schema._declared_fields.items():
            inner = field.inner if isinstance(field, fields.List) else field
            if isinstance(inner, fields.Integer) and (name == "id" or name.endswith("_id")):
                try:
                    inner.deserialize(2**63)
                except ValidationError:
                    continue
                taking_any.append(f"{schema.__name__}.{name}")
    assert taking_any == []


def test_an_xlsx_cell_with_control_characters_is_written_without_them() -> None:
    table = FileTable(title="t", headers=["名称"], rows=[["Pump\x07 \x1b[1m"], ["合计"]])
    sheet = load_workbook(io.BytesIO(to_xlsx(table))).active
    assert sheet["A2"].value == "Pump [1m"
