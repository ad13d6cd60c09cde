"""Gateway rules every route keeps: who may call is decided before what was sent."""

from tests.support.client import Client
from tests.support.world import World


def test_partner_user_posting_an_invalid_body_to_an_hq_route_gets_403_not_422(
    world: World,
) -> None:
    partner = world.partner(["330100"])
    sales = world.partner_user(partner["id"], "partner_sales")
    response = sales.post("/api/v1/partners", {"bogus": 1})
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_anonymous_invalid_body_gets_401_not_422(anonymous: Client) -> None:
    response = anonymous.post("/api/v1/partners", {"bogus": 1})
    assert response.status_code == 401


def test_unknown_query_parameter_is_refused_like_an_unknown_body_field(admin: Client) -> None:
    response = admin.get("/api/v1/partners?stauts=suspended")
    assert response.status_code == 422
    assert "stauts" in response.json()["errors"]


def test_an_id_beyond_bigint_is_404_on_every_service(admin: Client) -> None:
    huge = 2**63
    for path in ("partners", "users", "customers", "leads", "orders", "products"):
        response = admin.get(f"/api/v1/{path}/{huge}")
        assert response.status_code == 404, (path, response.text)
        assert response.json()["code"] == "not_found"
