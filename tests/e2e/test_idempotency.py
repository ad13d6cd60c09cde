"""``Idempotency-Key`` over HTTP: a client that got no answer sends the same request again
with the same key and gets the first answer, never a second lead, customer or approval;
the key is the caller's own, bound to its request, and a request that failed keeps
nothing under it."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.support.answers import assert_problem
from tests.support.client import Client
from tests.support.fake_data import company, mobile
from tests.support.filing_api import CUSTOMERS, FILINGS, LEADS, customer_body
from tests.support.world import World


@pytest.fixture(scope="module")
def people(admin: Client, anonymous: Client) -> dict[str, Any]:
    """Two HQ channel managers, and two partners of 杭州 with a sales user each."""
    world = World(admin, anonymous)
    a = world.partner(["330100"])
    b = world.partner(["330100"])
    return {
        "hq": world.login(world.user(None, ["channel_manager"])),
        "hq2": world.login(world.user(None, ["channel_manager"])),
        "a": world.partner_user(a["id"]),
        "b": world.partner_user(b["id"]),
    }


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def lead_body() -> dict:
    return {"name": f"{company()}线索有限公司", "contact_name": "李总", "phone": mobile()}


def leads_named(client: Client, name: str) -> list[dict]:
    response = client.get(LEADS, params={"q": name})
    assert response.status_code == 200, response.text
    return [lead for lead in response.json()["items"] if lead["name"] == name]


def test_a_lead_sent_again_with_its_key_is_created_once(people) -> None:
    body, headers = lead_body(), key()
    first = people["hq"].post(LEADS, body, headers=headers)
    again = people["hq"].post(LEADS, body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json()
    assert [lead["id"] for lead in leads_named(people["hq"], body["name"])] == [first.json()["id"]]


def test_copies_sent_at_once_with_one_key_make_one_lead(people) -> None:
    body, headers = lead_body(), key()
    with ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(lambda _: people["hq"].post(LEADS, body, headers=headers), range(6))
        )
    assert {answer.status_code for answer in answers} == {201}, [a.text for a in answers]
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert len(leads_named(people["hq"], body["name"])) == 1


def test_without_a_key_the_same_lead_sent_twice_is_made_twice(people) -> None:
    """What the key is for: the server cannot tell a retry from a second lead."""
    body = lead_body()
    assert people["hq"].post(LEADS, body).status_code == 201
    assert people["hq"].post(LEADS, body).status_code == 201
    assert len(leads_named(people["hq"], body["name"])) == 2


def test_a_key_used_again_for_another_request_is_refused(people) -> None:
    headers = key()
    first, other = lead_body(), lead_body()
    assert people["hq"].post(LEADS, first, headers=headers).status_code == 201
    refused = people["hq"].post(LEADS, other, headers=headers)
    assert_problem(refused, 422, "idempotency_key_reused")
    assert leads_named(people["hq"], other["name"]) == []


def test_a_key_is_the_callers_own(people) -> None:
    """Another user sending the same key makes their own lead; another partner's user
    filing with the same key files their own customer and learns nothing of the first."""
    headers = key()
    mine, theirs = lead_body(), lead_body()
    first = people["hq"].post(LEADS, mine, headers=headers)
    second = people["hq2"].post(LEADS, theirs, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert second.json()["id"] != first.json()["id"]
    assert second.json()["name"] == theirs["name"]

    headers = key()
    filed_a = people["a"].post(CUSTOMERS, customer_body(), headers=headers)
    b_body = customer_body()
    filed_b = people["b"].post(CUSTOMERS, b_body, headers=headers)
    assert (filed_a.status_code, filed_b.status_code) == (201, 201), filed_b.text
    assert filed_b.json()["name"] == b_body["name"]
    assert filed_a.json()["name"] not in filed_b.text
    assert people["b"].get(f"{CUSTOMERS}/{filed_a.json()['id']}").status_code == 404


def test_an_approval_sent_again_with_its_key_gets_the_first_answer(people) -> None:
    customer = people["a"].post(CUSTOMERS, customer_body()).json()
    path, headers = f"{FILINGS}/{customer['filing']['id']}/approve", key()
    first = people["hq"].post(path, {"comment": "同意"}, headers=headers)
    again = people["hq"].post(path, {"comment": "同意"}, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200), again.text
    assert again.json() == first.json()
    assert first.json()["status"] == "approved"
    # A new approval (no key, or a new one) is one too many.
    assert_problem(people["hq"].post(path, {"comment": "同意"}), 409, "invalid_state")
    assert_problem(
        people["hq"].post(path, {"comment": "同意"}, headers=key()), 409, "invalid_state"
    )


def test_a_request_that_failed_keeps_nothing_under_its_key(people) -> None:
    headers = key()
    outside = people["a"].post(CUSTOMERS, customer_body("320102"), headers=headers)
    assert_problem(outside, 422, "region_not_in_territory")
    # Mended and sent again with the same key: it is made now.
    mended = people["a"].post(CUSTOMERS, customer_body(), headers=headers)
    assert mended.status_code == 201, mended.text


@pytest.mark.parametrize("bad", ["has space", "x" * 201, ""])
def test_a_malformed_key_is_refused_before_anything_is_made(people, bad) -> None:
    body = lead_body()
    refused = people["hq"].post(LEADS, body, headers={"Idempotency-Key": bad})
    problem = assert_problem(refused, 422, "invalid_input")
    assert "Idempotency-Key" in problem["errors"], problem
    assert leads_named(people["hq"], body["name"]) == []
