"""Partners and users made through the API, and the passwords the tests sign in with."""

from __future__ import annotations

from tests.support.client import Client, unique

#: The HQ admin's password (``PRM_ADMIN_PASSWORD`` of the test run).
ADMIN_PASSWORD = "hq-test-pass-2026"
#: Every user a test makes has this password.
PASSWORD = "secret-pass-1"


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


def sign_in(anonymous: Client, username: str, password: str = PASSWORD) -> dict:
    """The tokens of a successful sign-in (200) of ``username``."""
    response = anonymous.post("/api/v1/auth/login", {"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def permissions_of(client: Client) -> set[str]:
    """The permissions the signed-in user of ``client`` holds (``/me``)."""
    response = client.get("/api/v1/me")
    assert response.status_code == 200, response.text
    return set(response.json()["permissions"])
