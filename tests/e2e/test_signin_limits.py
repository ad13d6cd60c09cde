"""Sign-in is slowed down after repeated failures, without locking the user out for good
(the back-off rule: tests/unit/test_signin_backoff.py; attacks: tests/security/test_signin.py)."""

from tests.support.world import PASSWORD, World


def test_after_five_failures_in_a_row_the_account_waits_there_with_retry_after(
    world: World,
) -> None:
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
