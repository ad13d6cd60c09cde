"""The stack over HTTP: every service and the gateway as real processes.

Shared by the tiers that drive the running stack (e2e/, security/): one stack per run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.client import Client, unique
from tests.support.stack import Stack

ADMIN_PASSWORD = "hq-test-pass-2026"
PASSWORD = "secret-pass-1"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from tests.conftest import SERVICES

    # ``admin`` and the module fixtures sign in once and never refresh; a run that picks
    # e2e modules late (or a long fuzz run) outlasts the default 15 minutes of a token.
    env = {"PRM_ACCESS_TOKEN_TTL": "14400"}
    stack = Stack(SERVICES, Path(tmp_path_factory.mktemp("stack-logs")), env=env)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def anonymous(stack: Stack) -> Client:
    return Client(stack.url)


@pytest.fixture(scope="session")
def admin(anonymous: Client) -> Client:
    return anonymous.login("admin", ADMIN_PASSWORD)


class World:
    """Partners and users made through the API, for one test."""

    def __init__(self, admin: Client, anonymous: Client) -> None:
        self.admin = admin
        self.anonymous = anonymous

    def partner(
        self,
        territory: list[str],
        type_: str = "city_partner",
        parent_id: int | None = None,
        **extra,
    ) -> dict:
        body = {
            "code": unique("P"),
            "name": f"伙伴 {unique()}",
            "type": type_,
            "territory": territory,
            "parent_id": parent_id,
            **extra,
        }
        response = self.admin.post("/api/v1/partners", body)
        assert response.status_code == 201, response.text
        return response.json()

    def user(self, partner_id: int | None, roles: list[str]) -> dict:
        body = {
            "username": unique("u"),
            "password": PASSWORD,
            "display_name": "测试用户",
            "partner_id": partner_id,
            "roles": roles,
        }
        response = self.admin.post("/api/v1/users", body)
        assert response.status_code == 201, response.text
        return response.json()

    def login(self, user: dict) -> Client:
        return self.anonymous.login(user["username"], PASSWORD)

    def partner_user(self, partner_id: int, role: str = "partner_sales") -> Client:
        return self.login(self.user(partner_id, [role]))


@pytest.fixture
def world(admin: Client, anonymous: Client) -> World:
    return World(admin, anonymous)
