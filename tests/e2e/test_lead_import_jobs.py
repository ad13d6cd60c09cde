"""Lead imports as jobs over HTTP: ``POST /api/v1/leads/import`` answers the summary when
the import is done within its wait, else 202 with the job and its ``Location``; the job
(``GET /api/v1/leads/imports/{id}``) tells its progress; the request's
``Idempotency-Key`` is the import's id, so the same key again is the same import; a file
larger than one call carries is imported whole; partners see no import."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.support.answers import assert_problem
from tests.support.client import Client, unique
from tests.support.fake_data import company, mobile
from tests.support.filing_api import filing_rows, sole_coverage
from tests.support.waiting import wait_for
from tests.support.world import World

IMPORT = "/api/v1/leads/import"
IMPORTS = "/api/v1/leads/imports"
HEADER = ["name", "contact_name", "phone", "region_code", "address", "notes"]


@pytest.fixture(scope="module")
def world(admin: Client, anonymous: Client) -> dict[str, Any]:
    world = World(admin, anonymous)
    a = world.partner(["330100"])
    return {
        "a": a,
        "marketing": world.login(world.user(None, ["marketing"])),
        "user_a": world.partner_user(a["id"]),
    }


def csv_file(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def good_rows(count: int, region: str = "330106") -> list[list[str]]:
    return [[f"{company()}有限公司", "甲", mobile(), region, "", ""] for _ in range(count)]


def upload(client: Client, content: bytes, key: str | None = None, wait: float | None = None):
    headers = {"Idempotency-Key": key} if key else {}
    query = "" if wait is None else f"?wait={wait}"
    return client.post(
        f"{IMPORT}{query}", files={"file": ("leads.csv", content)}, headers=headers, timeout=60
    )


def leads_named(names: list[str]) -> list:
    return filing_rows(
        "SELECT name, assigned_partner_id FROM leads WHERE name = ANY(:names)", names=names
    )


def finished(client: Client, job_id: str) -> dict:
    def done() -> dict | None:
        response = client.get(f"{IMPORTS}/{job_id}")
        assert response.status_code == 200, response.text
        job = response.json()
        return job if job["status"] in ("done", "failed") else None

    return wait_for(done, timeout=60, what=f"import {job_id} finished")


def test_an_import_done_within_the_wait_answers_its_summary_under_the_key_as_its_id(
    world, admin: Client
) -> None:
    rows = good_rows(3)
    rows.append([f"{company()}有限公司", "乙", "not a phone", "330106", "", ""])
    key = unique("import-key")
    with sole_coverage(admin, ["330106"], [world["a"]]):
        response = upload(world["marketing"], csv_file(rows), key=key)
    assert response.status_code == 200, response.text
    summary = response.json()
    assert [(e["row"], sorted(e["errors"])) for e in summary["errors"]] == [(5, ["phone"])]
    assert {k: v for k, v in summary.items() if k != "errors"} == {
        "id": key,
        "created": 3,
        "assigned": 3,
        "unassigned": 0,
        "errors_total": 1,
    }
    job = world["marketing"].get(f"{IMPORTS}/{key}").json()
    assert (job["status"], job["total"], job["received"], job["done"]) == ("done", 4, 4, 4)
    assert job["finished_at"] is not None

    # The same key again: the same import, nothing created twice.
    again = upload(world["marketing"], csv_file(rows), key=key)
    assert again.status_code == 200, again.text
    assert again.json() == summary
    names = [row[0] for row in rows[:3]]
    assert sorted(row.name for row in leads_named(names)) == sorted(names)


def test_an_import_not_done_within_the_wait_answers_202_and_its_location(
    world, admin: Client
) -> None:
    rows = good_rows(20)
    with sole_coverage(admin, ["330106"], [world["a"]]):
        response = upload(world["marketing"], csv_file(rows), wait=0)
        assert response.status_code == 202, response.text
        job = response.json()
        assert job["status"] in ("queued", "running", "done")
        assert response.headers["Location"] == f"{IMPORTS}/{job['id']}"
        done = finished(world["marketing"], job["id"])
    assert (done["status"], done["created"], done["assigned"]) == ("done", 20, 20)
    listed = world["marketing"].get(f"{IMPORTS}?per_page=100").json()
    assert job["id"] in [item["id"] for item in listed["items"]]


def test_a_file_larger_than_one_call_carries_is_imported_whole(world, admin: Client) -> None:
    rows = good_rows(6_500)
    bad_at = [100, 5_200, 6_400]  # rows in the first and in the second part sent
    for index in bad_at:
        rows[index][2] = "not a phone"
    with sole_coverage(admin, ["330106"], [world["a"]]):
        response = upload(world["marketing"], csv_file(rows))
        assert response.status_code in (200, 202), response.text
        done = finished(world["marketing"], response.json()["id"])
    assert (done["status"], done["total"], done["done"]) == ("done", 6_500, 6_500)
    assert (done["created"], done["errors_total"]) == (6_500 - 3, 3)
    assert [error["row"] for error in done["errors"]] == [index + 2 for index in bad_at]
    names = [row[0] for i, row in enumerate(rows) if i not in bad_at]
    assert len(leads_named(names)) == len(names)


def test_a_partner_user_sees_no_import_and_an_unknown_id_is_not_found(world) -> None:
    key = unique("import-key")
    response = upload(world["marketing"], csv_file(good_rows(1, "110000")), key=key)
    assert response.status_code == 200, response.text
    assert_problem(world["user_a"].get(f"{IMPORTS}/{key}"), 403, "forbidden")
    assert_problem(world["user_a"].get(IMPORTS), 403, "forbidden")
    assert_problem(world["marketing"].get(f"{IMPORTS}/{unique('none')}"), 404, "not_found")


def test_a_file_that_is_not_a_sheet_is_refused_as_before(world) -> None:
    response = world["marketing"].post(IMPORT, files={"file": ("leads.xlsx", b"PK\x03\x04 junk")})
    assert_problem(response, 422, "invalid_input")
