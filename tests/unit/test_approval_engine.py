"""The approval-flow engine: steps, modes, conditions, who may act."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.common.approval import FlowInstance, parse_flow
from services.common.context import Caller
from services.common.errors import Forbidden, InvalidInput, InvalidState

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
#: When the instances of these tests were submitted.
STARTED = NOW - timedelta(hours=1)
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
SUBMITTER = 50


def start(flow: list, subject: dict) -> FlowInstance:
    """An instance of ``flow`` submitted by ``SUBMITTER``."""
    return FlowInstance.start(flow, subject, submitted_by=SUBMITTER, started_at=STARTED)


def test_order_of_120000_has_three_steps_and_of_5000_two() -> None:
    assert [s.definition.name for s in start(ORDER_FLOW, {"total_amount": "120000.00"}).steps] == [
        "sales",
        "finance",
        "director",
    ]
    assert [s.definition.name for s in start(ORDER_FLOW, {"total_amount": "5000.00"}).steps] == [
        "sales",
        "finance",
    ]


def test_condition_at_exactly_the_threshold_applies() -> None:
    assert len(start(ORDER_FLOW, {"total_amount": "100000.00"}).steps) == 3


def test_steps_are_approved_in_turn_until_the_flow_is_approved() -> None:
    flow = start(ORDER_FLOW, {"total_amount": "5000"})
    assert flow.approve(1, SALES, "ok", NOW) == "step_approved"
    assert flow.current.definition.name == "finance"
    assert flow.approve(2, FINANCE, None, NOW) == "approved"
    assert flow.status == "approved"


def test_approving_out_of_turn_is_forbidden() -> None:
    flow = start(ORDER_FLOW, {"total_amount": "5000"})
    with pytest.raises(Forbidden):
        flow.approve(2, FINANCE, None, NOW)


def test_all_step_waits_for_every_named_approver() -> None:
    flow = start(
        parse_flow([{"name": "board", "permission": "p", "mode": "all", "approvers": [7, 8]}]), {}
    )
    assert flow.approve(7, {"p"}, None, NOW) == "waiting"
    with pytest.raises(InvalidState):
        flow.approve(7, {"p"}, None, NOW)
    with pytest.raises(Forbidden):
        flow.approve(9, {"p"}, None, NOW)
    assert flow.approve(8, {"p"}, None, NOW) == "approved"


def test_rejection_needs_a_comment_and_ends_the_flow() -> None:
    flow = start(ORDER_FLOW, {"total_amount": "5000"})
    with pytest.raises(InvalidInput):
        flow.reject(1, SALES, " ", NOW)
    assert flow.reject(1, SALES, "price too low", NOW) == "rejected"
    with pytest.raises(InvalidState):
        flow.approve(1, SALES, None, NOW)


def test_instance_round_trips_through_json() -> None:
    flow = start(ORDER_FLOW, {"total_amount": "200000"})
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
    return [s.definition.name for s in start(flow, subject).steps]


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
    flow = start(DIRECTOR_WHEN_BIG_OR_DISCOUNTED, {"max_discount": "0.5"})
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


# -- segregation of duties --------------------------------------------------------------

EVERY_APPROVAL = SALES | FINANCE | DIRECTOR | {"p"}


def big_order(submitted_by: int | None = SUBMITTER) -> FlowInstance:
    return FlowInstance.start(
        ORDER_FLOW, {"total_amount": "120000"}, submitted_by=submitted_by, started_at=STARTED
    )


def assert_same_approver(decide, *args) -> None:
    with pytest.raises(Forbidden) as refused:
        decide(*args)
    assert refused.value.code == "same_approver"


def test_one_person_holding_every_permission_decides_one_step_only() -> None:
    flow = big_order()
    assert flow.approve(1, EVERY_APPROVAL, "ok", NOW) == "step_approved"
    assert_same_approver(flow.approve, 1, EVERY_APPROVAL, None, NOW)
    assert_same_approver(flow.reject, 1, EVERY_APPROVAL, "no", NOW)
    assert flow.approve(2, EVERY_APPROVAL, None, NOW) == "step_approved"
    assert_same_approver(flow.approve, 1, EVERY_APPROVAL, None, NOW)
    assert_same_approver(flow.approve, 2, EVERY_APPROVAL, None, NOW)
    assert (flow.status, flow.current.definition.name) == ("pending", "director")
    assert flow.approve(3, EVERY_APPROVAL, None, NOW) == "approved"


def test_the_submitter_neither_approves_nor_rejects_its_own_submission() -> None:
    flow = big_order()
    assert_same_approver(flow.approve, SUBMITTER, EVERY_APPROVAL, None, NOW)
    assert_same_approver(flow.reject, SUBMITTER, EVERY_APPROVAL, "no", NOW)
    assert flow.steps[0].actions == []
    assert flow.approve(1, SALES, None, NOW) == "step_approved"
    assert_same_approver(flow.approve, SUBMITTER, FINANCE, None, NOW)


def test_the_submitter_is_kept_with_the_instance_through_json() -> None:
    again = FlowInstance.from_dict(big_order().to_dict())
    assert again.submitted_by == SUBMITTER
    assert_same_approver(again.approve, SUBMITTER, SALES, None, NOW)


def test_an_instance_stored_without_its_submitter_still_allows_one_step_per_person() -> None:
    stored = big_order().to_dict()
    del stored["submitted_by"]
    flow = FlowInstance.from_dict(stored)
    assert flow.submitted_by is None
    assert flow.approve(1, EVERY_APPROVAL, None, NOW) == "step_approved"
    assert_same_approver(flow.approve, 1, EVERY_APPROVAL, None, NOW)
    again = FlowInstance.from_dict(flow.to_dict())
    assert_same_approver(again.approve, 1, EVERY_APPROVAL, None, NOW)


def test_a_rejecter_of_one_step_decides_no_later_step_of_the_same_instance() -> None:
    flow = big_order()
    flow.approve(1, SALES, None, NOW)
    assert_same_approver(flow.reject, 1, EVERY_APPROVAL, "too cheap", NOW)
    assert flow.reject(2, FINANCE, "too cheap", NOW) == "rejected"


def test_a_new_instance_after_a_rejection_starts_with_nobody_having_acted() -> None:
    first = big_order()
    first.reject(1, SALES, "revise", NOW)
    second = big_order()
    assert second.approve(1, SALES, None, NOW) == "step_approved"
    assert_same_approver(second.approve, 1, EVERY_APPROVAL, None, NOW)


def test_every_named_approver_of_an_all_step_signs_it_and_no_other_step() -> None:
    flow = FlowInstance.start(
        parse_flow(
            [
                {"name": "board", "permission": "p", "mode": "all", "approvers": [7, 8]},
                {"name": "finance", "permission": "order.approve.finance"},
            ]
        ),
        {},
        submitted_by=SUBMITTER,
        started_at=STARTED,
    )
    assert flow.approve(7, EVERY_APPROVAL, None, NOW) == "waiting"
    assert flow.approve(8, EVERY_APPROVAL, None, NOW) == "step_approved"
    assert_same_approver(flow.approve, 7, EVERY_APPROVAL, None, NOW)
    assert flow.approve(9, FINANCE, None, NOW) == "approved"


def test_a_submitter_named_in_an_all_step_cannot_start_a_flow_it_could_never_finish() -> None:
    board = parse_flow([{"name": "board", "permission": "p", "mode": "all", "approvers": [7, 8]}])
    with pytest.raises(Forbidden) as refused:
        FlowInstance.start(board, {}, submitted_by=7, started_at=STARTED)
    assert refused.value.code == "same_approver"


def test_a_flow_naming_one_approver_in_two_all_steps_is_refused() -> None:
    with pytest.raises(InvalidInput) as error:
        parse_flow(
            [
                {"name": "board", "permission": "p", "mode": "all", "approvers": [7, 8]},
                {"name": "audit", "permission": "p", "mode": "all", "approvers": [8, 9]},
            ]
        )
    assert list(error.value.errors) == ["steps.1"]


def test_nobody_decides_anonymously() -> None:
    flow = big_order()
    with pytest.raises(Forbidden):
        flow.approve(None, EVERY_APPROVAL, None, NOW)
    assert flow.steps[0].actions == []


# -- accounts set up by someone else after the flow started -------------------------------
#
# A user manager who decided one step could create an account, or set another's password or
# roles, and decide the next step with it. Such an account decides no step of a flow that
# started before someone else set its credentials.

SET_UP_LATER = STARTED + timedelta(minutes=5)
SET_UP_BEFORE = STARTED - timedelta(days=30)


def assert_set_up_too_late(decide, *args) -> None:
    with pytest.raises(Forbidden) as refused:
        decide(*args, credentials_set_at=SET_UP_LATER)
    assert refused.value.code == "same_approver"
    assert "set up after the flow started" in str(refused.value)


def test_an_account_set_up_after_the_flow_started_decides_none_of_its_steps() -> None:
    flow = big_order()
    assert_set_up_too_late(flow.approve, 2, EVERY_APPROVAL, None, NOW)
    assert_set_up_too_late(flow.reject, 2, EVERY_APPROVAL, "no", NOW)
    assert flow.steps[0].actions == []
    assert flow.approve(1, SALES, None, NOW, credentials_set_at=SET_UP_BEFORE) == "step_approved"
    assert_set_up_too_late(flow.approve, 2, FINANCE, None, NOW)
    assert (flow.status, flow.current.definition.name) == ("pending", "finance")
    assert flow.current.actions == []


def test_an_account_set_up_before_the_flow_started_decides_a_step() -> None:
    flow = big_order()
    assert flow.approve(1, SALES, None, NOW, credentials_set_at=SET_UP_BEFORE) == "step_approved"
    assert flow.approve(2, FINANCE, None, NOW, credentials_set_at=STARTED) == "step_approved"
    assert flow.reject(3, DIRECTOR, "no", NOW, credentials_set_at=SET_UP_BEFORE) == "rejected"


def test_the_start_time_is_kept_with_the_instance_through_json() -> None:
    stored = big_order().to_dict()
    assert stored["started_at"] == "2026-11-28T11:00:00Z"
    again = FlowInstance.from_dict(stored)
    assert again.started_at == STARTED
    assert again.to_dict() == stored
    assert_set_up_too_late(again.approve, 2, SALES, None, NOW)


def test_a_start_time_in_another_zone_is_compared_as_the_same_instant() -> None:
    shanghai = timezone(timedelta(hours=8))
    flow = FlowInstance.start(
        ORDER_FLOW,
        {"total_amount": "120000"},
        submitted_by=SUBMITTER,
        started_at=STARTED.astimezone(shanghai),
    )
    assert flow.to_dict()["started_at"] == "2026-11-28T11:00:00Z"
    an_hour_before_in_shanghai_time = (STARTED - timedelta(hours=1)).astimezone(shanghai)
    assert (
        flow.approve(1, SALES, None, NOW, credentials_set_at=an_hour_before_in_shanghai_time)
        == "step_approved"
    )
    assert_set_up_too_late(flow.approve, 2, FINANCE, None, NOW)


def test_an_instance_stored_without_its_start_time_is_not_checked_for_late_accounts() -> None:
    stored = big_order().to_dict()
    del stored["started_at"]
    flow = FlowInstance.from_dict(stored)
    assert flow.started_at is None
    assert flow.approve(1, SALES, None, NOW, credentials_set_at=SET_UP_LATER) == "step_approved"
    assert_same_approver(flow.approve, 1, EVERY_APPROVAL, None, NOW)


def test_a_decider_whose_credentials_time_is_unknown_is_not_checked_for_it() -> None:
    flow = big_order()
    assert flow.approve(1, SALES, None, NOW, credentials_set_at=None) == "step_approved"
    assert flow.approve(2, FINANCE, None, NOW) == "step_approved"


def test_the_credentials_time_travels_with_the_caller_and_old_contexts_lack_it() -> None:
    caller = Caller(user_id=2, permissions=frozenset(SALES), credentials_set_at=SET_UP_LATER)
    claims = caller.to_claims()
    assert claims["cred"] == "2026-11-28T11:05:00Z"
    assert Caller.from_claims(claims) == caller
    signed_before = {key: value for key, value in claims.items() if key != "cred"}
    assert Caller.from_claims(signed_before).credentials_set_at is None
    assert Caller.from_claims(Caller(user_id=2).to_claims()).credentials_set_at is None
