"""Sign-in is slowed down after repeated failures, without locking the user out for good."""

from tests.e2e.conftest import PASSWORD, World


def test_sixth_failed_sign_in_in_a_row_gets_429_with_retry_after(world: World) -> None:
    user = world.user(None, ["marketing"])
    wrong = {"username": user["username"], "password": "not-the-password"}
    for _ in range(5):
        assert world.anonymous.post("/api/v1/auth/login", wrong).status_code == 401
    response = world.anonymous.post(
        "/api/v1/auth/login", {"username": user["username"], "password": PASSWORD}
    )
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_requests"
    assert int(response.headers["Retry-After"]) > 0
