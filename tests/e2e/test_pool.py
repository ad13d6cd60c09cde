"""The public pool (公海), follow-ups (跟进记录) and idle release over HTTP with every
service running (DOMAIN.md, "Channel operations").

Partners A and D are city partners of 武汉 (420100), P the 湖北 agent (420000) and C the
partner of 长沙 (430100): no other test's partner covers these regions. A releases a
customer of 武昌区 (420106); D and P see it in the pool masked and may claim it, C may not.

Time moves as ``manage.py testing age-customer`` moves it: by writing the filing
database's times (``aged``), for the timer to find.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.answers import assert_problem, ok
from tests.support.client import Client
from tests.support.filing_api import (
    CUSTOMERS,
    FILINGS,
    age_idle,
    age_release,
    customer_body,
    file_customer,
    filing_rows,
    graded,
)
from tests.support.waiting import wait_for
from tests.support.world import World

POOL = "/api/v1/pool"
CITY, DISTRICT, OTHER_DISTRICT = "420100", "420106", "420102"


@pytest.fixture(scope="module")
def people(admin: Client, anonymous: Client) -> dict[str, Any]:
    world = World(admin, anonymous)
    a, d = world.partner([CITY]), world.partner([CITY])
    p = world.partner(["420000"], type_="provincial_agent")
    c = world.partner(["430100"])
    manager = world.login(world.user(None, ["channel_manager"]))
    return {
        "world": world,
        "admin": admin,
        "manager": manager,
        **{name: partner for name, partner in zip("adpc", (a, d, p, c), strict=True)},
        **{
            f"user_{name}": world.partner_user(partner["id"])
            for name, partner in zip("adpc", (a, d, p, c), strict=True)
        },
    }


def protected(people: dict, owner: str = "a", **extra: Any) -> dict:
    """A customer of ``owner`` in 武昌区, approved."""
    body = customer_body(DISTRICT, **extra)
    customer = file_customer(people[f"user_{owner}"], body)
    path = f"{FILINGS}/{customer['filing']['id']}/approve"
    ok(people["manager"].post(path, {"comment": "同意"}))
    return ok(people[f"user_{owner}"].get(f"{CUSTOMERS}/{customer['id']}")) | {"_body": body}


def release(user: Client, customer: dict, reason: str = "客户暂无需求") -> dict:
    return ok(user.post(f"{CUSTOMERS}/{customer['id']}/release", {"reason": reason}))


def pool_ids(user: Client, **query: Any) -> set[int]:
    return {c["id"] for c in ok(user.get(POOL, params={"per_page": 100, **query}))["items"]}


def aged(customer_id: int, days: float) -> None:
    """The customer's protection began ``days`` ago (an idle period of a month cannot be
    waited for); a follow-up recorded since stays where it is."""
    age_idle(customer_id, datetime.now(UTC) - timedelta(days=days))


def _age_release(customer_id: int, partner_id: int, days: float) -> None:
    """The partner's release of the customer was ``days`` ago."""
    age_release(customer_id, partner_id, datetime.now(UTC) - timedelta(days=days))


@contextmanager
def partner_type(admin: Client, code: str, **changes: Any) -> Iterator[None]:
    """While inside, partner type ``code`` has ``changes``; as it was afterwards."""
    before = next(t for t in ok(admin.get("/api/v1/partner-types")) if t["code"] == code)
    ok(admin.put(f"/api/v1/partner-types/{code}", changes))
    try:
        yield
    finally:
        ok(admin.put(f"/api/v1/partner-types/{code}", {k: before[k] for k in changes}))


# -- release, the pool and a claim ------------------------------------------------------------


def test_a_released_customer_is_in_the_pool_of_covering_partners_masked_and_claimed(
    people,
) -> None:
    customer = protected(people)
    body = customer["_body"]
    released = release(people["user_a"], customer)
    assert released["status"] == "released"

    # D and P (they cover 武昌区) see it, masked; C (长沙) does not.
    pool = ok(people["user_d"].get(POOL, params={"q": body["name"]}))["items"]
    assert [c["id"] for c in pool] == [customer["id"]]
    shown = pool[0]
    assert shown["phone"] != body["phone"] and "*" in shown["phone"]
    assert shown["contact_name"] != body["contact_name"]
    assert "released_by_partner_id" not in shown or shown["released_by_partner_id"] is None
    assert customer["id"] in pool_ids(people["user_p"], region_code=CITY)
    assert customer["id"] not in pool_ids(people["user_d"], region_code=OTHER_DISTRICT)
    assert customer["id"] not in pool_ids(people["user_c"])
    assert_problem(people["user_c"].post(f"{POOL}/{customer['id']}/claim"), 404, "not_found")
    hq_row = next(c for c in ok(people["admin"].get(POOL, params={"q": body["name"]}))["items"])
    assert hq_row["released_by_partner_id"] == people["a"]["id"]

    claimed = ok(people["user_d"].post(f"{POOL}/{customer['id']}/claim"))
    assert (claimed["status"], claimed["source"], claimed["owner_partner_id"]) == (
        "protected",
        "partner",
        people["d"]["id"],
    )
    assert claimed["protected_until"] > datetime.now(UTC).isoformat()
    assert customer["id"] not in pool_ids(people["user_p"])
    assert_problem(people["user_a"].get(f"{CUSTOMERS}/{customer['id']}"), 404, "not_found")
    assert_problem(people["user_p"].post(f"{POOL}/{customer['id']}/claim"), 409, "already_claimed")
    # The customer blocks filings again, now for D.
    assert_problem(people["user_p"].post(CUSTOMERS, body), 409, "filing_conflict")


def test_the_claimer_is_told_the_releaser_is_not_told_who_took_it(people) -> None:
    customer = protected(people)
    release(people["user_a"], customer)
    ok(people["user_d"].post(f"{POOL}/{customer['id']}/claim"))

    def claimed_message() -> Any:
        items = ok(
            people["user_d"].get("/api/v1/notifications", params={"kind": "customer_claimed"})
        )["items"]
        return [m for m in items if customer["_body"]["name"] in m["title"]]

    wait_for(claimed_message, what="the claimer's message")
    seen = ok(people["user_a"].get("/api/v1/notifications", params={"per_page": 100}))["items"]
    assert not [m for m in seen if m["kind"] == "customer_claimed"]


def test_the_releaser_waits_for_its_cooldown(people) -> None:
    customer = protected(people)
    release(people["user_a"], customer)
    assert_problem(people["user_a"].post(f"{POOL}/{customer['id']}/claim"), 409, "cooldown")
    _age_release(customer["id"], people["a"]["id"], 31)
    again = ok(people["user_a"].post(f"{POOL}/{customer['id']}/claim"))
    assert again["owner_partner_id"] == people["a"]["id"]


def test_a_partner_at_its_cap_cannot_claim(people) -> None:
    customer = protected(people)
    release(people["user_a"], customer)
    protected(people, "p")  # P holds one customer
    with graded(people["admin"], people["p"], 1):
        assert_problem(
            people["user_p"].post(f"{POOL}/{customer['id']}/claim"), 409, "claim_limit_reached"
        )
    claimed = ok(people["user_p"].post(f"{POOL}/{customer['id']}/claim"))
    assert claimed["owner_partner_id"] == people["p"]["id"]


def test_of_two_claims_at_once_one_wins_and_the_other_gets_409(people) -> None:
    for _ in range(3):
        customer = protected(people)
        release(people["user_a"], customer)
        path = f"{POOL}/{customer['id']}/claim"
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda u, p=path: people[u].post(p), ["user_d", "user_p"]))
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        loser = next(a for a in answers if a.status_code == 409)
        assert loser.json()["code"] == "already_claimed"
        winner = next(a for a in answers if a.status_code == 200).json()
        owner = ok(people["admin"].get(f"{CUSTOMERS}/{customer['id']}"))["owner_partner_id"]
        assert owner == winner["owner_partner_id"]


def test_release_needs_a_visible_reason_and_is_the_owners_only(people) -> None:
    customer = protected(people)
    path = f"{CUSTOMERS}/{customer['id']}/release"
    for reason in ("", "   ", "不要\u200b了", "x" * 501):
        assert_problem(people["user_a"].post(path, {"reason": reason}), 422, "invalid_input")
    assert_problem(people["user_d"].post(path, {"reason": "想要"}), 404, "not_found")
    assert_problem(
        people["user_a"].post(f"{CUSTOMERS}/999999999/release", {"reason": "x"}), 404, "not_found"
    )
    assert ok(people["user_a"].get(f"{CUSTOMERS}/{customer['id']}"))["status"] == "protected"


# -- follow-ups and idle release ---------------------------------------------------------------


def test_follow_ups_are_the_owners_newest_first_and_hq_reads_them(people) -> None:
    customer = protected(people)
    path = f"{CUSTOMERS}/{customer['id']}/follow-ups"
    first = ok(people["user_a"].post(path, {"kind": "visit", "body": "上门拜访，约演示"}), 201)
    second = ok(
        people["user_a"].post(
            path, {"kind": "call", "body": "电话确认", "next_at": "2030-01-02T03:00:00Z"}
        ),
        201,
    )
    assert set(second) == {
        "id",
        "customer_id",
        "kind",
        "body",
        "next_at",
        "created_by",
        "created_at",
    }
    assert second["next_at"] == "2030-01-02T03:00:00Z"
    assert [f["id"] for f in ok(people["user_a"].get(path))["items"]] == [second["id"], first["id"]]
    assert ok(people["manager"].get(path))["total"] == 2
    assert_problem(people["user_d"].get(path), 404, "not_found")
    assert_problem(people["user_d"].post(path, {"kind": "call", "body": "x"}), 404, "not_found")
    assert_problem(people["manager"].post(path, {"kind": "call", "body": "x"}), 403, "forbidden")
    for bad in (
        {"kind": "dinner", "body": "x"},
        {"kind": "call", "body": ""},
        {"kind": "call", "body": "x" * 2001},
        {"kind": "call", "body": "a\u202eb"},
        {"kind": "call", "body": "x", "next_at": "tomorrow"},
    ):
        assert_problem(people["user_a"].post(path, bad), 422, "invalid_input")


def test_an_idle_customer_is_announced_then_released_and_a_follow_up_keeps_another(
    people,
) -> None:
    with partner_type(people["admin"], "city_partner", idle_release_days=30):
        idle = protected(people)
        kept = protected(people)
        aged(idle["id"], 25)

        def reminded() -> Any:
            return filing_rows(
                "SELECT payload FROM outbox WHERE event_type = 'idle_release_near'"
                " AND (payload -> 'data' ->> 'customer_id')::bigint = :id",
                id=idle["id"],
            )

        wait_for(reminded, what="the idle reminder")

        def told() -> Any:
            items = ok(
                people["user_a"].get("/api/v1/notifications", params={"kind": "idle_release_near"})
            )["items"]
            return [m for m in items if idle["_body"]["name"] in m["title"]]

        wait_for(told, what="the owner's idle reminder message")

        ok(
            people["user_a"].post(
                f"{CUSTOMERS}/{kept['id']}/follow-ups", {"kind": "visit", "body": "拜访"}
            ),
            201,
        )
        aged(kept["id"], 40)
        aged(idle["id"], 31)

        def released() -> bool:
            return ok(people["user_a"].get(f"{CUSTOMERS}/{idle['id']}"))["status"] == "released"

        wait_for(released, what="the idle release")
        assert len(reminded()) == 1  # once per idle period
        assert ok(people["user_a"].get(f"{CUSTOMERS}/{kept['id']}"))["status"] == "protected"
        assert idle["id"] in pool_ids(people["user_d"])
        assert_problem(people["user_a"].post(f"{POOL}/{idle['id']}/claim"), 409, "cooldown")
