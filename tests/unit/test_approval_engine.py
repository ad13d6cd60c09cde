"""The approval-flow engine: steps, modes, conditions, who may act."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.common.approval import FlowInstance, parse_flow
from services.common.errors import Forbidden, InvalidInput, InvalidState

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ORDER_FLOW = parse_flow(
    [
        {"name": "sales", "permission": "order.approve.sales", "mode": "any"},
        {"name": "finance", "permission": "order.approve.finance", "mode": "any"},
        {
            "name": "director",
            "permission": "order.approve.director",
            "mode": "any",
            "condition": {"field": "total_amount", "op": ">=", "value": "100000"},
        },
    ],
    fields={"total_amount", "max_discount"},
)
SALES = {"order.approve.sales"}
FINANCE = {"order.approve.finance"}
DIRECTOR = {"order.approve.director"}


def test_order_of_120000_has_three_steps_and_of_5000_two() -> None:
    assert [
        s.definition.name
        for s in FlowInstance.start(ORDER_FLOW, {"total_amount": "120000.00"}).steps
    ] == ["sales", "finance", "director"]
    assert [
        s.definition.name for s in FlowInstance.start(ORDER_FLOW, {"total_amount": "5000.00"}).steps
    ] == ["sales", "finance"]


def test_condition_at_exactly_the_threshold_applies() -> None:
    assert len(FlowInstance.start(ORDER_FLOW, {"total_amount": "100000.00"}).steps) == 3


def test_steps_are_approved_in_turn_until_the_flow_is_approved() -> None:
    flow = FlowInstance.start(ORDER_FLOW, {"total_amount": "5000"})
    assert flow.approve(1, SALES, "ok", NOW) == "step_approved"
    assert flow.current.definition.name == "finance"
    assert flow.approve(2, FINANCE, None, NOW) == "approved"
    assert flow.status == "approved"


def test_approving_out_of_turn_is_forbidden() -> None:
    flow = FlowInstance.start(ORDER_FLOW, {"total_amount": "5000"})
    with pytest.raises(Forbidden):
        flow.approve(2, FINANCE, None, NOW)


def test_all_step_waits_for_every_named_approver() -> None:
    flow = FlowInstance.start(
        parse_flow([{"name": "board", "permission": "p", "mode": "all", "approvers": [7, 8]}]), {}
    )
    assert flow.approve(7, {"p"}, None, NOW) == "waiting"
    with pytest.raises(InvalidState):
        flow.approve(7, {"p"}, None, NOW)
    with pytest.raises(Forbidden):
        flow.approve(9, {"p"}, None, NOW)
    assert flow.approve(8, {"p"}, None, NOW) == "approved"


def test_rejection_needs_a_comment_and_ends_the_flow() -> None:
    flow = FlowInstance.start(ORDER_FLOW, {"total_amount": "5000"})
    with pytest.raises(InvalidInput):
        flow.reject(1, SALES, " ", NOW)
    assert flow.reject(1, SALES, "price too low", NOW) == "rejected"
    with pytest.raises(InvalidState):
        flow.approve(1, SALES, None, NOW)


def test_instance_round_trips_through_json() -> None:
    flow = FlowInstance.start(ORDER_FLOW, {"total_amount": "200000"})
    flow.approve(1, SALES, "ok", NOW)
    again = FlowInstance.from_dict(flow.to_dict())
    assert again.to_dict() == flow.to_dict()
    assert again.current.definition.name == "finance"
    assert again.steps[0].actions[0].at == "2026-11-28T12:00:00Z"


def test_invalid_flow_definitions_are_refused_with_reasons() -> None:
    with pytest.raises(InvalidInput):
        parse_flow([])
    with pytest.raises(InvalidInput) as error:
        parse_flow([{"name": "x", "permission": "p", "mode": "all"}])
    assert "steps.0" in error.value.errors
    with pytest.raises(InvalidInput):
        parse_flow(
            [
                {
                    "name": "x",
                    "permission": "p",
                    "condition": {"field": "colour", "op": ">=", "value": "1"},
                }
            ],
            fields={"total_amount"},
        )


# -- "any of" conditions ----------------------------------------------------------------

DIRECTOR_WHEN_BIG_OR_DISCOUNTED = parse_flow(
    [
        {"name": "sales", "permission": "order.approve.sales"},
        {
            "name": "director",
            "permission": "order.approve.director",
            "condition": {
                "any": [
                    {"field": "total_amount", "op": ">=", "value": "100000"},
                    {"field": "max_discount", "op": ">", "value": "0.20"},
                ]
            },
        },
    ],
    fields={"total_amount", "max_discount"},
)


def step_names(flow: list, subject: dict) -> list[str]:
    return [s.definition.name for s in FlowInstance.start(flow, subject).steps]


@pytest.mark.parametrize(
    ("total", "discount", "expected"),
    [
        ("120000.00", "0", ["sales", "director"]),
        ("5000.00", "0.25", ["sales", "director"]),
        ("5000.00", "0.2001", ["sales", "director"]),
        ("5000.00", "0.20", ["sales"]),
        ("99999.99", "0.10", ["sales"]),
    ],
)
def test_any_condition_adds_the_step_when_one_of_its_conditions_holds(
    total: str, discount: str, expected: list[str]
) -> None:
    subject = {"total_amount": total, "max_discount": discount}
    assert step_names(DIRECTOR_WHEN_BIG_OR_DISCOUNTED, subject) == expected


def test_any_condition_with_a_missing_field_is_decided_by_the_others() -> None:
    assert step_names(DIRECTOR_WHEN_BIG_OR_DISCOUNTED, {"total_amount": "150000"}) == [
        "sales",
        "director",
    ]
    assert step_names(DIRECTOR_WHEN_BIG_OR_DISCOUNTED, {}) == ["sales"]


def test_any_condition_round_trips_through_its_wire_form_and_json() -> None:
    director = DIRECTOR_WHEN_BIG_OR_DISCOUNTED[1]
    assert director.to_dict()["condition"] == {
        "any": [
            {"field": "total_amount", "op": ">=", "value": "100000"},
            {"field": "max_discount", "op": ">", "value": "0.20"},
        ]
    }
    assert parse_flow([director.to_dict()])[0] == director
    flow = FlowInstance.start(DIRECTOR_WHEN_BIG_OR_DISCOUNTED, {"max_discount": "0.5"})
    again = FlowInstance.from_dict(flow.to_dict())
    assert again.to_dict() == flow.to_dict()
    assert again.steps[1].definition.condition == director.condition


@pytest.mark.parametrize(
    "condition",
    [
        {"any": []},
        {"any": "total_amount >= 1"},
        {"any": [{"field": "total_amount", "op": "~", "value": "1"}]},
        {"any": [{"field": "colour", "op": ">=", "value": "1"}]},
        {"any": [{"field": "total_amount", "op": ">=", "value": "lots"}]},
        {"any": [{"field": "total_amount", "op": ">=", "value": "1"}], "field": "x"},
        "total_amount >= 1",
    ],
)
def test_malformed_any_conditions_are_refused_naming_the_step(condition: object) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_flow(
            [
                {"name": "x", "permission": "p"},
                {"name": "y", "permission": "p", "condition": condition},
            ],
            fields={"total_amount"},
        )
    assert list(error.value.errors) == ["steps.1"]
