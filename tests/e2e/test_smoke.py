from tests.support.client import Client


def test_admin_signs_in_and_sees_itself(admin: Client) -> None:
    response = admin.get("/api/v1/me")
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "admin"
    assert body["partner_id"] is None
    assert "partner.manage" in body["permissions"]
