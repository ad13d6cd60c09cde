"""Personal data at rest and in answers: a copy of the databases gives away no contact's
name, phone, e-mail or street address, and answers show them only to roles holding
``customer.pii.reveal``.

The scenario goes through the running stack as people would: HQ makes a partner with a
contact and users with e-mails and phones; a partner's sales user files a customer (with an
``Idempotency-Key``, whose answer the service keeps); HQ marketing enters a lead, which the
partner claims; notifications reach inboxes and a webhook channel. Then every table of
every service's database is read whole and searched for each of those values in clear
(before sealing, every one of them was there: in the rows, the duplicate check's phone
keys, the saved idempotent answers, the partners' events in their outbox). The run's stack
keeps its data on PostgreSQL; the same scenario runs once more on a stack of its own on
SQLite files, as ``make run`` keeps them.
"""

from __future__ import annotations

import json
import os
import uuid
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData

from services.common.db import make_engine
from services.common.registry import NAMES as SERVICES
from tests.support import infra
from tests.support.answers import ok
from tests.support.client import Client, unique
from tests.support.fake_data import mobile, uscc
from tests.support.stack import Stack
from tests.support.waiting import wait_for
from tests.support.world import ADMIN_PASSWORD, World

API = "/api/v1"
REGION = "520102"  # 贵阳市南明区, used by no other test
CITY = "520100"


def _contact() -> str:
    # Contact names the scenario alone uses, so that a hit is ours.
    return f"联系人{uuid.uuid4().hex[:10]}"


def _street() -> str:
    return f"遵义路{uuid.uuid4().hex[:8]}号"


def dump_databases(environment: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Every row of every table of every service's database (``<SERVICE>_DATABASE_URL`` of
    ``environment``), as text, by service."""
    dumped: dict[str, str] = {}
    for service in SERVICES:
        engine = make_engine(environment[f"{service.upper()}_DATABASE_URL"])
        metadata = MetaData()
        with warnings.catch_warnings():
            # SQLite does not reflect expression indexes (lower(code)); the rows are read.
            warnings.filterwarnings("ignore", ".*expression-based index")
            metadata.reflect(engine)
        parts: list[str] = []
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                # as stored: no column type reads (or fails to read) a value on the way
                for row in connection.exec_driver_sql(f'SELECT * FROM "{table.name}"'):
                    parts.append(
                        f"{table.name}: " + json.dumps(list(row), ensure_ascii=False, default=str)
                    )
        engine.dispose()
        dumped[service] = "\n".join(parts)
    return dumped


def found_in(dumped: dict[str, str], values: dict[str, str]) -> list[str]:
    """Which ``values`` (what, value) appear in clear, and where (service and table)."""
    hits = []
    for what, value in values.items():
        for service, text in dumped.items():
            for line in text.splitlines():
                if value in line:
                    hits.append(f"{what} ({value}) in {service}.{line.split(':', 1)[0]}")
    return hits


def run_scenario(admin: Client, anonymous: Client) -> dict[str, Any]:
    """The scenario through the API; what it made, its clients, and the values to look for."""
    world = World(admin, anonymous)
    values: dict[str, str] = {}

    partner_contact, partner_phone = _contact(), mobile()
    partner_email = f"{unique('pc')}@pii-partner.example"
    partner = world.partner(
        [CITY],
        contact_name=partner_contact,
        contact_phone=partner_phone,
        contact_email=partner_email,
    )
    values |= {
        "partner contact name": partner_contact,
        "partner contact phone": partner_phone,
        "partner contact e-mail": partner_email,
    }

    def user(partner_id: int | None, role: str) -> tuple[dict, Client]:
        email, phone = f"{unique('u')}@pii-user.example", mobile()
        body = {
            "username": unique("pii"),
            "password": "secret-pass-1",
            "display_name": "测试用户",
            "email": email,
            "phone": phone,
            "partner_id": partner_id,
            "roles": [role],
        }
        created = ok(admin.post(f"{API}/users", body), 201)
        values[f"{role} e-mail"] = email
        values[f"{role} phone"] = phone
        return created, world.login(created)

    _, sales = user(partner["id"], "partner_sales")
    _, marketing = user(None, "marketing")
    _, finance = user(None, "finance")
    _, channel_manager = user(None, "channel_manager")

    # A webhook channel of the partner's sales user: deliveries are stored for it.
    ok(
        sales.post(
            f"{API}/notification-channels",
            {"kind": "webhook", "target": "http://127.0.0.1:9/pii", "events": ["lead_assigned"]},
        ),
        201,
    )

    customer_contact, customer_phone, customer_street = _contact(), mobile(), _street()
    customer = ok(
        sales.post(
            f"{API}/customers",
            {
                "name": f"贵阳{unique('pii')}科技有限公司",
                "uscc": uscc("520102"),
                "contact_name": customer_contact,
                "phone": customer_phone,
                "address": f"贵州省贵阳市南明区{customer_street}",
                "region_code": REGION,
            },
            headers={"Idempotency-Key": unique("pii-file")},
        ),
        201,
    )
    values |= {
        "customer contact name": customer_contact,
        "customer phone": customer_phone,
        "customer street": customer_street,
    }

    lead_contact, lead_phone, lead_street = _contact(), mobile(), _street()
    lead = ok(
        admin.post(
            f"{API}/leads",
            {
                "name": f"贵阳{unique('lead')}贸易有限公司",
                "contact_name": lead_contact,
                "phone": lead_phone,
                "address": f"贵州省贵阳市南明区{lead_street}",
                "region_code": REGION,
            },
            headers={"Idempotency-Key": unique("pii-lead")},
        ),
        201,
    )
    values |= {
        "lead contact name": lead_contact,
        "lead phone": lead_phone,
        "lead street": lead_street,
    }
    assert lead["assigned_partner_id"] == partner["id"], lead
    claimed = ok(
        sales.post(f"{API}/leads/{lead['id']}/claim", headers={"Idempotency-Key": unique("c")})
    )

    # the notifications of the lead reach the sales user's inbox and channel
    wait_for(
        lambda: ok(sales.get(f"{API}/notifications", params={"per_page": 100}))["total"],
        what="a notification in the sales user's inbox",
    )
    return {
        "values": values,
        "customer": customer,
        "claimed": claimed,
        "lead": lead,
        "sales": sales,
        "marketing": marketing,
        "finance": finance,
        "channel_manager": channel_manager,
        "admin": admin,
        "partner": partner,
    }


@pytest.fixture(scope="module")
def scenario(admin: Client, anonymous: Client) -> dict[str, Any]:
    return run_scenario(admin, anonymous)


def assert_nothing_in_clear(dumped: dict[str, str], scenario: dict[str, Any]) -> None:
    values = scenario["values"]
    # the scenario's rows are there (its customer's id, say): the dump is not empty
    assert any(scenario["customer"]["name"] in text for text in dumped.values())
    assert found_in(dumped, values) == []
    # nor a phone's digits anywhere, in any spelling the service might have normalised to
    for what, value in values.items():
        if "phone" in what:
            assert found_in(dumped, {what: value[-8:]}) == [], what


def test_no_personal_value_is_stored_in_clear_in_any_database(scenario) -> None:
    assert_nothing_in_clear(dump_databases(), scenario)


@pytest.fixture
def sqlite_stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """Every service and the gateway on SQLite files of their own, in a vhost of their own
    (as the load tier starts ``make run``'s stack)."""
    vhost = f"prm-test-{getattr(request.config, '_prm_run', 'local')}-pii-sqlite"
    var = tmp_path / "var"
    var.mkdir()
    env = {"AMQP_URI": infra.create_vhost(vhost), "PRM_VAR_DIR": str(var)}
    env |= {f"{s.upper()}_DATABASE_URL": f"sqlite:///{var / f'{s}.db'}" for s in SERVICES}
    stack = Stack(SERVICES, tmp_path / "logs", env=env)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        infra.delete_vhost(vhost)


def test_no_personal_value_is_stored_in_clear_on_sqlite_either(sqlite_stack: Stack) -> None:
    anonymous = Client(sqlite_stack.url)
    scenario = run_scenario(anonymous.login("admin", ADMIN_PASSWORD), anonymous)
    assert_nothing_in_clear(dump_databases(sqlite_stack.env), scenario)


def test_answers_mask_personal_data_for_roles_without_the_permission(scenario) -> None:
    values = scenario["values"]
    customer_id = scenario["customer"]["id"]
    for role in ("marketing", "finance"):
        client: Client = scenario[role]
        shown = ok(client.get(f"{API}/customers/{customer_id}"))
        phone = values["customer phone"]
        assert shown["phone"] == phone[:3] + "****" + phone[-4:], role
        assert shown["contact_name"] == values["customer contact name"][0] + "*" * (
            len(values["customer contact name"]) - 1
        )
        assert shown["address"] == "贵州省贵阳市南明区****"
        # an exact phone search would unmask 138****8000 in at most 10,000 guesses
        listed = ok(client.get(f"{API}/customers", params={"q": phone}))
        assert listed["total"] == 0, "no phone search for a role that sees phones masked"
        lead = ok(client.get(f"{API}/leads/{scenario['lead']['id']}"))
        assert lead["phone"] != values["lead phone"]
        assert values["lead street"] not in json.dumps(lead, ensure_ascii=False)
        partner = ok(client.get(f"{API}/partners/{scenario['partner']['id']}"))
        assert partner["contact_phone"] != values["partner contact phone"]
        assert partner["contact_email"].endswith("***@pii-partner.example")


def test_answers_show_personal_data_to_roles_with_the_permission(scenario) -> None:
    values = scenario["values"]
    customer_id = scenario["customer"]["id"]
    for role in ("admin", "channel_manager", "sales"):
        shown = ok(scenario[role].get(f"{API}/customers/{customer_id}"))
        assert shown["phone"] == values["customer phone"], role
        assert shown["contact_name"] == values["customer contact name"], role
        assert shown["address"].endswith(values["customer street"]), role
        found = ok(scenario[role].get(f"{API}/customers", params={"q": values["customer phone"]}))
        assert [c["id"] for c in found["items"]] == [customer_id], role
    partner = ok(scenario["admin"].get(f"{API}/partners/{scenario['partner']['id']}"))
    assert partner["contact_email"] == values["partner contact e-mail"]


def test_a_user_sees_its_own_email_and_phone(scenario) -> None:
    me = ok(scenario["marketing"].get(f"{API}/me"))
    users = ok(scenario["admin"].get(f"{API}/users/{me['id']}"))
    assert users["email"] == scenario["values"]["marketing e-mail"]
    own = ok(scenario["marketing"].get(f"{API}/users/{me['id']}"))
    assert own["email"] == scenario["values"]["marketing e-mail"]
    assert own["phone"] == scenario["values"]["marketing phone"]
