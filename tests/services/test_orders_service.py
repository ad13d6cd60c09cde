"""The orders service on its own, through Nameko's testing tools, on PostgreSQL.

The filing service is replaced: ``FakeFiling`` answers ``owned_customer`` as the contract
says (the customer when it is protected for someone; ``customer_not_owned`` when unknown),
and the service must refuse customers protected for another partner or still pending.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from nameko.testing.services import replace_dependencies
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.context import Caller
from services.common.db import make_engine
from services.common.errors import Conflict, Forbidden, InvalidInput, InvalidState, NotFound
from services.common.models import OutboxEvent
from services.common.schemas import load
from services.common.unit_of_work import UnitOfWork
from services.orders import flows
from services.orders.schemas import OrderCreate
from services.orders.service import OrdersService
from tests.support import infra
from tests.support.client import unique
from tests.support.orders_service import (
    DIRECTOR,
    FINANCE,
    SALES_OPS,
    SALES_OPS_2,
    FakeFiling,
    call,
    draft,
    line,
    new_id,
    new_product,
    partner_user,
)


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with infra.migrated_database("orders") as url:
        yield url


@pytest.fixture(scope="module")
def engine(database_url: str):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def filing() -> FakeFiling:
    return FakeFiling()


@pytest.fixture
def service(database_url, container_factory, rabbit_config, filing) -> Iterator:
    config = rabbit_config | {"OUTBOX_INTERVAL": 60, "DATABASE_URL": database_url}
    container = container_factory(OrdersService, config)
    replace_dependencies(container, filing=filing)
    container.start()
    yield container


def events_of(engine, order_id: int) -> list[tuple[str, dict]]:
    with Session(engine) as session:
        rows = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
    return [
        (row.event_type, row.payload["data"])
        for row in rows
        if row.payload["data"].get("order_id") == order_id
    ]


@pytest.fixture
def restore_default_flow(service) -> Iterator[None]:
    yield
    call(service, "set_approval_flow", {"steps": flows.DEFAULT_STEPS}, caller=DIRECTOR)


# -- products ---------------------------------------------------------------------------


def test_hq_adds_a_product_and_everyone_reads_it(service) -> None:
    product = new_product(service, "12000.5")
    assert product["list_price"] == "12000.50"
    assert product["active"] is True
    partner = partner_user(new_id())
    assert call(service, "get_product", product["id"], caller=partner) == product


def test_product_sku_is_unique_whatever_its_case(service) -> None:
    product = new_product(service)
    with pytest.raises(Conflict) as error:
        new_product(service, sku=product["sku"].lower())
    assert error.value.code == "sku_taken"


def test_partner_cannot_add_products(service) -> None:
    with pytest.raises(Forbidden):
        call(
            service,
            "create_product",
            {"sku": unique("S"), "name": "x", "unit": "台", "list_price": "1.00"},
            caller=partner_user(new_id()),
        )


@pytest.mark.parametrize("price", [12.5, "12.505", "0", "-1.00", "abc", True])
def test_list_price_is_a_positive_decimal_string_of_two_places(service, price) -> None:
    with pytest.raises(InvalidInput) as error:
        new_product(service, list_price=price)
    assert "list_price" in error.value.errors


# -- ordering ---------------------------------------------------------------------------


def test_partner_drafts_an_order_with_exact_totals_discounts_and_region_snapshot(
    service, filing
) -> None:
    partner_id = new_id()
    partner = partner_user(partner_id)
    customer_id = filing.add(partner_id, region_code="330106", source="hq", name="西湖科技")
    a, b = new_product(service, "33333.34"), new_product(service, "100.00")

    order = draft(service, partner, customer_id, [line(a, 3, "33333.33"), line(b, 7, "80.10")])

    assert order["status"] == "draft"
    assert order["partner_id"] == partner_id
    assert order["total_amount"] == "100560.69"  # 99999.99 + 560.70, exact
    assert order["total_quantity"] == 10
    assert [ln["amount"] for ln in order["lines"]] == ["99999.99", "560.70"]
    # 1 cent under 33333.34 is 0.0000003 off: rounded up, never shown as no discount
    assert [ln["discount"] for ln in order["lines"]] == ["0.000001", "0.199"]
    assert order["max_discount"] == "0.199"
    assert (order["region_code"], order["province"], order["city"]) == (
        "330106",
        "330000",
        "330100",
    )
    assert order["customer_source"] == "hq"
    assert order["customer_name"] == "西湖科技"
    assert order["commission"] is None
    assert order["steps"] == []
    assert filing.calls == [customer_id]


@pytest.mark.parametrize("case", ["another partner's", "pending", "unknown"])
def test_ordering_for_a_customer_not_protected_for_the_partner_is_customer_not_owned(
    service, filing, case
) -> None:
    partner_id = new_id()
    customer_id = {
        "another partner's": lambda: filing.add(new_id()),
        "pending": lambda: filing.add(partner_id, status="pending"),
        "unknown": lambda: new_id(),
    }[case]()
    product = new_product(service)
    contract_no = unique("HT-")

    with pytest.raises(InvalidInput) as error:
        draft(
            service,
            partner_user(partner_id),
            customer_id,
            [line(product, 1, "10.00")],
            contract_no=contract_no,
        )

    assert error.value.code == "customer_not_owned"
    listed = call(service, "list_orders", {"q": contract_no}, caller=SALES_OPS)
    assert listed["total"] == 0


def test_hq_users_do_not_place_orders(service, filing) -> None:
    hq = Caller(user_id=5, permissions=frozenset({"order.create"}))
    with pytest.raises(Forbidden):
        draft(service, hq, filing.add(new_id()), [line(new_product(service), 1, "1.00")])


def test_inactive_or_unknown_products_cannot_be_ordered(service, filing) -> None:
    partner_id = new_id()
    customer_id = filing.add(partner_id)
    retired = new_product(service)
    call(service, "update_product", retired["id"], {"active": False})
    with pytest.raises(InvalidInput) as error:
        draft(service, partner_user(partner_id), customer_id, [line(retired, 1, "1.00")])
    assert error.value.code == "product_inactive"
    assert "lines.0.product_id" in error.value.errors
    with pytest.raises(InvalidInput) as error:
        draft(
            service,
            partner_user(partner_id),
            customer_id,
            [{"product_id": new_id(), "quantity": 1, "unit_price": "1.00"}],
        )
    assert error.value.code == "unknown_product"


def test_contract_number_is_unique_per_partner(service, filing) -> None:
    partner_id = new_id()
    partner = partner_user(partner_id)
    product = new_product(service)
    first = draft(service, partner, filing.add(partner_id), [line(product, 1, "5.00")])
    with pytest.raises(Conflict) as error:
        draft(
            service,
            partner,
            filing.add(partner_id),
            [line(product, 1, "5.00")],
            contract_no=first["contract_no"],
        )
    assert error.value.code == "contract_no_taken"
    other_id = new_id()
    again = draft(
        service,
        partner_user(other_id),
        filing.add(other_id),
        [line(product, 1, "5.00")],
        contract_no=first["contract_no"],
    )
    assert again["contract_no"] == first["contract_no"]


def test_the_same_product_on_two_lines_is_refused(service, filing) -> None:
    partner_id = new_id()
    product = new_product(service)
    with pytest.raises(InvalidInput) as error:
        draft(
            service,
            partner_user(partner_id),
            filing.add(partner_id),
            [line(product, 1, "5.00"), line(product, 2, "4.00")],
        )
    assert "lines" in error.value.errors


# -- approval ---------------------------------------------------------------------------


def submitted_order(service, filing, total_price: str, list_price: str | None = None) -> dict:
    partner_id = new_id()
    partner = partner_user(partner_id)
    product = new_product(service, list_price or total_price)
    order = draft(service, partner, filing.add(partner_id), [line(product, 1, total_price)])
    return call(service, "submit_order", order["id"], caller=partner) | {"_owner": partner}


def step_names(order: dict) -> list[str]:
    return [step["name"] for step in order["steps"]]


def test_order_of_120000_needs_three_steps_and_is_approved_after_the_last(
    service, filing, engine
) -> None:
    order = submitted_order(service, filing, "120000.00")
    assert order["status"] == "submitted"
    assert step_names(order) == ["sales", "finance", "director"]
    assert order["current_step"]["permission"] == "order.approve.sales"

    order = call(service, "approve_order", order["id"], {"comment": "价格合理"}, caller=SALES_OPS)
    assert order["status"] == "submitted"
    assert order["current_step"]["name"] == "finance"
    order = call(service, "approve_order", order["id"], {}, caller=FINANCE)
    order = call(service, "approve_order", order["id"], {"comment": "同意"}, caller=DIRECTOR)

    assert order["status"] == "approved"
    assert order["approved_at"].endswith("Z")
    assert [s["status"] for s in order["steps"]] == ["approved"] * 3
    first = order["steps"][0]["actions"][0]
    assert (first["user_id"], first["action"], first["comment"]) == (101, "approve", "价格合理")
    assert [(h["action"], h["step"]) for h in order["history"]] == [
        ("created", None),
        ("submitted", None),
        ("approved", "sales"),
        ("approved", "finance"),
        ("approved", "director"),
    ]
    kinds = [kind for kind, _ in events_of(engine, order["id"])]
    assert kinds == [
        "order_submitted",
        "order_step_waiting",
        "order_step_waiting",
        "order_step_waiting",
        "order_approved",
    ]
    waiting = [
        data["step"]["permission"]
        for kind, data in events_of(engine, order["id"])
        if kind == "order_step_waiting"
    ]
    assert waiting == ["order.approve.sales", "order.approve.finance", "order.approve.director"]


def test_order_of_5000_needs_two_steps(service, filing) -> None:
    order = submitted_order(service, filing, "5000.00")
    assert step_names(order) == ["sales", "finance"]
    call(service, "approve_order", order["id"], {}, caller=SALES_OPS)
    assert call(service, "approve_order", order["id"], {}, caller=FINANCE)["status"] == "approved"


def test_discount_over_20_percent_off_list_price_adds_the_director(service, filing) -> None:
    over = submitted_order(service, filing, "799.99", "1000.00")
    assert step_names(over) == ["sales", "finance", "director"]
    # what the approvers see says why: a hair over 0.20, not "0.2000"
    assert (over["max_discount"], over["lines"][0]["discount"]) == ("0.20001", "0.20001")
    at_limit = submitted_order(service, filing, "800.00", "1000.00")
    assert step_names(at_limit) == ["sales", "finance"]
    assert at_limit["max_discount"] == "0.20"


def test_approving_out_of_turn_or_without_the_permission_is_forbidden(service, filing) -> None:
    order = submitted_order(service, filing, "120000.00")
    with pytest.raises(Forbidden):
        call(service, "approve_order", order["id"], {}, caller=FINANCE)
    with pytest.raises(Forbidden):
        call(service, "approve_order", order["id"], {}, caller=DIRECTOR)
    with pytest.raises(Forbidden):
        call(service, "approve_order", order["id"], {}, caller=order["_owner"])
    admin_like = partner_user(order["partner_id"], "order.approve.sales")
    with pytest.raises(Forbidden):
        call(service, "approve_order", order["id"], {}, caller=admin_like)
    still = call(service, "get_order", order["id"])
    assert still["current_step"]["name"] == "sales"
    assert all(step["actions"] == [] for step in still["steps"])


def test_whoever_submitted_an_order_approves_no_step_of_it(service, filing) -> None:
    """Segregation of duties: were the submitter ever to hold an approval permission at
    headquarters, its own order is still not its to decide."""
    order = submitted_order(service, filing, "5000.00")
    submitter = Caller(user_id=order["_owner"].user_id, permissions=SALES_OPS.permissions)
    with pytest.raises(Forbidden) as refused:
        call(service, "approve_order", order["id"], {}, caller=submitter)
    assert refused.value.code == "same_approver"
    assert call(service, "get_order", order["id"])["steps"][0]["actions"] == []


def test_one_approver_decides_one_step_of_an_order(service, filing) -> None:
    order = submitted_order(service, filing, "120000.00")
    every_step = Caller(
        user_id=new_id(),
        permissions=SALES_OPS.permissions | FINANCE.permissions | DIRECTOR.permissions,
    )
    call(service, "approve_order", order["id"], {}, caller=every_step)
    for decide, body in (("approve_order", {}), ("reject_order", {"comment": "不行"})):
        with pytest.raises(Forbidden) as refused:
            call(service, decide, order["id"], body, caller=every_step)
        assert refused.value.code == "same_approver"
    still = call(service, "get_order", order["id"])
    assert (still["status"], still["current_step"]["name"]) == ("submitted", "finance")


def test_an_all_step_waits_for_every_named_approver(service, filing, restore_default_flow) -> None:
    call(
        service,
        "set_approval_flow",
        {
            "steps": [
                {
                    "name": "sales-board",
                    "permission": "order.approve.sales",
                    "mode": "all",
                    "approvers": [101, 104],
                },
                {"name": "finance", "permission": "order.approve.finance"},
            ]
        },
        caller=DIRECTOR,
    )
    order = submitted_order(service, filing, "5000.00")
    assert order["current_step"] == {
        "name": "sales-board",
        "permission": "order.approve.sales",
        "mode": "all",
        "approvers": [101, 104],
    }

    order = call(service, "approve_order", order["id"], {}, caller=SALES_OPS)
    assert order["current_step"]["name"] == "sales-board"
    with pytest.raises(InvalidState):
        call(service, "approve_order", order["id"], {}, caller=SALES_OPS)
    outsider = Caller(user_id=999, permissions=frozenset({"order.approve.sales"}))
    with pytest.raises(Forbidden):
        call(service, "approve_order", order["id"], {}, caller=outsider)
    order = call(service, "approve_order", order["id"], {}, caller=SALES_OPS_2)
    assert order["current_step"]["name"] == "finance"
    assert call(service, "approve_order", order["id"], {}, caller=FINANCE)["status"] == "approved"


def test_rejected_order_is_revised_submitted_again_and_approved(service, filing, engine) -> None:
    order = submitted_order(service, filing, "5000.00")
    owner = order["_owner"]
    with pytest.raises(InvalidInput):
        call(service, "reject_order", order["id"], {"comment": ""}, caller=SALES_OPS)
    order = call(service, "reject_order", order["id"], {"comment": "单价过低"}, caller=SALES_OPS)
    assert order["status"] == "rejected"
    assert order["steps"][0]["actions"][0]["comment"] == "单价过低"

    product_id = order["lines"][0]["product_id"]
    revised = call(
        service,
        "update_order",
        order["id"],
        {"lines": [{"product_id": product_id, "quantity": 2, "unit_price": "4900.00"}]},
        caller=owner,
    )
    assert revised["status"] == "rejected"
    assert revised["total_amount"] == "9800.00"
    order = call(service, "submit_order", order["id"], caller=owner)
    assert order["status"] == "submitted"
    assert [s["status"] for s in order["steps"]] == ["pending", "waiting"]
    call(service, "approve_order", order["id"], {}, caller=SALES_OPS)
    order = call(service, "approve_order", order["id"], {}, caller=FINANCE)

    assert order["status"] == "approved"
    assert [h["action"] for h in order["history"]] == [
        "created",
        "submitted",
        "rejected",
        "updated",
        "submitted",
        "approved",
        "approved",
    ]
    rejected = [data for kind, data in events_of(engine, order["id"]) if kind == "order_rejected"]
    assert rejected == [
        {
            "order_id": order["id"],
            "partner_id": order["partner_id"],
            "contract_no": order["contract_no"],
            "customer_name": order["customer_name"],
            "comment": "单价过低",
        }
    ]


def test_submission_checks_the_customer_again(service, filing) -> None:
    partner_id = new_id()
    partner = partner_user(partner_id)
    customer_id = filing.add(partner_id)
    order = draft(service, partner, customer_id, [line(new_product(service), 1, "10.00")])
    filing.customers[customer_id]["status"] = "released"

    with pytest.raises(InvalidInput) as error:
        call(service, "submit_order", order["id"], caller=partner)

    assert error.value.code == "customer_not_owned"
    assert call(service, "get_order", order["id"], caller=partner)["status"] == "draft"
    assert filing.calls == [customer_id, customer_id]


def test_actions_in_the_wrong_state_are_invalid_state(service, filing) -> None:
    partner_id = new_id()
    partner = partner_user(partner_id)
    product = new_product(service, "9.00")
    order = draft(service, partner, filing.add(partner_id), [line(product, 1, "9")])
    with pytest.raises(InvalidState):
        call(service, "approve_order", order["id"], {}, caller=SALES_OPS)
    with pytest.raises(InvalidState):
        call(service, "complete_order", order["id"], caller=SALES_OPS)
    call(service, "submit_order", order["id"], caller=partner)
    with pytest.raises(InvalidState):
        call(service, "submit_order", order["id"], caller=partner)
    with pytest.raises(InvalidState):
        call(service, "update_order", order["id"], {"notes": "x"}, caller=partner)
    call(service, "approve_order", order["id"], {}, caller=SALES_OPS)
    call(service, "approve_order", order["id"], {}, caller=FINANCE)
    with pytest.raises(InvalidState):
        call(service, "reject_order", order["id"], {"comment": "late"}, caller=FINANCE)
    done = call(service, "complete_order", order["id"], caller=SALES_OPS)
    assert done["status"] == "completed"
    with pytest.raises(InvalidState):
        call(service, "cancel_order", order["id"], {"reason": "x"}, caller=FINANCE)


# -- cancellation -----------------------------------------------------------------------


def test_owner_cancels_before_approval_but_not_after(service, filing, engine) -> None:
    order = submitted_order(service, filing, "5000.00")
    owner = order["_owner"]
    with pytest.raises(Forbidden):
        call(service, "cancel_order", order["id"], {"reason": "x"}, caller=FINANCE)
    cancelled = call(service, "cancel_order", order["id"], {"reason": "客户放弃"}, caller=owner)
    assert cancelled["status"] == "cancelled"
    (event,) = [d for k, d in events_of(engine, order["id"]) if k == "order_cancelled"]
    assert event["was_approved"] is False
    assert event["approved_at"] is None
    assert event["reason"] == "客户放弃"

    approved = submitted_order(service, filing, "5000.00")
    call(service, "approve_order", approved["id"], {}, caller=SALES_OPS)
    call(service, "approve_order", approved["id"], {}, caller=FINANCE)
    with pytest.raises(Forbidden):
        call(service, "cancel_order", approved["id"], {"reason": "x"}, caller=approved["_owner"])


def test_hq_cancels_an_approved_order_with_a_reason(service, filing, engine) -> None:
    order = submitted_order(service, filing, "5000.00")
    call(service, "approve_order", order["id"], {}, caller=SALES_OPS)
    approved = call(service, "approve_order", order["id"], {}, caller=FINANCE)
    with pytest.raises(Forbidden):
        call(service, "cancel_order", order["id"], {"reason": "x"}, caller=SALES_OPS)
    with pytest.raises(InvalidInput):
        call(service, "cancel_order", order["id"], {}, caller=FINANCE)

    cancelled = call(service, "cancel_order", order["id"], {"reason": "合同作废"}, caller=FINANCE)

    assert cancelled["status"] == "cancelled"
    (event,) = [d for k, d in events_of(engine, order["id"]) if k == "order_cancelled"]
    assert event == {
        "order_id": order["id"],
        "partner_id": order["partner_id"],
        "customer_id": order["customer_id"],
        "contract_no": order["contract_no"],
        "was_approved": True,
        "approved_at": approved["approved_at"],
        "total_amount": "5000.00",
        "customer_source": "partner",
        "reason": "合同作废",
        "cancelled_at": cancelled["cancelled_at"],
    }


# -- events -----------------------------------------------------------------------------


def test_approved_event_carries_partner_customer_region_source_total_and_lines(
    service, filing, engine
) -> None:
    partner_id = new_id()
    partner = partner_user(partner_id)
    customer_id = filing.add(partner_id, region_code="320105", source="hq", name="南京客户")
    a, b = new_product(service, "200.00"), new_product(service, "50.00")
    order = draft(service, partner, customer_id, [line(a, 2, "199.99"), line(b, 10, "45.50")])
    call(service, "submit_order", order["id"], caller=partner)
    call(service, "approve_order", order["id"], {}, caller=SALES_OPS)
    approved = call(service, "approve_order", order["id"], {}, caller=FINANCE)

    (event,) = [d for k, d in events_of(engine, order["id"]) if k == "order_approved"]
    assert event == {
        "order_id": order["id"],
        "partner_id": partner_id,
        "customer_id": customer_id,
        "customer_name": "南京客户",
        "contract_no": order["contract_no"],
        "region_code": "320105",
        "province": "320000",
        "city": "320100",
        "customer_source": "hq",
        "total_amount": "854.98",
        "lines": [
            {
                "product_id": a["id"],
                "sku": a["sku"],
                "quantity": 2,
                "unit_price": "199.99",
                "amount": "399.98",
            },
            {
                "product_id": b["id"],
                "sku": b["sku"],
                "quantity": 10,
                "unit_price": "45.50",
                "amount": "455.00",
            },
        ],
        "approved_at": approved["approved_at"],
    }
    submitted = [d for k, d in events_of(engine, order["id"]) if k == "order_submitted"]
    assert submitted == [
        {
            "order_id": order["id"],
            "partner_id": partner_id,
            "customer_id": customer_id,
            "customer_name": "南京客户",
            "contract_no": order["contract_no"],
            "total_amount": "854.98",
        }
    ]


def test_completing_an_approved_order_tells_of_it(service, filing, engine) -> None:
    order = submitted_order(service, filing, "100.00")
    call(service, "approve_order", order["id"], {}, caller=SALES_OPS)
    call(service, "approve_order", order["id"], {}, caller=FINANCE)
    with pytest.raises(Forbidden):
        call(service, "complete_order", order["id"], caller=FINANCE)
    assert call(service, "complete_order", order["id"], caller=SALES_OPS)["status"] == "completed"
    completed = {
        "order_id": order["id"],
        "partner_id": order["partner_id"],
        "contract_no": order["contract_no"],
    }
    assert ("order_completed", completed) in events_of(engine, order["id"])


# -- isolation --------------------------------------------------------------------------


def test_a_partner_never_sees_another_partners_order(service, filing) -> None:
    order = submitted_order(service, filing, "100.00")
    stranger = partner_user(new_id(), "report.read")
    for method, args in [
        ("get_order", (order["id"],)),
        ("list_comments", (order["id"],)),
        ("add_comment", (order["id"], {"body": "hi"})),
        ("update_order", (order["id"], {"notes": "x"})),
        ("submit_order", (order["id"],)),
        ("cancel_order", (order["id"], {})),
    ]:
        with pytest.raises(NotFound):
            call(service, method, *args, caller=stranger)
    listed = call(service, "list_orders", {"per_page": 100}, caller=stranger)
    assert listed["total"] == 0
    mine = call(service, "list_orders", {}, caller=order["_owner"])
    assert [item["id"] for item in mine["items"]] == [order["id"]]
    assert call(service, "get_order", order["id"], caller=SALES_OPS)["id"] == order["id"]


def test_parent_partner_sees_but_does_not_act_on_a_child_partners_order(service, filing) -> None:
    order = submitted_order(service, filing, "100.00")
    parent_id = new_id()
    parent = Caller(
        user_id=new_id(),
        partner_id=parent_id,
        partner_ids=frozenset({parent_id, order["partner_id"]}),
        permissions=frozenset({"order.create"}),
    )
    assert call(service, "get_order", order["id"], caller=parent)["id"] == order["id"]
    with pytest.raises(Forbidden):
        call(service, "cancel_order", order["id"], {}, caller=parent)


# -- comments ---------------------------------------------------------------------------


def test_a_comment_tells_everyone_who_took_part_but_its_author(service, filing, engine) -> None:
    order = submitted_order(service, filing, "100.00")
    owner = order["_owner"]
    call(service, "approve_order", order["id"], {}, caller=SALES_OPS)
    first = call(service, "add_comment", order["id"], {"body": "请尽快审批"}, caller=owner)
    second = call(service, "add_comment", order["id"], {"body": "财务审核中"}, caller=FINANCE)

    assert first["author_partner_id"] == order["partner_id"]
    assert second["author_partner_id"] is None
    comments = call(service, "list_comments", order["id"], caller=owner)
    assert [c["body"] for c in comments] == ["请尽快审批", "财务审核中"]
    assert [c["body"] for c in call(service, "get_order", order["id"])["comments"]] == [
        "请尽快审批",
        "财务审核中",
    ]
    told = [d for k, d in events_of(engine, order["id"]) if k == "order_commented"]
    assert told[0]["participant_user_ids"] == [SALES_OPS.user_id]
    assert told[1] == {
        "order_id": order["id"],
        "partner_id": order["partner_id"],
        "contract_no": order["contract_no"],
        "comment_id": second["id"],
        "author_user_id": FINANCE.user_id,
        "body": "财务审核中",
        "participant_user_ids": sorted([owner.user_id, SALES_OPS.user_id]),
    }


# -- the flow configuration -------------------------------------------------------------


def test_default_flow_is_sales_finance_and_director_when_big_or_discounted(service) -> None:
    flow = call(service, "get_approval_flow", caller=DIRECTOR)
    assert flow["kind"] == "order"
    assert [(s["name"], s["permission"]) for s in flow["steps"]] == [
        ("sales", "order.approve.sales"),
        ("finance", "order.approve.finance"),
        ("director", "order.approve.director"),
    ]
    assert flow["steps"][2]["condition"] == {
        "any": [
            {"field": "total_amount", "op": ">=", "value": "100000"},
            {"field": "max_discount", "op": ">", "value": "0.20"},
        ]
    }


def test_only_hq_with_flow_manage_reads_or_changes_the_flow(service) -> None:
    for caller in (SALES_OPS, partner_user(new_id(), "flow.manage")):
        with pytest.raises(Forbidden):
            call(service, "get_approval_flow", caller=caller)
        with pytest.raises(Forbidden):
            call(service, "set_approval_flow", {"steps": flows.DEFAULT_STEPS}, caller=caller)


@pytest.mark.parametrize(
    "steps",
    [
        [],
        [{"name": "a", "permission": "order.approve.sales", "mode": "all"}],
        [{"name": "a", "permission": "order.approve.sales", "mode": "some"}],
        [{"name": "a", "permission": "x"}],
        [{"name": "a", "permission": "order.approve.sales"}] * 2,
        [
            {
                "name": "a",
                "permission": "order.approve.sales",
                "condition": {"field": "colour", "op": ">", "value": "1"},
            }
        ],
        [
            {
                "name": "only-big",
                "permission": "order.approve.director",
                "condition": {"field": "total_amount", "op": ">=", "value": "100000"},
            }
        ],
    ],
)
def test_malformed_flows_are_refused_and_the_flow_stays(service, steps) -> None:
    before = call(service, "get_approval_flow", caller=DIRECTOR)
    with pytest.raises(InvalidInput):
        call(service, "set_approval_flow", {"steps": steps}, caller=DIRECTOR)
    assert call(service, "get_approval_flow", caller=DIRECTOR)["steps"] == before["steps"]


def test_a_changed_flow_applies_to_orders_submitted_afterwards(
    service, filing, restore_default_flow
) -> None:
    before = submitted_order(service, filing, "5000.00")
    saved = call(
        service,
        "set_approval_flow",
        {"kind": "order", "steps": [{"name": "finance", "permission": "order.approve.finance"}]},
        caller=DIRECTOR,
    )
    assert saved["updated_by"] == DIRECTOR.user_id
    after = submitted_order(service, filing, "5000.00")
    assert step_names(after) == ["finance"]
    assert step_names(call(service, "get_order", before["id"])) == ["sales", "finance"]


def test_money_is_never_a_float_on_the_wire(service, filing) -> None:
    partner_id = new_id()
    with pytest.raises(InvalidInput) as error:
        draft(
            service,
            partner_user(partner_id),
            filing.add(partner_id),
            [{"product_id": new_product(service)["id"], "quantity": 1, "unit_price": 9.99}],
        )
    assert "lines" in error.value.errors


def test_ids_beyond_bigint_are_not_found_and_filters_beyond_it_invalid(service) -> None:
    for method in ("get_order", "get_product", "list_comments"):
        with pytest.raises(NotFound):
            call(service, method, 2**63)
    with pytest.raises(InvalidInput):
        call(service, "list_orders", {"partner_id": 2**63})


def test_a_contract_number_taken_by_a_concurrent_request_is_a_conflict_not_an_error(
    service, filing, engine, monkeypatch
) -> None:
    from services.orders import ordering

    partner_id = new_id()
    partner = partner_user(partner_id)
    product = new_product(service)
    first = draft(service, partner, filing.add(partner_id), [line(product, 1, "5.00")])
    # The request that lost the race did its check before the winner committed.
    monkeypatch.setattr(ordering, "_check_contract_no", lambda *args: None)
    body = {
        "customer_id": filing.add(partner_id),
        "contract_no": first["contract_no"],
        "lines": [line(product, 1, "5.00")],
    }
    uow = UnitOfWork(lambda: Session(engine), "orders")
    try:
        with pytest.raises(Conflict) as error:
            ordering.create_order(uow, partner, load(OrderCreate, body), filing.owned_customer)
    finally:
        uow.close()
    assert error.value.code == "contract_no_taken"
